//! The commands of the `edgefn` binary: `new`, `build`, `invoke`, `serve` (with `--watch`),
//! `package` and `kv`. Each lives in its own module with a `clap::Args` struct and a `run`
//! function, so the CLI only dispatches to them; the helpers here are what several of them print
//! with.

use std::path::{Path, PathBuf};

pub(crate) mod build;
pub(crate) mod invoke;
pub(crate) mod kv;
pub(crate) mod new;
pub(crate) mod package;
pub(crate) mod project;
pub(crate) mod serve;
pub(crate) mod watch;

/// How many folders above the running binary to look for the edgefn checkout it was built from
/// (`target/release/edgefn` is two below it).
const CHECKOUT_SEARCH_DEPTH: usize = 4;

/// A file of the edgefn checkout the running binary was built in (`sdk/rust`, `scripts/go.sh`):
/// found by walking up from the binary, so `target/release/edgefn` finds `../../sdk/rust`.
pub(crate) fn checkout_path(relative: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    exe.ancestors()
        .skip(1)
        .take(CHECKOUT_SEARCH_DEPTH)
        .map(|dir| dir.join(relative))
        .find(|candidate| candidate.exists())
}

/// How to run this binary in a printed command: `edgefn` when that is what `PATH` finds, else its
/// full path, so every command we suggest can be pasted as is.
pub(crate) fn self_command() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return "edgefn".to_owned();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("edgefn"))
            .any(|candidate| candidate.canonicalize().is_ok_and(|c| c == exe))
    });
    if on_path {
        "edgefn".to_owned()
    } else {
        exe.display().to_string()
    }
}

pub(crate) use crate::progress::step;

/// A path as the user would type it: relative to the current folder when it is below it.
pub(crate) fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    match relative {
        Some(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    }
}

/// Bytes in the unit a person reads them in (`131.2 KiB`).
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_the_unit() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(134_348), "131.2 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }
}
