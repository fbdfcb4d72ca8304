//! `edgefn new NAME`: a function project that builds and passes its own unit test right away.
//!
//! The templates are real files under `host/templates/`, embedded in the binary: per language the
//! SDK's own handler style, and a framework's (`--template axum`, `--template net-http`). The
//! project depends on a published SDK (crates.io, or the Go module at `sdk/go` of the repository),
//! of this binary's version or `--sdk-version`; or on an edgefn checkout's SDK by path: given with
//! `--sdk` / `EDGEFN_SDK`, or, when this binary runs from a checkout (`target/release/edgefn`),
//! that checkout's, so a change to the SDK is in the project right away.

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
    /// Depend on the SDK of an edgefn checkout by path: its `sdk/rust` (or `sdk/go`), or the
    /// checkout itself [default: the checkout this binary runs from, if it does].
    #[arg(long, value_name = "PATH", env = "EDGEFN_SDK")]
    pub sdk: Option<PathBuf>,
    /// Depend on this published SDK version (crates.io, or the Go module proxy) [default: this
    /// edgefn's version, when it does not run from a checkout].
    #[arg(long, value_name = "VERSION", conflicts_with = "sdk")]
    pub sdk_version: Option<String>,
}

/// The Go SDK's module path: `sdk/go` of the edgefn repository, tagged `sdk/go/vX.Y.Z`.
const GO_MODULE: &str = "github.com/edgefn-dev/edgefn/sdk/go";

/// Where the project's SDK comes from.
#[derive(Debug)]
enum Sdk {
    /// A published version (`X.Y.Z`, no `v`).
    Published(String),
    /// The SDK folder (`sdk/rust` or `sdk/go`) of a checkout, canonical.
    Checkout(PathBuf),
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
/// templates that use the tower adapter, `{{sdk_tower}}` are filled in; see [`Placeholders`]).
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
    let sdk = match &args.sdk_version {
        Some(version) => Sdk::Published(published_version(version)?),
        None => find_sdk(template.language, args.sdk.as_deref())?,
    };
    let uses_tower = template
        .files
        .iter()
        .any(|file| file.text.contains("{{sdk_tower}}"));
    let tower = match &sdk {
        Sdk::Checkout(path) if uses_tower => Some(find_tower(path)?),
        _ => None,
    };
    let values = Placeholders::new(template.language, &args.name, &sdk, tower.as_deref());
    for file in template.files {
        let path = dir.join(file.path);
        std::fs::create_dir_all(path.parent().expect("template paths have a folder"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let text = values.fill(file.text);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_next_steps(&args, template, &dir, &sdk);
    Ok(())
}

/// What a template's placeholders become.
///
/// - `{{name}}`: the function's name.
/// - `{{sdk}}`, in `Cargo.toml`: the `edgefn` dependency's value, `"X.Y.Z"` or `{ path = "..." }`;
///   `{{sdk_tower}}` the same for `edgefn-tower`.
/// - `{{sdk}}`, in `go.mod`: what follows `require MODULE`: `vX.Y.Z`, or `v0.0.0` and a `replace`
///   to the checkout's `sdk/go`.
struct Placeholders {
    name: String,
    sdk: String,
    sdk_tower: String,
}

impl Placeholders {
    fn new(lang: Language, name: &str, sdk: &Sdk, tower: Option<&Path>) -> Self {
        let (sdk, sdk_tower) = match (lang, sdk) {
            (Language::Rust, Sdk::Published(version)) => {
                let value = toml_string(version);
                (value.clone(), value)
            }
            (Language::Rust, Sdk::Checkout(path)) => {
                (toml_path(path), tower.map(toml_path).unwrap_or_default())
            }
            (Language::Go, Sdk::Published(version)) => (format!("v{version}"), String::new()),
            (Language::Go, Sdk::Checkout(path)) => (
                format!(
                    "v0.0.0\n\n// The SDK of the edgefn checkout this project was created with, not a published version.\nreplace {GO_MODULE} => {}",
                    go_mod_path(path)
                ),
                String::new(),
            ),
        };
        Self {
            name: name.to_owned(),
            sdk,
            sdk_tower,
        }
    }

    /// A template file's text with its placeholders filled in.
    fn fill(&self, text: &str) -> String {
        text.replace("{{name}}", &self.name)
            .replace("{{sdk}}", &self.sdk)
            .replace("{{sdk_tower}}", &self.sdk_tower)
    }
}

/// A `--sdk-version` as `X.Y.Z` (a leading `v` dropped): a full version, which crates.io and the
/// Go module proxy both resolve.
fn published_version(given: &str) -> anyhow::Result<String> {
    let version = given.strip_prefix('v').unwrap_or(given);
    let (release, pre) = version.split_once('-').unwrap_or((version, ""));
    let numbers: Vec<&str> = release.split('.').collect();
    let ok = numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && pre
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !(version.contains('-') && pre.is_empty());
    if !ok {
        bail!(
            "--sdk-version {given:?} is not a version: give one like {}",
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(version.to_owned())
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

/// The SDK for `lang`: the given path (an SDK folder, or a checkout containing one); else the
/// checkout this binary runs from, if it does; else the published SDK of this binary's version.
fn find_sdk(lang: Language, given: Option<&Path>) -> anyhow::Result<Sdk> {
    let (relative, marker) = match lang {
        Language::Rust => ("sdk/rust", "Cargo.toml"),
        Language::Go => ("sdk/go", "go.mod"),
    };
    let is_sdk = |dir: &Path| {
        std::fs::read_to_string(dir.join(marker)).is_ok_and(|text| match lang {
            Language::Rust => text.contains("name = \"edgefn\""),
            Language::Go => text
                .lines()
                .any(|line| line.trim() == format!("module {GO_MODULE}")),
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
        None => match checkout_path(relative).filter(|dir| is_sdk(dir)) {
            Some(dir) => dir,
            None => return Ok(Sdk::Published(env!("CARGO_PKG_VERSION").to_owned())),
        },
    };
    let found = found
        .canonicalize()
        .with_context(|| format!("cannot open {}", found.display()))?;
    Ok(Sdk::Checkout(found))
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A path dependency's value: `{ path = "..." }`.
fn toml_path(path: &Path) -> String {
    format!("{{ path = {} }}", toml_string(&path.display().to_string()))
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

fn print_next_steps(args: &Args, template: &Template, dir: &Path, sdk: &Sdk) {
    let edgefn = self_command();
    let name = &args.name;
    let kind = match template.name {
        TemplateName::Default => template.language.as_str().to_owned(),
        other => format!("{}, {}", template.language.as_str(), template_label(other)),
    };
    let using = match (sdk, template.language) {
        (Sdk::Checkout(path), _) => format!("the SDK at {}", path.display()),
        (Sdk::Published(version), Language::Rust) => format!("edgefn {version} from crates.io"),
        (Sdk::Published(version), Language::Go) => format!("{GO_MODULE} v{version}"),
    };
    println!(
        "created {name} ({kind}) in {} using {using}",
        display_path(dir)
    );
    let test = match template.language {
        Language::Rust => "cargo test",
        Language::Go => "go test ./...",
    };
    println!("next:");
    println!("  cd {}", display_path(dir));
    if template.language == Language::Go && matches!(sdk, Sdk::Published(_)) {
        println!("  {:<44} # download the SDK, write go.sum", "go mod tidy");
    }
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
        assert_eq!(toml_path(Path::new("/a b/sdk")), r#"{ path = "/a b/sdk" }"#);
        assert_eq!(go_mod_path(Path::new("/src/sdk/go")), "/src/sdk/go");
        assert_eq!(go_mod_path(Path::new("/a b/go")), r#""/a b/go""#);
    }

    #[test]
    fn templates_fill_every_placeholder() {
        for template in TEMPLATES {
            for file in template.files {
                let filled = Placeholders::new(
                    template.language,
                    "x",
                    &Sdk::Checkout("/s".into()),
                    Some(Path::new("/t")),
                )
                .fill(file.text);
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
    fn sdk_versions_are_full_versions() {
        assert_eq!(published_version("0.1.0").unwrap(), "0.1.0");
        assert_eq!(published_version("v1.20.3").unwrap(), "1.20.3");
        assert_eq!(published_version("0.2.0-rc.1").unwrap(), "0.2.0-rc.1");
        for bad in [
            "", "1", "0.1", "0.1.x", "latest", "0.1.0-", "1.2.3.4", "^0.1.0",
        ] {
            let err = published_version(bad).unwrap_err().to_string();
            assert!(err.contains("is not a version"), "{bad}: {err}");
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
