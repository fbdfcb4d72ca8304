//! Placeholder: replaced by the adapter.

/// Command-line options of the adapter.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the adapter until the platform stops it.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("this platform adapter is not built yet")
}
