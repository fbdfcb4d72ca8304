//! ABI v1's rules for a module's exports, on a description that both a compiled module (at load)
//! and a validated one (when packaging, which does not compile) give: one set of rules and
//! messages for both.

use anyhow::bail;
use edgefn_abi::{ABI_VERSION, ALLOC_EXPORT, EXPORT_PREFIX, HANDLE_EXPORT, INIT_EXPORT};

/// A value type, as far as the rules tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    I32,
    I64,
    Other,
}

/// What one export is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExportShape {
    Func {
        params: Vec<Scalar>,
        results: Vec<Scalar>,
    },
    Memory {
        /// 32-bit and unshared.
        plain: bool,
        /// Its declared initial size.
        initial_bytes: u64,
    },
    Other,
}

/// Checks that `exports` (name and shape, in the module's order) are an edgefn ABI v1 module's,
/// with at most `memory_cap` bytes of initial memory. Errors name the function and say what was
/// expected.
pub(crate) fn check_exports(
    name: &str,
    exports: &[(&str, ExportShape)],
    memory_cap: u64,
) -> anyhow::Result<()> {
    let export = |wanted: &str| {
        exports
            .iter()
            .find_map(|(n, shape)| (*n == wanted).then_some(shape))
    };
    // A command whose runtime only starts in _start (Go without -buildmode=c-shared) would export
    // the handler yet fail every request; refuse it here, with the fix.
    if export("_start").is_some() {
        bail!(
            "function {name:?} is a WASI command (it exports _start), not an edgefn function: build it as a library (Rust: crate-type = [\"cdylib\"]; Go: -buildmode=c-shared) and export the handler with the SDK"
        );
    }
    if export(HANDLE_EXPORT).is_none() {
        let other_version = exports
            .iter()
            .filter_map(|(n, _)| n.strip_prefix(EXPORT_PREFIX)?.split('_').next())
            .find(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
        if let Some(version) = other_version {
            bail!(
                "function {name:?} speaks edgefn ABI v{version}, but this host supports ABI v{ABI_VERSION}: rebuild it against an SDK for v{ABI_VERSION} or upgrade edgefn"
            );
        }
        bail!(
            "function {name:?} does not export {HANDLE_EXPORT}: it is not an edgefn ABI v{ABI_VERSION} module (export the handler with edgefn::export!)"
        );
    }
    use Scalar::{I32, I64};
    for (wanted, want_params, want_results, shown) in [
        (
            HANDLE_EXPORT,
            &[I32, I32][..],
            &[I64][..],
            "(func (param i32 i32) (result i64))",
        ),
        (
            ALLOC_EXPORT,
            &[I32][..],
            &[I32][..],
            "(func (param i32) (result i32))",
        ),
    ] {
        match export(wanted) {
            Some(ExportShape::Func { params, results })
                if params == want_params && results == want_results => {}
            Some(_) => {
                bail!("function {name:?}: export {wanted} has the wrong type; ABI v1 wants {shown}")
            }
            None => bail!("function {name:?}: export {wanted} is missing; ABI v1 wants {shown}"),
        }
    }
    match export("memory") {
        Some(ExportShape::Memory { plain: false, .. }) => {
            bail!("function {name:?}: its memory must be a plain 32-bit, unshared memory")
        }
        Some(&ExportShape::Memory { initial_bytes, .. }) if initial_bytes > memory_cap => bail!(
            "function {name:?} declares {} MiB of initial memory, more than its limit of {} MiB: raise limits.memory_mb or shrink the module",
            initial_bytes >> 20,
            memory_cap >> 20
        ),
        Some(ExportShape::Memory { .. }) => {}
        _ => bail!("function {name:?} does not export its linear memory as \"memory\""),
    }
    for constructor in ["_initialize", INIT_EXPORT] {
        if let Some(ExportShape::Func { params, results }) = export(constructor)
            && (!params.is_empty() || !results.is_empty())
        {
            bail!("function {name:?}: {constructor} must take and return nothing");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn func(params: &[Scalar], results: &[Scalar]) -> ExportShape {
        ExportShape::Func {
            params: params.to_vec(),
            results: results.to_vec(),
        }
    }

    fn module(extra: &[(&'static str, ExportShape)]) -> Vec<(&'static str, ExportShape)> {
        use Scalar::{I32, I64};
        let mut exports = vec![
            (HANDLE_EXPORT, func(&[I32, I32], &[I64])),
            (ALLOC_EXPORT, func(&[I32], &[I32])),
            (
                "memory",
                ExportShape::Memory {
                    plain: true,
                    initial_bytes: 1 << 20,
                },
            ),
        ];
        exports.extend(extra.iter().cloned());
        exports
    }

    fn error(exports: &[(&str, ExportShape)]) -> String {
        check_exports("f", exports, 16 << 20)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_complete_module_passes() {
        check_exports("f", &module(&[("_initialize", func(&[], &[]))]), 16 << 20).unwrap();
    }

    #[test]
    fn each_rule_refuses_with_its_message() {
        assert!(error(&module(&[("_start", func(&[], &[]))])).contains("WASI command"));
        let v2 = [("edgefn_v2_handle", func(&[], &[]))];
        assert!(error(&v2).contains("speaks edgefn ABI v2"));
        assert!(error(&[]).contains("does not export edgefn_v1_handle"));
        let mut wrong = module(&[]);
        wrong[0].1 = func(&[Scalar::I32], &[Scalar::I64]);
        assert!(error(&wrong).contains("export edgefn_v1_handle has the wrong type"));
        wrong = module(&[]);
        wrong.remove(1);
        assert!(error(&wrong).contains("export edgefn_v1_alloc is missing"));
        wrong = module(&[]);
        wrong[2].1 = ExportShape::Memory {
            plain: false,
            initial_bytes: 0,
        };
        assert!(error(&wrong).contains("plain 32-bit"));
        wrong[2].1 = ExportShape::Memory {
            plain: true,
            initial_bytes: 32 << 20,
        };
        assert!(error(&wrong).contains("declares 32 MiB of initial memory"));
        wrong[2].1 = ExportShape::Other;
        assert!(error(&wrong).contains("does not export its linear memory"));
        let bad_init = module(&[(INIT_EXPORT, func(&[Scalar::I32], &[]))]);
        assert!(error(&bad_init).contains("edgefn_v1_init must take and return nothing"));
    }
}
