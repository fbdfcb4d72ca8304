//! The Azure Functions key-value backend (`edgefn_host::platform::azure_functions::TableStore`)
//! against Azurite's Table service on loopback, which checks Shared Key signatures (a wrong key is
//! 403) and enforces Table storage's 64 KiB property limit. Azurite comes from npm into
//! `target/tools/azurite` (`scripts/setup.sh azurite`, which `make test` runs); without it these
//! tests fail and say so.
//!
//! [`Azurite`] is also what the Azure platform harness (`platforms/azure.rs`) starts when a guest
//! is granted stores.

use crate::platforms::{Process, free_port};
use edgefn_abi::ImportError;
use edgefn_host::platform::azure_functions::{StorageAccount, TableStore};
use edgefn_host::runtime::capabilities::kv::{KvBackend, KvError, KvPage};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Azurite's development account: the same name and key on every machine.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The largest value the contract allows (256 KiB): four 64 KiB properties.
const MAX_VALUE: usize = edgefn_abi::kv::MAX_VALUE_BYTES;
/// How long Azurite may take to listen (a Node start, cold disk).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

fn azurite_table_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/tools/azurite/node_modules/.bin/azurite-table")
}

/// An Azurite Table service on a free loopback port, its data in a temporary folder; killed
/// when dropped.
pub struct Azurite {
    process: Process,
    pub addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Azurite {
    /// Starts one and waits until it listens; a port another process took in between is retried.
    pub fn start() -> Azurite {
        let bin = azurite_table_bin();
        assert!(
            bin.exists(),
            "{} is missing: run scripts/setup.sh azurite (make test does)",
            bin.display()
        );
        let data = tempfile::tempdir().unwrap();
        let log = data.path().join("azurite.log");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(["--tableHost", "127.0.0.1", "--tablePort", &port.to_string()])
                .arg("--location")
                .arg(data.path().join("data"))
                .arg("--skipApiVersionCheck")
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut process = Process {
                child,
                log: log.clone(),
            };
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let started = Instant::now();
            while TcpStream::connect(addr).is_err() && process.is_running() {
                assert!(
                    started.elapsed() < STARTUP_TIMEOUT,
                    "Azurite did not listen on {addr} within {STARTUP_TIMEOUT:?}: {}",
                    process.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            if process.is_running() {
                return Azurite {
                    process,
                    addr,
                    _data: data,
                };
            }
        }
        panic!(
            "Azurite exited on five ports in a row: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// One Azurite for every caller holding it at the same time, started by the first and
    /// killed when the last lets go (so nothing outlives the test binary).
    pub fn shared() -> Arc<Azurite> {
        static SHARED: Mutex<Weak<Azurite>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = shared.upgrade() {
            return running;
        }
        let started = Arc::new(Azurite::start());
        *shared = Arc::downgrade(&started);
        started
    }

    /// Its Table endpoint, path-style as the emulator serves it.
    pub fn endpoint(&self) -> String {
        format!("http://{}/{ACCOUNT}", self.addr)
    }

    /// A connection string for it, as `AzureWebJobsStorage` would hold one, with `key`.
    pub fn connection_string_with_key(&self, key: &str) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};TableEndpoint={}",
            self.endpoint()
        )
    }

    /// A connection string with the right key.
    pub fn connection_string(&self) -> String {
        self.connection_string_with_key(ACCOUNT_KEY)
    }

    /// A store in a table of its own (so tests sharing an Azurite never meet).
    pub fn store(&self, table: &str) -> TableStore {
        store_for(&self.connection_string(), table)
    }

    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn store_for(connection_string: &str, table: &str) -> TableStore {
    let account = StorageAccount::from_connection_string(connection_string).unwrap();
    TableStore::new(account, table).unwrap()
}

/// Runs `future` on a runtime of its own (the client's pooled connections live on it).
fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Every key of `prefix` in `store`, page by page; the pages' sizes too.
async fn list_all(
    kv: &dyn KvBackend,
    store: &str,
    prefix: &str,
    limit: u32,
) -> (Vec<String>, Vec<usize>) {
    let mut keys = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = kv
            .list(store, prefix, cursor.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.keys.len() <= limit as usize, "{page:?}");
        sizes.push(page.keys.len());
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return (keys, sizes),
        }
        assert!(sizes.len() < 100, "the listing does not end");
    }
}

#[test]
fn set_get_overwrite_exists_and_delete() {
    let azurite = Azurite::start();
    let kv = azurite.store("basics");
    block(async {
        assert_eq!(kv.get("default", "missing").await.unwrap(), None);
        assert!(!kv.exists("default", "missing").await.unwrap());
        kv.delete("default", "missing").await.unwrap();

        kv.set("default", "greeting", b"hello", 0).await.unwrap();
        assert_eq!(
            kv.get("default", "greeting").await.unwrap(),
            Some(b"hello".to_vec())
        );
        assert!(kv.exists("default", "greeting").await.unwrap());
        // Last writer wins, and a shorter value leaves nothing of the longer one behind.
        let long = vec![7u8; 100_000];
        kv.set("default", "greeting", &long, 0).await.unwrap();
        assert_eq!(kv.get("default", "greeting").await.unwrap(), Some(long));
        kv.set("default", "greeting", b"bye", 3600).await.unwrap();
        assert_eq!(
            kv.get("default", "greeting").await.unwrap(),
            Some(b"bye".to_vec())
        );
        // Stores are partitions: the same key elsewhere is another value.
        assert_eq!(kv.get("other", "greeting").await.unwrap(), None);
        kv.set("other", "greeting", b"", 0).await.unwrap();
        assert_eq!(kv.get("other", "greeting").await.unwrap(), Some(Vec::new()));

        kv.delete("default", "greeting").await.unwrap();
        assert_eq!(kv.get("default", "greeting").await.unwrap(), None);
        assert!(!kv.exists("default", "greeting").await.unwrap());
        kv.delete("default", "greeting").await.unwrap();
        assert!(kv.exists("other", "greeting").await.unwrap());
    });
}

#[test]
fn a_value_at_the_portable_maximum_round_trips_in_four_parts() {
    let azurite = Azurite::start();
    let kv = azurite.store("largest");
    let value: Vec<u8> = (0..MAX_VALUE).map(|i| (i * 7 % 256) as u8).collect();
    block(async {
        kv.set("default", "big", &value, 0).await.unwrap();
        assert_eq!(kv.get("default", "big").await.unwrap(), Some(value.clone()));
        // One byte past a part boundary still reads back whole.
        let odd = &value[..3 * 64 * 1024 + 1];
        kv.set("default", "odd", odd, 0).await.unwrap();
        assert_eq!(
            kv.get("default", "odd").await.unwrap().as_deref(),
            Some(odd)
        );
    });
}

#[test]
fn keys_that_rowkeys_forbid_round_trip_and_list_in_byte_order() {
    let azurite = Azurite::start();
    let kv = azurite.store("oddkeys");
    let keys = [
        "a/b",
        "a#b",
        "a?b",
        "a\\b",
        "a b",
        "a%2Fb",
        "a'b",
        "é",
        "日本語",
        "a\u{1F600}",
        "A",
        "a",
        "a\u{7f}",
        "~",
    ];
    let longest = "é".repeat(256); // 512 bytes: a 512-character RowKey, the limit
    block(async {
        for (i, key) in keys.iter().enumerate() {
            kv.set("s", key, format!("value {i}").as_bytes(), 0)
                .await
                .unwrap();
        }
        kv.set("s", &longest, b"longest", 0).await.unwrap();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                kv.get("s", key).await.unwrap(),
                Some(format!("value {i}").into_bytes()),
                "{key:?}"
            );
        }
        assert_eq!(
            kv.get("s", &longest).await.unwrap(),
            Some(b"longest".to_vec())
        );

        let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        expected.push(longest.clone());
        expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let (listed, _) = list_all(&kv, "s", "", 1000).await;
        assert_eq!(listed, expected);
        // A prefix with the characters RowKeys forbid.
        let page = kv.list("s", "a", None, 1000).await.unwrap();
        let mut with_a: Vec<String> = expected
            .iter()
            .filter(|k| k.starts_with('a'))
            .cloned()
            .collect();
        with_a.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(
            page,
            KvPage {
                keys: with_a,
                cursor: None
            }
        );
        let page = kv.list("s", "a?", None, 10).await.unwrap();
        assert_eq!(page.keys, ["a?b"]);
        let page = kv.list("s", "é", None, 10).await.unwrap();
        assert_eq!(page.keys, ["é".to_owned(), longest.clone()]);
    });
}

#[test]
fn listings_page_by_cursor_and_follow_table_storage_continuations() {
    let azurite = Azurite::start();
    let keys: Vec<String> = (0..11).map(|i| format!("p/{i:02}")).collect();
    block(async {
        let kv = azurite.store("paging");
        for key in &keys {
            kv.set("s", key, b"1", 0).await.unwrap();
        }
        // Neighbours outside the prefix and in another store stay out.
        for key in ["p", "p0", "q/00", "o/99"] {
            kv.set("s", key, b"1", 0).await.unwrap();
        }
        kv.set("t", "p/05", b"1", 0).await.unwrap();

        let (listed, sizes) = list_all(&kv, "s", "p/", 4).await;
        assert_eq!(listed, keys);
        assert_eq!(sizes, [4, 4, 3]);
        // A page that ends the listing exactly has no cursor.
        let page = kv.list("s", "p/", None, 11).await.unwrap();
        assert_eq!(
            page,
            KvPage {
                keys: keys.clone(),
                cursor: None
            }
        );
        let first = kv.list("s", "p/", None, 10).await.unwrap();
        assert!(first.cursor.is_some());
        let last = kv
            .list("s", "p/", first.cursor.as_deref(), 10)
            .await
            .unwrap();
        assert_eq!(
            last,
            KvPage {
                keys: vec![keys[10].clone()],
                cursor: None
            }
        );

        // Two entities per query: every page is put together from Azurite's continuations.
        let small = azurite.store("paging").with_query_page(2);
        let (listed, sizes) = list_all(&small, "s", "p/", 5).await;
        assert_eq!(listed, keys);
        assert_eq!(sizes, [5, 5, 1]);
        // One per query runs out of queries before the page is full: the cursor goes on.
        let tiny = azurite.store("paging").with_query_page(1);
        let (listed, _) = list_all(&tiny, "s", "p/", 10).await;
        assert_eq!(listed, keys);

        // A cursor is this listing's: another prefix's, or garbage, is invalid.
        let error = kv
            .list("s", "q/", first.cursor.as_deref(), 10)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ImportError::Invalid, "{error}");
        let error = kv
            .list("s", "p/", Some("not a cursor"), 10)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ImportError::Invalid, "{error}");
    });
}

#[test]
fn expired_entities_are_never_returned() {
    let azurite = Azurite::start();
    let kv = azurite.store("expiry");
    block(async {
        // The backend takes any TTL (the imports hold guests to 60 s or more): three seconds
        // here (at one, the expiry's whole second could pass before the first read).
        kv.set("s", "e/short", b"gone soon", 3).await.unwrap();
        kv.set("s", "e/long", b"stays", 3600).await.unwrap();
        kv.set("s", "e/none", b"stays", 0).await.unwrap();
        assert!(kv.exists("s", "e/short").await.unwrap());
        assert!(kv.exists("s", "e/long").await.unwrap());
        assert_eq!(
            kv.get("s", "e/short").await.unwrap(),
            Some(b"gone soon".to_vec())
        );
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(kv.get("s", "e/short").await.unwrap(), None);
        assert!(!kv.exists("s", "e/short").await.unwrap());
        let (listed, _) = list_all(&kv, "s", "e/", 1).await;
        assert_eq!(listed, ["e/long", "e/none"]);
        // Setting it again brings it back.
        kv.set("s", "e/short", b"again", 0).await.unwrap();
        assert_eq!(
            kv.get("s", "e/short").await.unwrap(),
            Some(b"again".to_vec())
        );
    });
}

#[test]
fn a_wrong_account_key_is_unavailable_and_names_the_setting() {
    let azurite = Azurite::start();
    let wrong = "d3Jvbmcga2V5IGZvciB0aGUgZGV2ZWxvcG1lbnQgYWNjb3VudA==";
    let kv = store_for(&azurite.connection_string_with_key(wrong), "wrongkey");
    block(async {
        let errors: Vec<KvError> = vec![
            kv.get("s", "k").await.unwrap_err(),
            kv.set("s", "k", b"v", 0).await.unwrap_err(),
            kv.list("s", "", None, 10).await.unwrap_err(),
        ];
        for error in errors {
            assert_eq!(error.kind, ImportError::Unavailable, "{error}");
            assert!(error.message.contains("AzureWebJobsStorage"), "{error}");
            assert!(error.message.contains("key"), "{error}");
            assert!(error.message.contains("403"), "{error}");
        }
    });
    // The right key works against the same emulator.
    block(async {
        azurite
            .store("wrongkey")
            .set("s", "k", b"v", 0)
            .await
            .unwrap()
    });
}

#[test]
fn a_stopped_emulator_is_unavailable_within_the_request_timeout() {
    let azurite = Azurite::start();
    let kv = azurite.store("faults");
    let port = azurite.addr.port().to_string();
    block(async move {
        kv.set("s", "k", b"v", 0).await.unwrap();

        // Frozen (SIGSTOP): connections open but nothing answers; each call gives up in time.
        crate::common::signal(azurite.pid(), "STOP");
        let started = Instant::now();
        let error = kv.get("s", "k").await.unwrap_err();
        let took = started.elapsed();
        crate::common::signal(azurite.pid(), "CONT");
        assert_eq!(error.kind, ImportError::Unavailable, "{error}");
        assert!(error.message.contains(&port), "names the endpoint: {error}");
        assert!(took < Duration::from_secs(7), "took {took:?}: {error}");
        assert_eq!(
            kv.get("s", "k").await.unwrap(),
            Some(b"v".to_vec()),
            "{}",
            azurite.log()
        );

        // Gone: refused at once.
        let endpoint = azurite.endpoint();
        drop(azurite);
        let started = Instant::now();
        let error = kv.set("s", "k", b"v", 0).await.unwrap_err();
        assert_eq!(error.kind, ImportError::Unavailable, "{error}");
        assert!(error.message.contains(&endpoint), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    });
}
