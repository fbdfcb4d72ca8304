//! `edgefn new NAME`: a function project that builds and passes its own unit test right away.
//!
//! The templates are real files under `host/templates/`, embedded in the binary: per language the
//! SDK's own handler style, and a framework's (`--template axum`, `--template net-http`). The SDK is
//! not published, so the project depends on the SDK of the edgefn checkout by path: found next to
//! the running binary, or given with `--sdk` / `EDGEFN_SDK`.

use super::project::{Language, MANIFEST_FILE};
use super::{checkout_path, display_path, self_command};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

/// Arguments of `edgefn new`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The function's name: also the crate or module name and its route (`/NAME`).
    pub name: String,
    /// Language of the project [default: rust, or the template's].
    #[arg(long, value_enum)]
    pub lang: Option<Language>,
    /// What the project starts from: the SDK's own handler (`default`), an axum `Router`
    /// (`axum`, Rust) or a net/http `http.Handler` (`net-http`, Go).
    #[arg(long, value_enum, value_name = "NAME", default_value = "default")]
    pub template: TemplateName,
    /// Folder to create [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The SDK to depend on: `sdk/rust` (or `sdk/go`) of an edgefn checkout, or the checkout
    /// itself [default: the checkout this binary was built in].
    #[arg(long, value_name = "PATH", env = "EDGEFN_SDK")]
    pub sdk: Option<PathBuf>,
}

/// The `--template` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TemplateName {
    /// The SDK's own handler, in the project's language.
    Default,
    /// An axum `Router` served through `edgefn-tower` (Rust).
    Axum,
    /// A net/http `http.Handler` served through the Go SDK's `nethttp` (Go).
    NetHttp,
}

/// One embedded template: a folder of `host/templates/`.
struct Template {
    name: TemplateName,
    language: Language,
    /// Its folder under `host/templates/`.
    #[cfg_attr(
        not(test),
        allow(
            dead_code,
            reason = "the tests check the embedded files against this folder"
        )
    )]
    dir: &'static str,
    files: &'static [TemplateFile],
    /// The request the printed `invoke` suggestion makes (`{{name}}` filled in).
    example_path: &'static str,
}

/// A template file: where it goes in the project and its text (`{{name}}`, `{{sdk}}` and, for
/// templates that use the tower adapter, `{{sdk_tower}}` are filled in).
struct TemplateFile {
    path: &'static str,
    text: &'static str,
}

/// Every template `edgefn new` can write; `template_folders_are_all_embedded` keeps this list
/// and `host/templates/` the same.
const TEMPLATES: &[Template] = &[
    Template {
        name: TemplateName::Default,
        language: Language::Rust,
        dir: "rust",
        files: RUST_TEMPLATE,
        example_path: "/{{name}}?name=edge",
    },
    Template {
        name: TemplateName::Default,
        language: Language::Go,
        dir: "go",
        files: GO_TEMPLATE,
        example_path: "/{{name}}?name=edge",
    },
    Template {
        name: TemplateName::Axum,
        language: Language::Rust,
        dir: "rust-axum",
        files: RUST_AXUM_TEMPLATE,
        example_path: "/{{name}}/hello/edge",
    },
    Template {
        name: TemplateName::NetHttp,
        language: Language::Go,
        dir: "go-net-http",
        files: GO_NET_HTTP_TEMPLATE,
        example_path: "/{{name}}?name=edge",
    },
];

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

const RUST_AXUM_TEMPLATE: &[TemplateFile] = &[
    TemplateFile {
        path: "Cargo.toml",
        text: include_str!("../../../templates/rust-axum/Cargo.toml.tmpl"),
    },
    TemplateFile {
        path: "src/lib.rs",
        text: include_str!("../../../templates/rust-axum/src/lib.rs"),
    },
    TemplateFile {
        path: MANIFEST_FILE,
        text: include_str!("../../../templates/rust-axum/edgefn.toml.tmpl"),
    },
    TemplateFile {
        path: ".gitignore",
        text: include_str!("../../../templates/rust-axum/gitignore"),
    },
];

const GO_NET_HTTP_TEMPLATE: &[TemplateFile] = &[
    TemplateFile {
        path: "go.mod",
        text: include_str!("../../../templates/go-net-http/go.mod.tmpl"),
    },
    TemplateFile {
        path: "main.go",
        text: include_str!("../../../templates/go-net-http/main.go"),
    },
    TemplateFile {
        path: "main_test.go",
        text: include_str!("../../../templates/go-net-http/main_test.go"),
    },
    TemplateFile {
        path: MANIFEST_FILE,
        text: include_str!("../../../templates/go-net-http/edgefn.toml.tmpl"),
    },
    TemplateFile {
        path: ".gitignore",
        text: include_str!("../../../templates/go-net-http/gitignore"),
    },
];

/// The template for `--template name` in `lang` (given, or the template's own).
fn choose(name: TemplateName, lang: Option<Language>) -> anyhow::Result<&'static Template> {
    let lang = lang.unwrap_or_else(|| {
        TEMPLATES
            .iter()
            .find(|t| t.name == name)
            .map_or(Language::Rust, |t| t.language)
    });
    if let Some(template) = TEMPLATES
        .iter()
        .find(|t| t.name == name && t.language == lang)
    {
        return Ok(template);
    }
    let for_lang: Vec<&str> = TEMPLATES
        .iter()
        .filter(|t| t.language == lang)
        .map(|t| template_label(t.name))
        .collect();
    bail!(
        "there is no {} template for {}: pick one of {}, or leave out --lang",
        template_label(name),
        lang.as_str(),
        for_lang.join(", ")
    )
}

/// A template's `--template` value.
fn template_label(name: TemplateName) -> &'static str {
    match name {
        TemplateName::Default => "default",
        TemplateName::Axum => "axum",
        TemplateName::NetHttp => "net-http",
    }
}

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
    let template = choose(args.template, args.lang)?;
    let sdk = find_sdk(template.language, args.sdk.as_deref())?;
    let sdk_value = match template.language {
        Language::Rust => toml_string(&sdk),
        Language::Go => go_mod_path(&sdk),
    };
    let uses_tower = template
        .files
        .iter()
        .any(|file| file.text.contains("{{sdk_tower}}"));
    let tower_value = if uses_tower {
        toml_string(&find_tower(&sdk)?)
    } else {
        String::new()
    };
    for file in template.files {
        let path = dir.join(file.path);
        std::fs::create_dir_all(path.parent().expect("template paths have a folder"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let text = fill(file.text, &args.name, &sdk_value, &tower_value);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_next_steps(&args, template, &dir, &sdk);
    Ok(())
}

/// A template file's text with its placeholders filled in.
fn fill(text: &str, name: &str, sdk: &str, sdk_tower: &str) -> String {
    text.replace("{{name}}", name)
        .replace("{{sdk}}", sdk)
        .replace("{{sdk_tower}}", sdk_tower)
}

/// The tower adapter (`sdk/tower`, package `edgefn-tower`) beside the Rust SDK at `sdk`.
fn find_tower(sdk: &Path) -> anyhow::Result<PathBuf> {
    let tower = sdk.parent().map(|dir| dir.join("tower"));
    tower
        .filter(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.contains("name = \"edgefn-tower\""))
        })
        .with_context(|| {
            format!(
                "cannot find the edgefn-tower adapter beside the SDK at {}: the axum template needs the sdk/tower folder of the same edgefn checkout",
                sdk.display()
            )
        })
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

fn print_next_steps(args: &Args, template: &Template, dir: &Path, sdk: &Path) {
    let edgefn = self_command();
    let name = &args.name;
    let kind = match template.name {
        TemplateName::Default => template.language.as_str().to_owned(),
        other => format!("{}, {}", template.language.as_str(), template_label(other)),
    };
    println!(
        "created {name} ({kind}) in {} using the SDK at {}",
        display_path(dir),
        sdk.display()
    );
    let test = match template.language {
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
        format!(
            "{edgefn} invoke target/edgefn/{name}.wasm '{}'",
            template.example_path.replace("{{name}}", name)
        )
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
        for template in TEMPLATES {
            for file in template.files {
                let filled = fill(file.text, "x", "\"/s\"", "\"/t\"");
                assert!(
                    !filled.contains("{{"),
                    "{}/{} keeps a placeholder",
                    template.dir,
                    file.path
                );
            }
            assert!(
                !template
                    .example_path
                    .replace("{{name}}", "x")
                    .contains("{{")
            );
        }
    }

    #[test]
    fn every_template_folder_is_embedded_file_for_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut folders: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        folders.sort();
        let mut embedded: Vec<&str> = TEMPLATES.iter().map(|t| t.dir).collect();
        embedded.sort();
        assert_eq!(folders, embedded, "host/templates/ and TEMPLATES differ");
        for template in TEMPLATES {
            let dir = root.join(template.dir);
            assert_eq!(
                count_files(&dir),
                template.files.len(),
                "every file of {} is embedded",
                dir.display()
            );
            for file in template.files {
                let source = template_source(&dir, file.path);
                assert_eq!(
                    std::fs::read_to_string(&source).unwrap(),
                    file.text,
                    "{} is embedded as {}/{}",
                    source.display(),
                    template.dir,
                    file.path
                );
            }
        }
    }

    fn count_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                if path.is_dir() { count_files(&path) } else { 1 }
            })
            .sum()
    }

    /// The file in a template folder that becomes `path` in a project (`.gitignore` is
    /// `gitignore`, `Cargo.toml` is `Cargo.toml.tmpl`, ...).
    fn template_source(dir: &Path, path: &str) -> PathBuf {
        let plain = dir.join(path.trim_start_matches('.'));
        let tmpl = dir.join(format!("{path}.tmpl"));
        if tmpl.is_file() { tmpl } else { plain }
    }

    #[test]
    fn a_template_is_chosen_by_name_and_language() {
        let pick = |name, lang| choose(name, lang).map(|t| t.dir);
        assert_eq!(pick(TemplateName::Default, None).unwrap(), "rust");
        assert_eq!(
            pick(TemplateName::Default, Some(Language::Go)).unwrap(),
            "go"
        );
        assert_eq!(pick(TemplateName::Axum, None).unwrap(), "rust-axum");
        assert_eq!(
            pick(TemplateName::Axum, Some(Language::Rust)).unwrap(),
            "rust-axum"
        );
        assert_eq!(pick(TemplateName::NetHttp, None).unwrap(), "go-net-http");
        let err = pick(TemplateName::NetHttp, Some(Language::Rust))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no net-http template for Rust"), "{err}");
        assert!(err.contains("pick one of default, axum"), "{err}");
        let err = pick(TemplateName::Axum, Some(Language::Go))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no axum template for Go"), "{err}");
        assert!(err.contains("pick one of default, net-http"), "{err}");
    }

    #[test]
    fn an_unknown_template_is_refused_with_the_valid_ones() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let err = Cli::try_parse_from(["new", "x", "--template", "flask"])
            .err()
            .expect("an unknown template is an error")
            .to_string();
        assert!(
            err.contains("[possible values: default, axum, net-http]"),
            "{err}"
        );
    }
}
