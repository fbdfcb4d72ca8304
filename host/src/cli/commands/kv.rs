//! `edgefn kv get|put|list|delete`: the local key-value store from the command line. While a host
//! holds the file it goes through that host's admin listener (found in the state directory's
//! `host.json`, or given with `--admin`); with no host running it opens the file itself. A host
//! that holds the file without an admin listener is refused with what to do, since only one
//! process can open it.

use crate::local::kv_file::{FileStore, InUse, Owner};
use crate::runtime::capabilities::kv::{KvBackend, KvPage};
use anyhow::{Context as _, bail};
use bytes::Bytes;
use edgefn_abi::kv as contract;
use http_body_util::{BodyExt as _, Full};
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `edgefn kv`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The state directory holding the store (as `edgefn serve --state-dir`) [default:
    /// $EDGEFN_STATE_DIR, else .edgefn/state in the current folder].
    #[arg(long, value_name = "DIR", global = true)]
    state_dir: Option<PathBuf>,
    /// A running host's admin listener, `http://ADDR` [default: the one the state directory's
    /// host.json names, when it answers; else the file itself].
    #[arg(long, value_name = "URL", global = true)]
    admin: Option<String>,
    /// Bearer token of that admin listener [default: the one in host.json].
    #[arg(
        long,
        env = "EDGEFN_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        global = true
    )]
    admin_token: Option<String>,
    #[command(subcommand)]
    op: Op,
}

#[derive(Debug, clap::Subcommand)]
enum Op {
    /// Print a key's value (its bytes, as stored) on stdout; exit 1 when it is absent.
    Get {
        /// The store's name.
        store: String,
        /// The key.
        key: String,
    },
    /// Store a value under a key (last writer wins).
    Put {
        /// The store's name.
        store: String,
        /// The key.
        key: String,
        /// The value, as text; or give --data.
        #[arg(conflicts_with = "data")]
        value: Option<String>,
        /// The value: `@FILE` for a file's bytes, `-` for stdin, anything else as is.
        #[arg(long, short = 'd', value_name = "@FILE|-|TEXT")]
        data: Option<String>,
        /// Seconds until the value expires: 0 for never, else at least 60.
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        ttl: u32,
    },
    /// Print the keys of a store, one a line, in byte order.
    List {
        /// The store's name.
        store: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// One page of at most this many keys (1-1000), its cursor on stderr [default: every
        /// key, page after page].
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Where the page starts: the cursor a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Remove a key (an absent key is not an error).
    Delete {
        /// The store's name.
        store: String,
        /// The key.
        key: String,
    },
}

/// How long `edgefn kv` waits for an admin listener (on loopback, it answers at once or not at
/// all).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the calls go.
enum Target {
    Admin { url: String, token: String },
    File(FileStore),
}

/// Runs one `edgefn kv` operation.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    check(&args.op)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let target = runtime.block_on(target(&args))?;
    let result = runtime.block_on(execute(&target, args.op));
    if let Target::File(store) = &target {
        store.release();
    }
    result
}

/// The contract's checks, before anything is reached, so a bad argument fails the same way
/// against a host and against the file.
fn check(op: &Op) -> anyhow::Result<()> {
    let (store, key) = match op {
        Op::Get { store, key } | Op::Delete { store, key } => (store, Some(key)),
        Op::Put {
            store, key, ttl, ..
        } => {
            contract::check_ttl(*ttl).context("--ttl")?;
            (store, Some(key))
        }
        Op::List {
            store,
            prefix,
            limit,
            cursor,
        } => {
            contract::check_prefix(prefix.as_bytes()).context("--prefix")?;
            if let Some(limit) = limit {
                if *limit == 0 {
                    bail!("--limit: give 1-{} keys per page", contract::MAX_LIST_LIMIT);
                }
                contract::check_list_limit(*limit).context("--limit")?;
            }
            if let Some(cursor) = cursor {
                contract::check_cursor(cursor.as_bytes()).context("--cursor")?;
            }
            (store, None)
        }
    };
    contract::check_store_name(store).context("STORE")?;
    if let Some(key) = key {
        contract::check_key(key.as_bytes()).context("KEY")?;
    }
    Ok(())
}

/// The running host's admin listener when there is one to use, else the file.
async fn target(args: &Args) -> anyhow::Result<Target> {
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(crate::local::default_state_dir);
    let owner = Owner::read(&state_dir);
    if let Some(url) = &args.admin {
        let token = args
            .admin_token
            .clone()
            .or_else(|| owner.as_ref().and_then(|o| o.admin_token.clone()))
            .context(
                "--admin needs the listener's token: give --admin-token (or EDGEFN_ADMIN_TOKEN)",
            )?;
        return Ok(Target::Admin {
            url: url.trim_end_matches('/').to_owned(),
            token,
        });
    }
    let running_admin = owner
        .as_ref()
        .and_then(|o| o.admin.clone().zip(o.admin_token.clone()));
    if let Some((url, token)) = running_admin
        && admin_request(&url, &token, http::Method::GET, "/healthz", Bytes::new())
            .await
            .is_ok_and(|(status, _)| status == 200)
    {
        return Ok(Target::Admin {
            url,
            token: args.admin_token.clone().unwrap_or(token),
        });
    }
    let store = FileStore::new(&state_dir, Owner::this_process("kv"));
    let opened = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.open()).await?
    };
    match opened {
        Ok(()) => Ok(Target::File(store)),
        Err(error) if error.downcast_ref::<InUse>().is_some() => match owner {
            Some(owner) if owner.pid != std::process::id() => match owner.admin {
                None => bail!(
                    "the key-value store {} is open in edgefn {} (pid {}), which has no admin listener, and only one process can open the file: restart it with --admin-listen (edgefn kv then goes through it), or stop it",
                    store.path().display(),
                    owner.command,
                    owner.pid
                ),
                Some(url) => bail!(
                    "the key-value store {} is open in edgefn {} (pid {}), whose admin listener {url} does not answer: check that it is up (or give --admin and --admin-token), or stop it",
                    store.path().display(),
                    owner.command,
                    owner.pid
                ),
            },
            _ => Err(error),
        },
        Err(error) => Err(error),
    }
}

async fn execute(target: &Target, op: Op) -> anyhow::Result<()> {
    match op {
        Op::Get { store, key } => {
            let value = match target {
                Target::File(kv) => kv.get(&store, &key).await?,
                Target::Admin { url, token } => {
                    let path = key_path(&store, &key);
                    match admin_call(url, token, http::Method::GET, &path, Bytes::new()).await? {
                        (200, body) => Some(body.to_vec()),
                        (404, _) => None,
                        (status, body) => bail!("{}", refused(url, status, &body)),
                    }
                }
            };
            let Some(value) = value else {
                bail!("{key:?} is not in store {store:?}");
            };
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&value)?;
            stdout.flush()?;
        }
        Op::Put {
            store,
            key,
            value,
            data,
            ttl,
        } => {
            let value = match (value, data) {
                (Some(text), None) => text.into_bytes(),
                (None, Some(data)) => read_data(&data)?,
                _ => bail!("give the value: edgefn kv put STORE KEY VALUE, or --data @FILE|-"),
            };
            contract::check_value(&value)?;
            match target {
                Target::File(kv) => kv.set(&store, &key, &value, ttl).await?,
                Target::Admin { url, token } => {
                    let path = format!("{}?ttl={ttl}", key_path(&store, &key));
                    expect_ok(
                        url,
                        admin_call(url, token, http::Method::PUT, &path, value.into()).await?,
                    )?;
                }
            }
        }
        Op::Delete { store, key } => match target {
            Target::File(kv) => kv.delete(&store, &key).await?,
            Target::Admin { url, token } => {
                let path = key_path(&store, &key);
                expect_ok(
                    url,
                    admin_call(url, token, http::Method::DELETE, &path, Bytes::new()).await?,
                )?;
            }
        },
        Op::List {
            store,
            prefix,
            limit,
            mut cursor,
        } => {
            let mut stdout = std::io::stdout().lock();
            loop {
                let page = list(
                    target,
                    &store,
                    &prefix,
                    cursor.as_deref(),
                    limit.unwrap_or(0),
                )
                .await?;
                for key in &page.keys {
                    writeln!(stdout, "{key}")?;
                }
                cursor = page.cursor;
                match (&cursor, limit) {
                    (None, _) => break,
                    (Some(next), Some(_)) => {
                        stdout.flush()?;
                        eprintln!("next page: --cursor {}", shell_quote(next));
                        break;
                    }
                    (Some(_), None) => {}
                }
            }
            stdout.flush()?;
        }
    }
    Ok(())
}

async fn list(
    target: &Target,
    store: &str,
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
) -> anyhow::Result<KvPage> {
    let limit = contract::check_list_limit(limit)?;
    match target {
        Target::File(kv) => Ok(kv.list(store, prefix, cursor, limit).await?),
        Target::Admin { url, token } => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("prefix", prefix);
            query.append_pair("limit", &limit.to_string());
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
            let path = format!("/kv/{store}?{}", query.finish());
            let body = expect_ok(
                url,
                admin_call(url, token, http::Method::GET, &path, Bytes::new()).await?,
            )?;
            #[derive(serde::Deserialize)]
            struct Page {
                keys: Vec<String>,
                cursor: Option<String>,
            }
            let page: Page = serde_json::from_slice(&body)
                .with_context(|| format!("{url} answered a listing that is not JSON"))?;
            Ok(KvPage {
                keys: page.keys,
                cursor: page.cursor,
            })
        }
    }
}

/// `/kv/STORE/KEY`, the key percent-encoded.
fn key_path(store: &str, key: &str) -> String {
    let key = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC);
    format!("/kv/{store}/{key}")
}

/// `value` as the shell would take it back.
fn shell_quote(value: &str) -> String {
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// The bytes `--data` names.
fn read_data(data: &str) -> anyhow::Result<Vec<u8>> {
    if data == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading the value from stdin")?;
        Ok(bytes)
    } else if let Some(file) = data.strip_prefix('@') {
        std::fs::read(file).with_context(|| format!("cannot read --data file {file}"))
    } else {
        Ok(data.as_bytes().to_vec())
    }
}

fn expect_ok(url: &str, (status, body): (u16, Bytes)) -> anyhow::Result<Bytes> {
    if status == 200 {
        Ok(body)
    } else {
        bail!("{}", refused(url, status, &body))
    }
}

fn refused(url: &str, status: u16, body: &[u8]) -> String {
    let message = String::from_utf8_lossy(body);
    let message = message.trim();
    match status {
        401 => format!(
            "the admin listener {url} refused the token (401): give the one edgefn serve printed with --admin-token"
        ),
        _ => format!("the admin listener {url} answered {status}: {message}"),
    }
}

/// [`admin_request`], naming the listener when it cannot be reached.
async fn admin_call(
    url: &str,
    token: &str,
    method: http::Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    admin_request(url, token, method, path, body)
        .await
        .with_context(|| format!("cannot reach the admin listener {url}"))
}

/// One request to an admin listener at `url` (`http://ADDR`).
async fn admin_request(
    url: &str,
    token: &str,
    method: http::Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    let authority = url
        .strip_prefix("http://")
        .with_context(|| format!("{url} is not an http:// URL"))?
        .trim_end_matches('/');
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(authority).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, authority)
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Full::new(body))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    tokio::time::timeout(ADMIN_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {ADMIN_TIMEOUT:?}"))?
}
