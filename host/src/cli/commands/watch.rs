//! `edgefn serve --watch`, and `edgefn serve PROJECT`: build a project folder before serving it,
//! then watch the function source (the manifest, every `.wasm`, and a project's own files) and
//! redeploy what changed.
//!
//! Changes are found by polling modification times and sizes every [`POLL_INTERVAL`]: a few
//! `stat` calls for a function project, with no platform-specific watcher and no extra crate.
//! A change waits until the files stop changing (a build or a copy in progress), then a project is
//! rebuilt and [`Registry::redeploy`] swaps in the new version atomically: requests in flight
//! finish on the old version, new ones get the new one, none fail. A failed build or a refused
//! module leaves the previous version serving.

use super::project::Project;
use super::{display_path, step};
use crate::deploy::manifest::FunctionSource;
use crate::deploy::registry::Registry;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// How often watched files are checked.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(300);
/// Longest wait for files to stop changing before reloading anyway.
pub(crate) const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// When the functions to serve are one project folder: builds it, and replaces the folder with
/// what to serve (its `edgefn.toml` if it has one, else the built module). Returns the project, for
/// [`spawn`] to rebuild; `None` when the arguments are not a project folder.
pub(crate) fn build_project_argument(
    functions: &mut Vec<PathBuf>,
) -> anyhow::Result<Option<Project>> {
    let [path] = functions.as_slice() else {
        return Ok(None);
    };
    if !path.is_dir() {
        return Ok(None);
    }
    let project = Project::open(path)?;
    let wasm = project.build()?;
    *functions = vec![project.manifest().unwrap_or(wasm)];
    Ok(Some(project))
}

/// Modification time and size of each watched file (`None`: missing).
type Snapshot = BTreeMap<PathBuf, Option<(SystemTime, u64)>>;

fn snapshot(files: &[PathBuf]) -> Snapshot {
    files
        .iter()
        .map(|path| {
            let stamp = std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (path.clone(), stamp)
        })
        .collect()
}

/// Watches the files behind `source` (and `project`'s sources) and redeploys on change, on a
/// thread of its own, until `stop` turns true.
pub(crate) fn spawn(
    registry: Arc<Registry>,
    source: FunctionSource,
    project: Option<Project>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let watcher = Watcher {
        registry,
        source,
        project,
    };
    std::thread::Builder::new()
        .name("edgefn-watch".into())
        .spawn(move || watcher.run(stop))
}

struct Watcher {
    registry: Arc<Registry>,
    source: FunctionSource,
    project: Option<Project>,
}

impl Watcher {
    fn files(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let served = self.source.watched_files();
        let sources = match &self.project {
            Some(project) => project
                .source_files()
                .into_iter()
                .filter(|f| !served.contains(f))
                .collect(),
            None => Vec::new(),
        };
        (served, sources)
    }

    fn snapshot_all(&self) -> (Snapshot, Snapshot) {
        let (served, sources) = self.files();
        (snapshot(&served), snapshot(&sources))
    }

    fn run(self, stop: watch::Receiver<bool>) {
        let (files, sources) = self.files();
        println!(
            "watching {} file(s){}; changes are {}",
            files.len() + sources.len(),
            match &self.project {
                Some(p) => format!(" of {}", display_path(&p.dir)),
                None => String::new(),
            },
            if self.project.is_some() {
                "rebuilt and reloaded"
            } else {
                "reloaded"
            }
        );
        let mut last = self.snapshot_all();
        loop {
            std::thread::sleep(POLL_INTERVAL);
            if *stop.borrow() {
                return;
            }
            let now = self.snapshot_all();
            if now == last {
                continue;
            }
            let settled = self.settle(now, &stop);
            let sources_changed = settled.1 != last.1;
            self.reload(sources_changed);
            // Taken after the reload, so our own build output does not count as a change.
            last = self.snapshot_all();
        }
    }

    /// Waits until two polls in a row see the same files, so a half-written module is never
    /// loaded; gives up waiting after [`SETTLE_LIMIT`].
    fn settle(
        &self,
        mut current: (Snapshot, Snapshot),
        stop: &watch::Receiver<bool>,
    ) -> (Snapshot, Snapshot) {
        let started = Instant::now();
        while started.elapsed() < SETTLE_LIMIT && !*stop.borrow() {
            std::thread::sleep(POLL_INTERVAL);
            let next = self.snapshot_all();
            if next == current {
                break;
            }
            current = next;
        }
        current
    }

    fn reload(&self, sources_changed: bool) {
        let started = Instant::now();
        if sources_changed && let Some(project) = &self.project {
            step(format!(
                "change in {}: rebuilding",
                display_path(&project.dir)
            ));
            if let Err(error) = project.build() {
                tracing::error!(
                    "rebuild failed; the previous version keeps serving. Fix it and save again: {error:#}"
                );
                return;
            }
        }
        let specs = match self.source.load() {
            Ok(specs) => specs,
            Err(error) => {
                tracing::error!(
                    "cannot reload; the previous version keeps serving. Fix it and save again: {error:#}"
                );
                return;
            }
        };
        let report = self.registry.redeploy(specs);
        let took = started.elapsed().as_secs_f64();
        if report.failed.is_empty() {
            println!(
                "reloaded in {took:.1} s: {}",
                describe(&report.deployed, &report.removed)
            );
        } else {
            for (name, why) in &report.failed {
                tracing::error!(function = %name, "not reloaded; the previous version keeps serving: {why}");
            }
        }
    }
}

fn describe(deployed: &[String], removed: &[String]) -> String {
    let mut parts = Vec::new();
    if !deployed.is_empty() {
        parts.push(format!("new version of {}", deployed.join(", ")));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", removed.join(", ")));
    }
    if parts.is_empty() {
        "nothing changed".to_owned()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_see_edits_and_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.wasm");
        std::fs::write(&file, b"one").unwrap();
        let files = vec![file.clone(), dir.path().join("missing")];
        let before = snapshot(&files);
        assert_eq!(before[&files[1]], None);
        std::fs::write(&file, b"longer").unwrap();
        assert_ne!(snapshot(&files), before, "a size change is a change");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(snapshot(&files)[&file], None);
    }

    #[test]
    fn reload_summary_reads_well() {
        assert_eq!(describe(&[], &[]), "nothing changed");
        assert_eq!(
            describe(&["a".into()], &["b".into()]),
            "new version of a; removed b"
        );
    }
}
