//! `edgefn new NAME`: a function project that builds and passes its own unit test right away.
//!
//! The templates are real files under `host/templates/`, embedded in the binary. The SDK is not
//! published, so the project depends on the SDK of the edgefn checkout by path: found next to the
//! running binary, or given with `--sdk` / `EDGEFN_SDK`.

use super::project::{Language, MANIFEST_FILE};
use super::{checkout_path, display_path, self_command};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

/// Arguments of `edgefn new`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The function's name: also the crate or module name and its route (`/NAME`).
    pub name: String,
    /// Language of the project.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Language,
    /// Folder to create [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The SDK to depend on: `sdk/rust` (or `sdk/go`) of an edgefn checkout, or the checkout
    /// itself [default: the checkout this binary was built in].
    #[arg(long, value_name = "PATH", env = "EDGEFN_SDK")]
    pub sdk: Option<PathBuf>,
}

/// A template file: where it goes in the project and its text (`{{name}}` and `{{sdk}}` are
/// filled in).
struct TemplateFile {
    path: &'static str,
    text: &'static str,
}

const RUST_TEMPLATE: &[TemplateFile] = &[
    TemplateFile {
        path: "Cargo.toml",
        text: include_str!("../../../templates/rust/Cargo.toml.tmpl"),
    },
    TemplateFile {
        path: "src/lib.rs",
        text: include_str!("../../../templates/rust/src/lib.rs"),
    },
    TemplateFile {
        path: MANIFEST_FILE,
        text: include_str!("../../../templates/rust/edgefn.toml.tmpl"),
    },
    TemplateFile {
        path: ".gitignore",
        text: include_str!("../../../templates/rust/gitignore"),
    },
];

const GO_TEMPLATE: &[TemplateFile] = &[
    TemplateFile {
        path: "go.mod",
        text: include_str!("../../../templates/go/go.mod.tmpl"),
    },
    TemplateFile {
        path: "main.go",
        text: include_str!("../../../templates/go/main.go"),
    },
    TemplateFile {
        path: "main_test.go",
        text: include_str!("../../../templates/go/main_test.go"),
    },
    TemplateFile {
        path: MANIFEST_FILE,
        text: include_str!("../../../templates/go/edgefn.toml.tmpl"),
    },
    TemplateFile {
        path: ".gitignore",
        text: include_str!("../../../templates/go/gitignore"),
    },
];

/// Creates the project.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    validate_name(&args.name)?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} already exists and is not empty: pick another name, or another folder with --path",
            dir.display()
        );
    }
    let sdk = find_sdk(args.lang, args.sdk.as_deref())?;
    let (files, sdk_value) = match args.lang {
        Language::Rust => (RUST_TEMPLATE, toml_string(&sdk)),
        Language::Go => (GO_TEMPLATE, go_mod_path(&sdk)),
    };
    for file in files {
        let path = dir.join(file.path);
        std::fs::create_dir_all(path.parent().expect("template paths have a folder"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let text = file
            .text
            .replace("{{name}}", &args.name)
            .replace("{{sdk}}", &sdk_value);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_next_steps(&args, &dir, &sdk);
    Ok(())
}

/// A function name (see [`crate::runtime::spec::validate_name`]) that also starts with a letter, as a
/// Cargo package or Go module name must.
fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = crate::runtime::spec::validate_name(name).is_ok()
        && name.starts_with(|c: char| c.is_ascii_alphabetic());
    if !ok {
        bail!(
            "{name:?} cannot name a function: use up to 64 ASCII letters, digits, '-' or '_', starting with a letter (e.g. edgefn new greet)"
        );
    }
    Ok(())
}

/// The SDK folder for `lang`: the given path (an SDK folder, or a checkout containing one), else
/// the checkout this binary was built in.
fn find_sdk(lang: Language, given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let (relative, marker) = match lang {
        Language::Rust => ("sdk/rust", "Cargo.toml"),
        Language::Go => ("sdk/go", "go.mod"),
    };
    let is_sdk = |dir: &Path| {
        std::fs::read_to_string(dir.join(marker)).is_ok_and(|text| match lang {
            Language::Rust => text.contains("name = \"edgefn\""),
            Language::Go => text.contains("module edgefn.dev/sdk/go/edgefn"),
        })
    };
    let found = match given {
        Some(path) => [path.to_owned(), path.join(relative)]
            .into_iter()
            .find(|dir| is_sdk(dir))
            .with_context(|| {
                format!(
                    "{} is not the edgefn {} SDK: give the {relative} folder of an edgefn checkout (or the checkout itself)",
                    path.display(),
                    lang.as_str()
                )
            })?,
        None => checkout_path(relative).filter(|dir| is_sdk(dir)).with_context(|| {
            format!(
                "cannot find the edgefn {} SDK next to this edgefn binary: pass --sdk PATH/TO/edgefn/{relative} (or set EDGEFN_SDK)",
                lang.as_str()
            )
        })?,
    };
    found
        .canonicalize()
        .with_context(|| format!("cannot open {}", found.display()))
}

/// A path as a TOML basic string.
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// A path as `go.mod` accepts it: bare, or quoted when it has spaces or quotes.
fn go_mod_path(path: &Path) -> String {
    let text = path.display().to_string();
    if text.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        format!("{text:?}")
    } else {
        text
    }
}

fn print_next_steps(args: &Args, dir: &Path, sdk: &Path) {
    let edgefn = self_command();
    let name = &args.name;
    println!(
        "created {name} ({}) in {} using the SDK at {}",
        args.lang.as_str(),
        display_path(dir),
        sdk.display()
    );
    let test = match args.lang {
        Language::Rust => "cargo test",
        Language::Go => "go test ./...",
    };
    println!("next:");
    println!("  cd {}", display_path(dir));
    println!("  {test:<44} # the handler's unit test, natively");
    println!(
        "  {:<44} # the module, at target/edgefn/{name}.wasm",
        format!("{edgefn} build")
    );
    println!(
        "  {:<44} # one request, no server",
        format!("{edgefn} invoke target/edgefn/{name}.wasm '/{name}?name=edge'")
    );
    println!(
        "  {:<44} # http://127.0.0.1:8080/{name}, rebuilt on every save",
        format!("{edgefn} serve --watch .")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_work_as_crate_module_and_route() {
        for good in ["greet", "my-fn", "a_1"] {
            validate_name(good).unwrap();
        }
        for bad in ["", "1st", "-x", "a b", "a/b", &"x".repeat(65)] {
            let err = validate_name(bad).unwrap_err().to_string();
            assert!(err.contains("edgefn new greet"), "{err}");
        }
    }

    #[test]
    fn sdk_paths_are_quoted_for_their_files() {
        assert_eq!(toml_string(Path::new("/a b/sdk")), r#""/a b/sdk""#);
        assert_eq!(go_mod_path(Path::new("/src/sdk/go")), "/src/sdk/go");
        assert_eq!(go_mod_path(Path::new("/a b/go")), r#""/a b/go""#);
    }

    #[test]
    fn templates_fill_every_placeholder() {
        for file in RUST_TEMPLATE.iter().chain(GO_TEMPLATE) {
            let filled = file
                .text
                .replace("{{name}}", "x")
                .replace("{{sdk}}", "\"/s\"");
            assert!(!filled.contains("{{"), "{} keeps a placeholder", file.path);
        }
    }
}
