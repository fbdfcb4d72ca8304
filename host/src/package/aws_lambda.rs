//! Placeholder: replaced by the adapter's real packager.

use super::{PackageReport, PackageRequest};

/// Packages the function.
pub fn package(_request: &PackageRequest) -> anyhow::Result<PackageReport> {
    anyhow::bail!("this package target is not built yet")
}
