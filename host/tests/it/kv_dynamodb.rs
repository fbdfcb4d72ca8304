//! The Lambda key-value backend (`edgefn_host::platform::aws_lambda::DynamoDbStore`) against real
//! DynamoDB emulators on loopback: moto_server with signature checking on (an IAM user and key made
//! by its first unauthenticated calls, so a wrong secret fails as on AWS), and dynalite, which
//! enforces DynamoDB's 400 KB item limit. Both are installed by `scripts/setup.sh dynamodb` (which
//! `make test` runs) into `target/tools`; without them these tests fail and say so.
//!
//! [`Moto`] is also what the Lambda platform harness (`platforms/lambda.rs`) starts when a guest is
//! granted stores.

use crate::platforms::{Process, free_port};
use bytes::Bytes;
use edgefn_abi::ImportError;
use edgefn_host::platform::aws_lambda::sigv4::{self, Credentials};
use edgefn_host::platform::aws_lambda::{DynamoDbConfig, DynamoDbStore};
use edgefn_host::platform::service_client::ServiceClient;
use edgefn_host::runtime::capabilities::kv::{KvBackend, KvError};
use http::{Method, Request, Uri};
use http_body_util::Full;
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The region every emulator request is signed for.
pub const REGION: &str = "us-east-1";
/// The table the tests create.
pub const TABLE: &str = "edgefn-kv";
/// The largest value the contract allows (256 KiB).
const MAX_VALUE: usize = edgefn_abi::kv::MAX_VALUE_BYTES;
/// How long an emulator may take to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools")
}

/// Runs `future` to completion on a runtime of its own.
pub fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Starts `command` (given the port) on a free loopback port until the process that listens is
/// the one started: two tests may be handed the same free port, and the loser exits.
fn start_listening(
    what: &str,
    dir: &Path,
    command: impl Fn(u16) -> Command,
) -> (Process, SocketAddr) {
    let log = dir.join(format!("{what}.log"));
    (0..5)
        .find_map(|_| {
            let port = free_port();
            let child = command(port)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
            let mut process = Process {
                child,
                log: log.clone(),
            };
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let started = Instant::now();
            while TcpStream::connect(addr).is_err() {
                if !process.is_running() {
                    return None;
                }
                assert!(
                    started.elapsed() < STARTUP_TIMEOUT,
                    "{what} did not listen on {addr} within {STARTUP_TIMEOUT:?}: {}",
                    process.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            process.is_running().then_some((process, addr))
        })
        .unwrap_or_else(|| {
            panic!(
                "{what} exited on five ports in a row: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
}

/// One signed request to an emulator: `(status, body)`.
async fn signed_call(
    client: &ServiceClient,
    endpoint: &str,
    credentials: &Credentials,
    service: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, String) {
    let uri: Uri = format!("{endpoint}/").parse().unwrap();
    let mut request = Request::post(uri.clone());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let mut request = request.body(Full::new(Bytes::new())).unwrap();
    sigv4::sign(
        &Method::POST,
        &uri,
        request.headers_mut(),
        &body,
        credentials,
        REGION,
        service,
        unix_now(),
    )
    .unwrap();
    *request.body_mut() = Full::new(Bytes::from(body));
    let response = client
        .send(request, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{service} call to {endpoint}: {e}"));
    (
        response.status().as_u16(),
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

/// A DynamoDB JSON call, `(status, body)`, on a thread of its own (so a test may make one while
/// it drives the backend on its runtime).
pub fn dynamodb_call(
    endpoint: &str,
    credentials: &Credentials,
    operation: &str,
    body: Value,
) -> (u16, Value) {
    let (status, text) = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                block(signed_call(
                    &ServiceClient::new(16 << 20),
                    endpoint,
                    credentials,
                    "dynamodb",
                    &[
                        ("content-type", "application/x-amz-json-1.0".into()),
                        ("x-amz-target", format!("DynamoDB_20120810.{operation}")),
                    ],
                    serde_json::to_vec(&body).unwrap(),
                ))
            })
            .join()
            .unwrap()
    });
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Creates the edgefn table (`pk` S partition key, `sk` S sort key, on-demand), as the Lambda
/// template declares it.
pub fn create_table(endpoint: &str, credentials: &Credentials, table: &str) {
    let (status, body) = dynamodb_call(
        endpoint,
        credentials,
        "CreateTable",
        json!({
            "TableName": table,
            "AttributeDefinitions": [
                { "AttributeName": "pk", "AttributeType": "S" },
                { "AttributeName": "sk", "AttributeType": "S" },
            ],
            "KeySchema": [
                { "AttributeName": "pk", "KeyType": "HASH" },
                { "AttributeName": "sk", "KeyType": "RANGE" },
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }),
    );
    assert_eq!(status, 200, "CreateTable {table} at {endpoint}: {body}");
}

/// The text of `<tag>` in an XML answer.
fn xml_element(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_owned()
}

/// moto_server checking signatures: its first three calls (unauthenticated) make an IAM user with
/// an inline policy allowing DynamoDB and an access key; every call after that must be signed with
/// that key, as on AWS.
pub struct Moto {
    process: Process,
    pub endpoint: String,
    pub credentials: Credentials,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        let moto_server = tools().join("moto-venv/bin/moto_server");
        assert!(
            moto_server.is_file(),
            "moto_server is not installed at {} (the DynamoDB emulator these tests run against): run `scripts/setup.sh dynamodb` (`make test` does)",
            moto_server.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let (process, addr) = start_listening("moto_server", dir.path(), |port| {
            let mut command = Command::new(&moto_server);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
                .current_dir(dir.path());
            command
        });
        let endpoint = format!("http://{addr}");
        let credentials = block(Self::make_user(&endpoint));
        Moto {
            process,
            endpoint,
            credentials,
            _dir: dir,
        }
    }

    /// The three unauthenticated IAM calls; moto routes them by the signature's service, so they
    /// are signed, with any key.
    async fn make_user(endpoint: &str) -> Credentials {
        let anyone = Credentials {
            access_key_id: "AKIDBOOTSTRAP".into(),
            secret_access_key: "bootstrap".into(),
            session_token: None,
        };
        let client = ServiceClient::new(1 << 20);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}]}"#;
        let mut answer = String::new();
        for params in [
            vec![("Action", "CreateUser"), ("UserName", "edgefn")],
            vec![
                ("Action", "PutUserPolicy"),
                ("UserName", "edgefn"),
                ("PolicyName", "edgefn-kv"),
                ("PolicyDocument", policy),
            ],
            vec![("Action", "CreateAccessKey"), ("UserName", "edgefn")],
        ] {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter().chain(&[("Version", "2010-05-08")]))
                .finish();
            let (status, text) = signed_call(
                &client,
                endpoint,
                &anyone,
                "iam",
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8".into(),
                )],
                body.into_bytes(),
            )
            .await;
            assert_eq!(status, 200, "IAM {params:?} on moto at {endpoint}: {text}");
            answer = text;
        }
        Credentials {
            access_key_id: xml_element(&answer, "AccessKeyId"),
            secret_access_key: xml_element(&answer, "SecretAccessKey"),
            session_token: None,
        }
    }

    /// The backend's settings for `table` on this moto.
    pub fn config(&self, table: &str) -> DynamoDbConfig {
        DynamoDbConfig {
            table: table.into(),
            endpoint: self.endpoint.clone(),
            region: REGION.into(),
            credentials: self.credentials.clone(),
            timeout: Duration::from_secs(5),
        }
    }

    /// The variables the Lambda bootstrap reads for the same settings.
    pub fn lambda_env(&self, table: &str) -> Vec<(String, String)> {
        vec![
            ("EDGEFN_KV_DYNAMODB_TABLE".into(), table.into()),
            ("EDGEFN_KV_DYNAMODB_ENDPOINT".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), REGION.into()),
            (
                "AWS_ACCESS_KEY_ID".into(),
                self.credentials.access_key_id.clone(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.credentials.secret_access_key.clone(),
            ),
        ]
    }

    pub fn create_table(&self, table: &str) {
        create_table(&self.endpoint, &self.credentials, table);
    }

    pub fn call(&self, operation: &str, body: Value) -> (u16, Value) {
        dynamodb_call(&self.endpoint, &self.credentials, operation, body)
    }

    /// Stops the emulator, as a backend outage.
    pub fn stop(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
    }
}

/// dynalite (in memory), which checks item sizes as DynamoDB does but not signatures.
pub struct Dynalite {
    _process: Process,
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl Dynalite {
    pub fn start() -> Dynalite {
        let cli = tools().join("dynalite/node_modules/dynalite/cli.js");
        assert!(
            cli.is_file(),
            "dynalite is not installed at {}: run `scripts/setup.sh dynamodb` (`make test` does)",
            cli.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let (process, addr) = start_listening("dynalite", dir.path(), |port| {
            let mut command = Command::new("node");
            command
                .arg(&cli)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--createTableMs", "0"]);
            command
        });
        Dynalite {
            _process: process,
            endpoint: format!("http://{addr}"),
            _dir: dir,
        }
    }
}

fn test_credentials() -> Credentials {
    Credentials {
        access_key_id: "AKIDDYNALITE".into(),
        secret_access_key: "any".into(),
        session_token: None,
    }
}

fn store(config: DynamoDbConfig) -> DynamoDbStore {
    DynamoDbStore::new(config).unwrap()
}

fn item(store: &str, key: &str, value: &[u8], exp: Option<u64>) -> Value {
    use base64::Engine as _;
    let mut item = json!({
        "pk": { "S": store },
        "sk": { "S": key },
        "v": { "B": base64::engine::general_purpose::STANDARD.encode(value) },
    });
    if let Some(exp) = exp {
        item["exp"] = json!({ "N": exp.to_string() });
    }
    item
}

/// Every key under `prefix`, page by page, and the size of each page.
async fn list_all(
    kv: &DynamoDbStore,
    store: &str,
    prefix: &str,
    limit: u32,
) -> (Vec<String>, Vec<usize>) {
    let (mut keys, mut pages, mut cursor) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let page = kv
            .list(store, prefix, cursor.as_deref(), limit)
            .await
            .unwrap();
        pages.push(page.keys.len());
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return (keys, pages),
        }
        assert!(pages.len() < 100, "the listing does not end");
    }
}

#[test]
fn the_store_round_trips_on_moto_with_signatures_checked() {
    let moto = Moto::start();
    moto.create_table(TABLE);
    let kv = store(moto.config(TABLE));
    assert!(kv.describe().contains(TABLE), "{}", kv.describe());
    block(async {
        // set, get, overwrite, exists, delete; a missing key; stores apart.
        assert_eq!(kv.get("default", "greeting").await.unwrap(), None);
        kv.set("default", "greeting", b"hello", 0).await.unwrap();
        assert_eq!(
            kv.get("default", "greeting").await.unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        kv.set("default", "greeting", b"hi again", 0).await.unwrap();
        assert_eq!(
            kv.get("default", "greeting").await.unwrap().as_deref(),
            Some(&b"hi again"[..])
        );
        assert!(kv.exists("default", "greeting").await.unwrap());
        assert!(!kv.exists("other", "greeting").await.unwrap());
        assert_eq!(kv.get("other", "greeting").await.unwrap(), None);
        kv.delete("default", "greeting").await.unwrap();
        assert_eq!(kv.get("default", "greeting").await.unwrap(), None);
        assert!(!kv.exists("default", "greeting").await.unwrap());
        // Deleting an absent key is success.
        kv.delete("default", "greeting").await.unwrap();

        // An empty value and the largest value.
        kv.set("default", "empty", b"", 0).await.unwrap();
        assert_eq!(
            kv.get("default", "empty").await.unwrap().as_deref(),
            Some(&b""[..])
        );
        let big: Vec<u8> = (0..MAX_VALUE).map(|i| (i * 7 % 251) as u8).collect();
        kv.set("default", "big", &big, 0).await.unwrap();
        assert_eq!(kv.get("default", "big").await.unwrap(), Some(big));

        // A listing over several pages, in byte order, with the prefix's keys only.
        let mut written: Vec<String> = (0..7).map(|i| format!("user/{i:02}")).collect();
        written.extend(["user/é".into(), "user/z".into(), "user/~".into()]);
        for key in written.iter().rev() {
            kv.set("default", key, key.as_bytes(), 0).await.unwrap();
        }
        kv.set("default", "users", b"not under user/", 0)
            .await
            .unwrap();
        kv.set("other", "user/99", b"another store", 0)
            .await
            .unwrap();
        let mut expected = written.clone();
        expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(expected.last().unwrap(), "user/é", "UTF-8 sorts after ~");
        let (keys, pages) = list_all(&kv, "default", "user/", 3).await;
        assert_eq!(keys, expected);
        assert_eq!(pages, [3, 3, 3, 1]);
        let (keys, _) = list_all(&kv, "default", "", 1000).await;
        assert_eq!(keys.len(), expected.len() + 3, "{keys:?}");
        assert!(keys.is_sorted_by(|a, b| a.as_bytes() <= b.as_bytes()));
        // A page that ends exactly at the last key says there is no more.
        let page = kv.list("default", "user/", None, 10).await.unwrap();
        assert_eq!((page.keys.len(), page.cursor), (10, None));
        // A cursor that is not the store's is refused as invalid.
        let refused = kv
            .list("default", "user/", Some("not-a-cursor!"), 10)
            .await
            .unwrap_err();
        assert_eq!(refused.kind, ImportError::Invalid, "{refused}");

        // TTL: `exp` is written; an item past it is never returned.
        let before = unix_now();
        kv.set("default", "session", b"s", 60).await.unwrap();
        let (status, answer) = moto.call(
            "GetItem",
            json!({ "TableName": TABLE, "Key": { "pk": { "S": "default" }, "sk": { "S": "session" } } }),
        );
        assert_eq!(status, 200, "{answer}");
        let exp: u64 = answer["Item"]["exp"]["N"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (before + 60..=unix_now() + 60).contains(&exp),
            "exp {exp} is not 60 s after {before}"
        );
        assert!(kv.exists("default", "session").await.unwrap());
        let (status, answer) = moto.call(
            "PutItem",
            json!({ "TableName": TABLE, "Item": item("default", "user/expired", b"old", Some(unix_now() - 5)) }),
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(kv.get("default", "user/expired").await.unwrap(), None);
        assert!(!kv.exists("default", "user/expired").await.unwrap());
        let (keys, _) = list_all(&kv, "default", "user/", 4).await;
        assert_eq!(keys, expected, "the expired key is listed");
    });
}

#[test]
fn a_wrong_secret_or_key_is_unavailable_and_names_what_to_fix() {
    let moto = Moto::start();
    moto.create_table(TABLE);
    let mut config = moto.config(TABLE);
    config.credentials.secret_access_key = "not-the-secret".into();
    let error: KvError = block(store(config).get("default", "k")).unwrap_err();
    assert_eq!(error.kind, ImportError::Unavailable, "{error}");
    assert!(
        error.message.contains("SignatureDoesNotMatch")
            && error.message.contains("signature")
            && error.message.contains("AWS_SECRET_ACCESS_KEY"),
        "{error}"
    );

    let mut config = moto.config(TABLE);
    config.credentials.access_key_id = "AKIAUNKNOWNUNKNOWN00".into();
    let error = block(store(config).set("default", "k", b"v", 0)).unwrap_err();
    assert_eq!(error.kind, ImportError::Unavailable, "{error}");
    assert!(
        error.message.contains("InvalidClientTokenId") && error.message.contains("execution role"),
        "{error}"
    );

    // The right key still works: the refusals were the signature's.
    block(store(moto.config(TABLE)).set("default", "k", b"v", 0)).unwrap();
}

#[test]
fn a_missing_table_is_named_with_how_to_create_it() {
    let moto = Moto::start();
    let error = block(store(moto.config("no-such-table")).get("default", "k")).unwrap_err();
    assert_eq!(error.kind, ImportError::Unavailable, "{error}");
    for part in [
        "no-such-table",
        "ResourceNotFoundException",
        "partition key pk",
        "EDGEFN_KV_DYNAMODB_TABLE",
    ] {
        assert!(error.message.contains(part), "{part:?} missing: {error}");
    }
}

#[test]
fn moto_stopped_mid_run_is_unavailable_quickly_naming_the_endpoint() {
    let mut moto = Moto::start();
    moto.create_table(TABLE);
    let kv = store(moto.config(TABLE));
    block(async {
        kv.set("default", "k", b"v", 0).await.unwrap();
        moto.stop();
        let started = Instant::now();
        let error = kv.get("default", "k").await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(error.kind, ImportError::Unavailable, "{error}");
        assert!(error.message.contains(&moto.endpoint), "{error}");
        assert!(
            kv.list("default", "", None, 10).await.unwrap_err().kind == ImportError::Unavailable
        );
    });
}

#[test]
fn a_silent_endpoint_fails_within_the_timeout() {
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let kv = store(DynamoDbConfig {
        table: TABLE.into(),
        endpoint: endpoint.clone(),
        region: REGION.into(),
        credentials: test_credentials(),
        timeout: Duration::from_millis(300),
    });
    let started = Instant::now();
    let error = block(kv.get("default", "k")).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(error.kind, ImportError::Unavailable, "{error}");
    assert!(
        error.message.contains(&endpoint) && error.message.contains("300 ms"),
        "{error}"
    );
}

/// DynamoDB's item limit is 400 KB, attribute names and values together
/// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html; dynalite
/// counts it as 409,600 bytes): the largest portable item (a 512-byte key and a 256 KiB value) is
/// 262,668 bytes, 146,932 under it.
#[test]
fn dynalite_takes_the_largest_portable_item_and_refuses_past_400_kb() {
    let dynalite = Dynalite::start();
    let credentials = test_credentials();
    create_table(&dynalite.endpoint, &credentials, TABLE);
    let kv = store(DynamoDbConfig {
        table: TABLE.into(),
        endpoint: dynalite.endpoint.clone(),
        region: REGION.into(),
        credentials,
        timeout: Duration::from_secs(5),
    });
    let longest_key = "k".repeat(edgefn_abi::kv::MAX_KEY_BYTES);
    let value = vec![0xa5u8; MAX_VALUE];
    // pk "default" + sk + "v" + value: what DynamoDB counts toward the item size.
    let item_bytes = "pk".len() + "default".len() + "sk".len() + longest_key.len() + 1 + MAX_VALUE;
    assert!(item_bytes < 400 * 1000, "{item_bytes}");
    block(async {
        kv.set("default", &longest_key, &value, 60).await.unwrap();
        assert_eq!(kv.get("default", &longest_key).await.unwrap(), Some(value));
        // Past the limit DynamoDB refuses the item, and the guest would see why.
        let error = kv
            .set("default", "too-big", &vec![0u8; 400 * 1024], 0)
            .await
            .unwrap_err();
        assert_eq!(error.kind, ImportError::Unavailable, "{error}");
        assert!(error.message.contains("Item size"), "{error}");
    });
    println!(
        "largest portable item: {item_bytes} bytes; DynamoDB's limit 400 KB ({} bytes): {} bytes to spare",
        400 * 1024,
        400 * 1024 - item_bytes
    );
}
