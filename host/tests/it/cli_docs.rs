//! docs/cli.md matches the binary: every subcommand `edgefn --help` lists has a section there, and
//! every flag each subcommand's `--help` prints is written in that section.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edgefn"))
        .args(args)
        .arg("--help")
        .env_remove("EDGEFN_LOG_FORMAT")
        .output()
        .unwrap();
    assert!(out.status.success(), "edgefn {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Subcommand names in the `Commands:` list of `edgefn --help` (except `help`).
fn subcommands(top: &str) -> Vec<String> {
    top.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every `--long-flag` written anywhere in `text`.
fn long_flags(text: &str) -> Vec<String> {
    let mut flags = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(found) = text[i..].find("--") {
        let start = i + found;
        let name_end = text[start + 2..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(text.len(), |n| start + 2 + n);
        let preceded_by_word = start > 0 && bytes[start - 1].is_ascii_alphanumeric();
        if name_end > start + 2 && !preceded_by_word {
            let flag = text[start..name_end].trim_end_matches('-').to_owned();
            if !flags.contains(&flag) {
                flags.push(flag);
            }
        }
        i = name_end.max(start + 2);
    }
    flags
}

/// The part of docs/cli.md under `## edgefn NAME`, up to the next section.
fn section<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let heading = format!("\n## edgefn {name}\n");
    let start = doc.find(&heading)? + heading.len();
    let end = doc[start..].find("\n## ").map_or(doc.len(), |n| start + n);
    Some(&doc[start..end])
}

#[test]
fn every_subcommand_and_flag_in_help_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cli.md"))
        .expect("docs/cli.md");
    let top = help(&[]);
    let commands = subcommands(&top);
    assert!(commands.len() >= 7, "parsed {commands:?} from:\n{top}");
    let mut missing = Vec::new();
    for flag in long_flags(&top) {
        if !doc.contains(&format!("`{flag}")) {
            missing.push(format!("edgefn {flag}"));
        }
    }
    for command in &commands {
        let Some(section) = section(&doc, command) else {
            missing.push(format!("a `## edgefn {command}` section"));
            continue;
        };
        for flag in long_flags(&help(&[command])) {
            let global = ["--help", "--version", "--log-format"].contains(&flag.as_str());
            let documented = if global {
                doc.contains(&format!("`{flag}"))
            } else {
                section.contains(&format!("`{flag}"))
            };
            if !documented {
                missing.push(format!("edgefn {command} {flag}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/cli.md does not document these yet; add them (as `--flag ...` in the command's table):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn flag_scanner_reads_help_text() {
    assert_eq!(
        long_flags(
            "  -d, --data <@FILE|-|TEXT>  x\n      --deadline-ms <MS>  see --data; not a--flag"
        ),
        ["--data", "--deadline-ms"]
    );
}
