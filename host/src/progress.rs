//! Progress of long work (building, precompiling, packaging), announced on stderr so stdout keeps
//! only results. A leaf module: the packagers and the CLI commands both report through it.

/// Announces a step of long work.
pub(crate) fn step(message: impl std::fmt::Display) {
    eprintln!("==> {message}");
}
