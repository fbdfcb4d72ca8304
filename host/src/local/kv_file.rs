//! The local key-value store: one redb file, `<state dir>/kv.redb`, behind every function of a
//! local host (`edgefn serve`, `edgefn invoke`) and `edgefn kv`.
//!
//! Here rather than beside the other backends in `runtime::capabilities::kv`: only the local front
//! ends use it, and `local` is built with the `compiler` feature only, so the platform packages
//! (`edgefn-runtime`, whose size counts against Lambda's) do not link redb.
//!
//! One table maps `store \0 key` (store names have no NUL, so the first one ends the store) to
//! `(expires_at, value)`: a store's keys are contiguous and in byte order, so a listing is one range
//! scan and its cursor is the last key returned. Writes go to one writer thread, which commits
//! every write waiting in one transaction with `Durability::Immediate` (fsync before the commit
//! returns) and only then acknowledges them, so a `set` that returned is on disk whatever happens
//! to the process next, and writers on every worker thread share fsyncs rather than queueing for
//! redb's single writer one fsync each; no runtime thread ever waits for the disk. Reads take a
//! read transaction inline (MVCC: they never wait for a writer, and cost about 2 µs against
//! about 20 µs for a hop to the blocking pool; bench/README.md, "Key-value store").
//!
//! redb lets one process at a time open a file (an OFD lock, so also one handle per process). The
//! file is opened on first use, or up front by [`FileStore::open`] where a host should fail early
//! when another holds it; whoever holds it writes `host.json` beside it, so `edgefn kv` can tell
//! who that is and reach it through its admin listener.

use crate::runtime::capabilities::kv::memory::{expiry, live};
use crate::runtime::capabilities::kv::{KvBackend, KvError, KvFuture, KvPage};
use anyhow::Context as _;
use redb::{Database, DatabaseError, Durability, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The file's name in the state directory.
pub const FILE_NAME: &str = "kv.redb";
/// Who holds the file: written by the process that opened it, beside it.
pub const OWNER_FILE_NAME: &str = "host.json";

/// Every store's entries: `store \0 key` → (expiry in Unix seconds, 0 = never; value).
const ENTRIES: TableDefinition<'static, &[u8], (u64, &[u8])> = TableDefinition::new("entries_v1");

/// Expired entries one `list` call steps over before it answers with what it has and a cursor,
/// so a page costs a bounded scan however many dead keys lie in the range.
const MAX_SKIPPED_PER_PAGE: usize = 10_000;

/// The process holding the file, as `host.json` says: what `edgefn kv` reads to find a running
/// host's admin listener, or to say who holds the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its process id.
    pub pid: u32,
    /// The command it runs: `serve`, `invoke`, `kv`.
    pub command: String,
    /// Its admin listener (`http://ADDR`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
    /// The bearer token of that listener (the file is readable by its owner only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
}

impl Owner {
    /// This process, running `command`, without an admin listener.
    pub fn this_process(command: &str) -> Owner {
        Owner {
            pid: std::process::id(),
            command: command.to_owned(),
            admin: None,
            admin_token: None,
        }
    }

    /// The record in `state_dir`, if there is a readable one.
    pub fn read(state_dir: &Path) -> Option<Owner> {
        let text = std::fs::read_to_string(state_dir.join(OWNER_FILE_NAME)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The file is open in another process (or another handle of this one): the error
/// [`FileStore::open`] and every call return then, with the message saying who and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InUse(String);

/// The redb-backed store in one state directory. Cheap to share: `Backends` holds it in an
/// `Arc`, and its calls hand the open database to the blocking pool.
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    path: PathBuf,
    db: OnceLock<Arc<Database>>,
    /// Held while opening, so two first calls open the file once.
    opening: Mutex<()>,
    /// Written to `host.json` when this store opens the file.
    owner: Mutex<Owner>,
    /// The thread that commits writes, started with the database.
    writer: OnceLock<Writer>,
}

impl FileStore {
    /// The store in `state_dir` (made absolute, so messages name it in full), opened on first
    /// use by `owner`. Nothing is created yet.
    pub fn new(state_dir: impl AsRef<Path>, owner: Owner) -> FileStore {
        let dir = std::path::absolute(state_dir.as_ref())
            .unwrap_or_else(|_| state_dir.as_ref().to_path_buf());
        FileStore {
            inner: Arc::new(Inner {
                path: dir.join(FILE_NAME),
                dir,
                db: OnceLock::new(),
                opening: Mutex::new(()),
                owner: Mutex::new(owner),
                writer: OnceLock::new(),
            }),
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether this store has the file open.
    pub fn is_open(&self) -> bool {
        self.inner.db.get().is_some()
    }

    /// Sets what `host.json` will say (an admin listener came up); rewrites it if the file is
    /// already open.
    pub fn set_owner(&self, owner: Owner) {
        *self.inner.owner.lock().unwrap_or_else(|e| e.into_inner()) = owner;
        if self.is_open()
            && let Err(error) = self.inner.write_owner()
        {
            tracing::warn!("{error:#}");
        }
    }

    /// Opens (creating if needed) the file now: blocking, for a caller that is not on a runtime
    /// thread. An error says who holds the file and what to do.
    pub fn open(&self) -> anyhow::Result<()> {
        self.inner.database().map(drop)
    }

    /// Removes `host.json` if it is this process's (the process is about to exit). The file stays
    /// open until the store is dropped.
    pub fn release(&self) {
        if Owner::read(&self.inner.dir).is_some_and(|o| o.pid == std::process::id()) {
            let _ = std::fs::remove_file(self.inner.dir.join(OWNER_FILE_NAME));
        }
    }

    /// The database, opened on the blocking pool the first time (it creates, locks and may
    /// recover the file).
    async fn database(&self) -> Result<Arc<Database>, KvError> {
        if let Some(db) = self.inner.db.get() {
            return Ok(db.clone());
        }
        let inner = self.inner.clone();
        match tokio::task::spawn_blocking(move || inner.database()).await {
            Ok(Ok(db)) => Ok(db),
            Ok(Err(error)) => Err(KvError::unavailable(format!("{error:#}"))),
            Err(_) => Err(self.failed("opening it panicked")),
        }
    }

    /// A backend error naming the file.
    fn failed(&self, error: impl std::fmt::Display) -> KvError {
        KvError::unavailable(format!(
            "the local key-value store {}: {error}",
            self.inner.path.display()
        ))
    }

    /// Hands one write to the writer thread and waits until its commit is on disk.
    async fn write(&self, op: WriteOp) -> Result<(), KvError> {
        self.database().await?;
        let (done, acknowledged) = tokio::sync::oneshot::channel();
        let sent = match self.inner.writer.get() {
            Some(writer) => writer.send(Job { op, done }),
            None => false,
        };
        if !sent {
            return Err(self.failed("its writer has stopped"));
        }
        match acknowledged.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.failed(error)),
            Err(_) => Err(self.failed("the write was dropped by its writer (it panicked)")),
        }
    }

    /// Runs `op` in a read transaction, inline: a read never waits for a writer.
    async fn read<T>(
        &self,
        op: impl FnOnce(&redb::ReadOnlyTable<&[u8], (u64, &[u8])>) -> Result<T, redb::StorageError>,
    ) -> Result<T, KvError> {
        let db = self.database().await?;
        let read = || -> Result<T, redb::Error> {
            let txn = db.begin_read()?;
            let table = txn.open_table(ENTRIES)?;
            Ok(op(&table)?)
        };
        read().map_err(|e| self.failed(e))
    }
}

impl Inner {
    /// The open database, opening it first if needed (blocking).
    fn database(&self) -> anyhow::Result<Arc<Database>> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let _opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let db = Arc::new(self.open_file()?);
        let writer = Writer::start(db.clone(), &self.path)?;
        let _ = self.writer.set(writer);
        let _ = self.db.set(db.clone());
        if let Err(error) = self.write_owner() {
            tracing::warn!("{error:#}");
        }
        tracing::debug!(path = %self.path.display(), "key-value store open");
        Ok(db)
    }

    fn open_file(&self) -> anyhow::Result<Database> {
        std::fs::create_dir_all(&self.dir).with_context(|| {
            format!(
                "cannot create the state directory {} for the key-value store (give a writable one with --state-dir)",
                self.dir.display()
            )
        })?;
        let db = match Database::create(&self.path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(InUse(self.held_elsewhere()).into());
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "cannot open the key-value store {} (move it aside to start empty, or give another folder with --state-dir)",
                        self.path.display()
                    )
                });
            }
        };
        // A read transaction cannot open a table no write has created yet.
        let create = || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            txn.open_table(ENTRIES)?;
            txn.commit()?;
            Ok(())
        };
        create().with_context(|| format!("cannot initialize {}", self.path.display()))?;
        Ok(db)
    }

    /// Why the file cannot be opened while another process holds it.
    fn held_elsewhere(&self) -> String {
        let who = match Owner::read(&self.dir) {
            Some(owner) if owner.pid != std::process::id() => {
                let admin = match &owner.admin {
                    Some(url) => format!(", admin listener {url}"),
                    None => ", no admin listener".into(),
                };
                format!("edgefn {} (pid {}{admin})", owner.command, owner.pid)
            }
            _ => "another process".into(),
        };
        format!(
            "the state directory {} is in use: its key-value store {FILE_NAME} is open in {who}, and only one process at a time can open it; stop that one, or give this one its own folder with --state-dir",
            self.dir.display()
        )
    }

    fn write_owner(&self) -> anyhow::Result<()> {
        let owner = self.owner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let path = self.dir.join(OWNER_FILE_NAME);
        let temp = self.dir.join(format!(".{OWNER_FILE_NAME}.{}", owner.pid));
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            // It may hold the admin token: readable by this user only.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(serde_json::to_string_pretty(&owner)?.as_bytes())?;
            std::fs::rename(&temp, &path)
        };
        write().with_context(|| format!("cannot write {}", path.display()))
    }
}

impl Drop for Inner {
    /// Lets the writer commit what it was given and close, so the file is free when this returns.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.stop();
        }
    }
}

/// One write, as data, so that a batch that fails can be retried one write at a time.
#[derive(Debug)]
enum WriteOp {
    Set {
        entry: Vec<u8>,
        expires_at: u64,
        value: Vec<u8>,
    },
    Delete {
        entry: Vec<u8>,
    },
}

/// A write and who waits for its commit.
struct Job {
    op: WriteOp,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// Writes waiting at once share one transaction and one fsync.
const MAX_BATCH: usize = 256;

/// The one thread that writes: it takes every write waiting, applies them in the order given in
/// one transaction and commits it durably, then acknowledges each. Writes from every worker thread
/// thus share fsyncs (group commit) instead of queueing for redb's single writer one fsync each.
#[derive(Debug)]
struct Writer {
    jobs: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writer {
    fn start(db: Arc<Database>, path: &Path) -> anyhow::Result<Writer> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("edgefn-kv-writer".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    commit_batch(&db, batch);
                }
            })
            .with_context(|| format!("cannot start the writer of {}", path.display()))?;
        Ok(Writer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a job; false when the writer has stopped.
    fn send(&self, job: Job) -> bool {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok())
    }

    fn stop(self) {
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

/// Commits `batch` in one transaction; if that fails, each write alone, so one failing write
/// fails only its own caller.
fn commit_batch(db: &Database, batch: Vec<Job>) {
    let ops: Vec<&WriteOp> = batch.iter().map(|job| &job.op).collect();
    let outcome = match commit(db, &ops) {
        Ok(()) => None,
        Err(_) if batch.len() > 1 => Some(batch.iter().map(|job| commit(db, &[&job.op])).collect()),
        Err(error) => Some(vec![Err(error)]),
    };
    match outcome {
        None => batch.into_iter().for_each(|job| {
            let _ = job.done.send(Ok(()));
        }),
        Some(results) => {
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job
                    .done
                    .send(result.map_err(|e: redb::Error| e.to_string()));
            }
        }
    }
}

fn commit(db: &Database, ops: &[&WriteOp]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut table = txn.open_table(ENTRIES)?;
        for op in ops {
            match op {
                WriteOp::Set {
                    entry,
                    expires_at,
                    value,
                } => {
                    table.insert(entry.as_slice(), (*expires_at, value.as_slice()))?;
                }
                WriteOp::Delete { entry } => {
                    table.remove(entry.as_slice())?;
                }
            }
        }
    }
    txn.commit()?;
    Ok(())
}

/// The table key of `key` in `store`.
fn entry_key(store: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(store.len() + 1 + key.len());
    out.extend_from_slice(store.as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

impl KvBackend for FileStore {
    fn describe(&self) -> String {
        format!("the local store {}", self.inner.path.display())
    }

    fn get<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(self.read(move |table| {
            let Some(entry) = table.get(entry_key(store, key).as_slice())? else {
                return Ok(None);
            };
            let (expires_at, value) = entry.value();
            Ok(live(expires_at).then(|| value.to_vec()))
        }))
    }

    fn exists<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        Box::pin(self.read(move |table| {
            Ok(table
                .get(entry_key(store, key).as_slice())?
                .is_some_and(|entry| live(entry.value().0)))
        }))
    }

    fn set<'a>(
        &'a self,
        store: &'a str,
        key: &'a str,
        value: &'a [u8],
        ttl_seconds: u32,
    ) -> KvFuture<'a, ()> {
        let entry = entry_key(store, key);
        let value = value.to_vec();
        let expires_at = expiry(ttl_seconds);
        Box::pin(self.write(WriteOp::Set {
            entry,
            expires_at,
            value,
        }))
    }

    fn delete<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        let entry = entry_key(store, key);
        Box::pin(self.write(WriteOp::Delete { entry }))
    }

    fn list<'a>(
        &'a self,
        store: &'a str,
        prefix: &'a str,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> KvFuture<'a, KvPage> {
        Box::pin(self.read(move |table| {
            let first = entry_key(store, prefix);
            let after = cursor.map(|c| entry_key(store, c));
            // The cursor is the last key returned; one before the prefix starts at the prefix.
            let start = match &after {
                Some(after) if *after >= first => Bound::Excluded(after.as_slice()),
                _ => Bound::Included(first.as_slice()),
            };
            let mut page = KvPage::default();
            let mut skipped = 0;
            for entry in table.range::<&[u8]>((start, Bound::Unbounded))? {
                let (k, v) = entry?;
                let k = k.value();
                if !k.starts_with(&first) {
                    break;
                }
                // Keys were UTF-8 when stored (the imports check).
                let key = || String::from_utf8_lossy(&k[store.len() + 1..]).into_owned();
                if live(v.value().0) {
                    if page.keys.len() == limit as usize {
                        page.cursor = page.keys.last().cloned();
                        break;
                    }
                    page.keys.push(key());
                } else {
                    skipped += 1;
                    if skipped == MAX_SKIPPED_PER_PAGE {
                        // Enough dead keys for one call: the next page goes on from here.
                        page.cursor = Some(key());
                        break;
                    }
                }
            }
            Ok(page)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(future: KvFuture<'_, T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
            .unwrap()
    }

    #[test]
    fn keeps_stores_apart_and_lists_in_byte_order_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let kv = FileStore::new(dir.path(), Owner::this_process("test"));
        for key in ["u/b", "u/a", "u/c", "v/a", "u"] {
            block(kv.set("s", key, key.as_bytes(), 0));
        }
        block(kv.set("t", "u/z", b"t", 0));
        block(kv.set("s", "u/old", b"x", 0));
        let first = block(kv.list("s", "u/", None, 2));
        assert_eq!(first.keys, ["u/a", "u/b"]);
        let second = block(kv.list("s", "u/", first.cursor.as_deref(), 2));
        assert_eq!(second.keys, ["u/c", "u/old"]);
        assert_eq!(second.cursor, None);
        assert_eq!(block(kv.list("t", "", None, 10)).keys, ["u/z"]);
        // A cursor before the prefix starts at the prefix.
        assert_eq!(block(kv.list("s", "v", Some("a"), 10)).keys, ["v/a"]);
        assert_eq!(block(kv.get("s", "u/a")), Some(b"u/a".to_vec()));
        assert_eq!(block(kv.get("t", "u/a")), None);
        block(kv.delete("s", "u/a"));
        block(kv.delete("s", "never-there"));
        assert_eq!(block(kv.get("s", "u/a")), None);
        assert!(!block(kv.exists("s", "u/a")) && block(kv.exists("s", "u/b")));
    }

    #[test]
    fn expired_entries_are_never_returned() {
        let dir = tempfile::tempdir().unwrap();
        let kv = FileStore::new(dir.path(), Owner::this_process("test"));
        block(kv.set("s", "live", b"1", 3600));
        // Written as already expired, as a clock past its TTL would see it.
        block(Box::pin(kv.write(WriteOp::Set {
            entry: entry_key("s", "dead"),
            expires_at: 1,
            value: b"1".to_vec(),
        })));
        assert_eq!(block(kv.get("s", "dead")), None);
        assert!(!block(kv.exists("s", "dead")));
        assert_eq!(block(kv.list("s", "", None, 10)).keys, ["live"]);
        assert_eq!(block(kv.get("s", "live")), Some(b"1".to_vec()));
    }

    #[test]
    fn a_second_handle_is_refused_naming_the_folder_and_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileStore::new(dir.path(), Owner::this_process("serve"));
        first.open().unwrap();
        let second = FileStore::new(dir.path(), Owner::this_process("kv"));
        let error = format!("{:#}", second.open().unwrap_err());
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        assert!(error.contains("--state-dir"), "{error}");
        let owner = Owner::read(dir.path()).unwrap();
        assert_eq!(owner.command, "serve");
        first.release();
        assert!(Owner::read(dir.path()).is_none());
    }
}
