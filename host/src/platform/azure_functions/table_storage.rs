//! The key-value store on Azure Functions: one table in the app's storage account
//! (`AzureWebJobsStorage`), spoken to over its REST API with Shared Key Lite (`shared_key`).
//!
//! Mapping (`docs/kv.md`): PartitionKey = the store name (already valid: `[a-z][a-z0-9_]*`),
//! RowKey = each byte of the key's UTF-8 as one character, byte `b` as U+0100 + `b` (`Ā`..`ǿ`):
//! no key can make it invalid (RowKeys may not hold `/ \ # ?` or control characters), it sorts as
//! the bytes do (one character per byte, in code point order, which UTF-16 and UTF-8 comparisons
//! both keep), and a 512-byte key is 512 characters, 1 KiB in UTF-16: the RowKey limit (Azurite
//! refuses a RowKey of more than 512 characters, so hex, at two characters per byte, cannot hold
//! the longest keys). The value is split over
//! `Edm.Binary` properties `v0`, `v1`, ... of at most 64 KiB each (the property limit; 256 KiB is
//! four), with `n` the number of parts and `exp` its expiry in Unix seconds (`Edm.Int64`, 0 for
//! none). Table storage has no expiry of its own, so every read leaves out what has expired.

use super::settings::{STORAGE_SETTING, StorageAccount};
use super::shared_key;
use crate::platform::service_client::{ServiceClient, ServiceError, ServiceErrorKind};
use crate::runtime::capabilities::kv::memory::{expiry, live, unix_now};
use crate::runtime::capabilities::kv::{KvBackend, KvError, KvFuture, KvPage};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use edgefn_abi::ImportError;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use std::time::{Duration, SystemTime};

/// The REST API version requests ask for (the one the emulator and the cloud both serve).
const API_VERSION: &str = "2019-02-02";
/// Largest `Edm.Binary` property value Table storage accepts.
const PART_BYTES: usize = 64 * 1024;
/// How long one request may take, connecting included: a store that does not answer fails the
/// call as unavailable well within a typical invocation deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Most entities one query returns (Table storage's own maximum for `$top`).
const MAX_QUERY_PAGE: u32 = 1000;
/// Queries one `list` call may make while following continuations, so a long run of expired
/// entities cannot hold it: past this it returns what it has, with a cursor to go on.
const MAX_QUERIES_PER_LIST: usize = 8;
/// Largest response read: a full list page of 512-character RowKeys, or a 256 KiB value as
/// base64, fit with room to spare.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Query values: everything but the unreserved characters is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A key-value store in one Table storage table.
#[derive(Debug)]
pub struct TableStore {
    account: StorageAccount,
    table: String,
    /// `scheme://host[:port]` of the Table endpoint.
    origin: String,
    /// The endpoint's path (`/devstoreaccount1` path-style, else empty), before the resource.
    base_path: String,
    client: ServiceClient,
    /// Set once the table is known to exist (created, or found already there).
    created: tokio::sync::OnceCell<()>,
    /// `$top` of one query; lower only to exercise continuations.
    query_page: u32,
}

impl TableStore {
    /// A store in table `table` of `account`; nothing connects until the first call, which
    /// creates the table when it does not exist.
    pub fn new(account: StorageAccount, table: &str) -> anyhow::Result<TableStore> {
        let uri: http::Uri = account.table_endpoint.parse().map_err(|e| {
            anyhow::anyhow!(
                "the Table endpoint {:?} of {STORAGE_SETTING} is not a URL: {e}",
                account.table_endpoint
            )
        })?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            anyhow::bail!(
                "the Table endpoint {:?} of {STORAGE_SETTING} is not an absolute URL",
                account.table_endpoint
            );
        };
        let origin = format!("{scheme}://{authority}");
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(TableStore {
            account,
            table: table.to_owned(),
            origin,
            base_path,
            client: ServiceClient::new(MAX_RESPONSE_BYTES),
            created: tokio::sync::OnceCell::new(),
            query_page: MAX_QUERY_PAGE,
        })
    }

    /// The same store asking for at most `entities` per query (1-1000), so that a listing follows
    /// Table storage's continuations sooner; for tests and tuning.
    pub fn with_query_page(mut self, entities: u32) -> TableStore {
        self.query_page = entities.clamp(1, MAX_QUERY_PAGE);
        self
    }

    /// The endpoint, for messages.
    fn endpoint(&self) -> &str {
        &self.account.table_endpoint
    }

    /// Sends one signed request for `resource` (a path under the endpoint, without its `/`).
    async fn send(
        &self,
        method: Method,
        resource: &str,
        query: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response<Bytes>, KvError> {
        let path = format!("{}/{resource}", self.base_path);
        let url = match query {
            Some(query) => format!("{}{path}?{query}", self.origin),
            None => format!("{}{path}", self.origin),
        };
        let date = shared_key::http_date(SystemTime::now());
        let signed = shared_key::canonicalized_resource(&self.account.name, &path, query);
        let authorization =
            shared_key::authorization(&self.account.name, &self.account.key, &date, &signed);
        let mut request = Request::builder()
            .method(method)
            .uri(url)
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header("accept", "application/json;odata=nometadata")
            .header("dataserviceversion", "3.0;NetFx")
            .header("maxdataserviceversion", "3.0;NetFx")
            .header("authorization", authorization);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| {
                KvError::unavailable(format!(
                    "cannot build a request for Table storage at {}: {e}",
                    self.endpoint()
                ))
            })?;
        self.client
            .send(request, REQUEST_TIMEOUT)
            .await
            .map_err(|e| self.transport_error(&e))
    }

    /// A request that got no answer: the store is unavailable, and the message says where.
    fn transport_error(&self, error: &ServiceError) -> KvError {
        let why = match error.kind {
            ServiceErrorKind::Connect => "cannot be reached",
            ServiceErrorKind::Timeout => "did not answer in time",
            ServiceErrorKind::TooLarge | ServiceErrorKind::Broken => "broke off the exchange",
        };
        tracing::warn!(endpoint = %self.endpoint(), error = %error, "table storage {why}");
        KvError::unavailable(format!(
            "the key-value store's Table storage at {} {why} ({error}); check the account's endpoint in the {STORAGE_SETTING} app setting and that the account is reachable",
            self.endpoint()
        ))
    }

    /// An answer that is an error: what Table storage said, mapped to the import's codes.
    fn status_error(&self, what: &str, response: &Response<Bytes>) -> KvError {
        let status = response.status();
        let (code, message) = error_details(response);
        tracing::warn!(endpoint = %self.endpoint(), %status, %code, %message, "table storage refused {what}");
        if status == StatusCode::FORBIDDEN {
            return KvError::unavailable(format!(
                "Table storage at {} refused to {what} ({status} {code}): the account key in the {STORAGE_SETTING} app setting is wrong or was rotated; set {STORAGE_SETTING} to a current connection string of account {}",
                self.endpoint(),
                self.account.name
            ));
        }
        let detail = format!(
            "Table storage at {} could not {what}: {status} {code}: {message}",
            self.endpoint()
        );
        if status == StatusCode::SERVICE_UNAVAILABLE || code == "ServerBusy" {
            return KvError::new(
                ImportError::RateLimited,
                format!("{detail} (the account is throttling; retry later)"),
            );
        }
        KvError::unavailable(detail)
    }

    /// Creates the table on first use; one that already exists is fine.
    async fn ensure_table(&self) -> Result<(), KvError> {
        self.created
            .get_or_try_init(|| async {
                let body = serde_json::to_vec(&json!({ "TableName": self.table })).unwrap();
                let response = self
                    .send(
                        Method::POST,
                        "Tables",
                        None,
                        &[("prefer", "return-no-content")],
                        Some(body),
                    )
                    .await?;
                match response.status().as_u16() {
                    201 | 204 => {
                        tracing::info!(table = %self.table, endpoint = %self.endpoint(), "created the key-value table");
                        Ok(())
                    }
                    409 => Ok(()),
                    _ => Err(self.status_error(
                        &format!("create the key-value table {}", self.table),
                        &response,
                    )),
                }
            })
            .await
            .map(|_| ())
    }

    /// The resource of one entity.
    /// The RowKey is percent-encoded as UTF-8 (and signed so, as sent).
    fn entity(&self, store: &str, row_key: &str) -> String {
        format!(
            "{}(PartitionKey='{store}',RowKey='{}')",
            self.table,
            utf8_percent_encode(row_key, QUERY_VALUE)
        )
    }

    /// The entity for `key`, or `None` when absent; `select` limits the properties returned.
    async fn read(
        &self,
        store: &str,
        key: &str,
        select: Option<&str>,
    ) -> Result<Option<Map<String, Value>>, KvError> {
        self.ensure_table().await?;
        let query = select.map(|s| format!("$select={s}"));
        let response = self
            .send(
                Method::GET,
                &self.entity(store, &row_key(key)),
                query.as_deref(),
                &[],
                None,
            )
            .await?;
        match response.status() {
            StatusCode::OK => match serde_json::from_slice(response.body()) {
                Ok(Value::Object(entity)) => Ok(Some(entity)),
                _ => Err(KvError::unavailable(format!(
                    "Table storage at {} answered a read of key {key:?} with something other than an entity",
                    self.endpoint()
                ))),
            },
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(&format!("read key {key:?}"), &response)),
        }
    }

    /// One query of the listing: its live keys (RowKeys) and the continuation, if any.
    async fn query(
        &self,
        filter: &str,
        top: u32,
        continuation: Option<&(String, String)>,
    ) -> Result<(Vec<String>, Option<(String, String)>), KvError> {
        let mut query = format!(
            "$filter={}&$top={top}&$select=RowKey,exp",
            utf8_percent_encode(filter, QUERY_VALUE)
        );
        if let Some((partition, row)) = continuation {
            query.push_str(&format!(
                "&NextPartitionKey={}&NextRowKey={}",
                utf8_percent_encode(partition, QUERY_VALUE),
                utf8_percent_encode(row, QUERY_VALUE)
            ));
        }
        let response = self
            .send(
                Method::GET,
                &format!("{}()", self.table),
                Some(&query),
                &[],
                None,
            )
            .await?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error("list keys", &response));
        }
        let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        let Some(entities) = body.get("value").and_then(Value::as_array) else {
            return Err(KvError::unavailable(format!(
                "Table storage at {} answered a query with no \"value\" list",
                self.endpoint()
            )));
        };
        let rows = entities
            .iter()
            .filter(|e| live(int_property(e, "exp").unwrap_or(0)))
            .filter_map(|e| e.get("RowKey").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let next = match (
            header("x-ms-continuation-nextpartitionkey"),
            header("x-ms-continuation-nextrowkey"),
        ) {
            (Some(partition), Some(row)) => Some((partition, row)),
            _ => None,
        };
        Ok((rows, next))
    }
}

impl KvBackend for TableStore {
    fn describe(&self) -> String {
        format!(
            "Table storage table {} of account {} ({})",
            self.table,
            self.account.name,
            self.endpoint()
        )
    }

    fn get<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let Some(entity) = self.read(store, key, None).await? else {
                return Ok(None);
            };
            let entity = Value::Object(entity);
            if !live(int_property(&entity, "exp").unwrap_or(0)) {
                return Ok(None);
            }
            join_parts(&entity).map(Some).ok_or_else(|| {
                KvError::unavailable(format!(
                    "the entity of key {key:?} in store {store} of Table storage table {} is not an edgefn value (no parts n, v0, ...); delete it or set the key again",
                    self.table
                ))
            })
        })
    }

    fn set<'a>(
        &'a self,
        store: &'a str,
        key: &'a str,
        value: &'a [u8],
        ttl_seconds: u32,
    ) -> KvFuture<'a, ()> {
        Box::pin(async move {
            self.ensure_table().await?;
            let row = row_key(key);
            let mut entity = Map::new();
            entity.insert("PartitionKey".into(), json!(store));
            entity.insert("RowKey".into(), json!(row));
            split_parts(value, &mut entity);
            entity.insert("exp".into(), json!(expiry(ttl_seconds).to_string()));
            entity.insert("exp@odata.type".into(), json!("Edm.Int64"));
            let body = serde_json::to_vec(&Value::Object(entity)).unwrap();
            // PUT without If-Match: insert or replace, so the last writer wins.
            let response = self
                .send(
                    Method::PUT,
                    &self.entity(store, &row),
                    None,
                    &[],
                    Some(body),
                )
                .await?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(self.status_error(&format!("store key {key:?}"), &response))
            }
        })
    }

    fn delete<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        Box::pin(async move {
            self.ensure_table().await?;
            let response = self
                .send(
                    Method::DELETE,
                    &self.entity(store, &row_key(key)),
                    None,
                    &[("if-match", "*")],
                    None,
                )
                .await?;
            match response.status() {
                status if status.is_success() => Ok(()),
                StatusCode::NOT_FOUND => Ok(()),
                _ => Err(self.status_error(&format!("delete key {key:?}"), &response)),
            }
        })
    }

    fn exists<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        Box::pin(async move {
            let entity = self.read(store, key, Some("exp")).await?;
            Ok(entity.is_some_and(|e| live(int_property(&Value::Object(e), "exp").unwrap_or(0))))
        })
    }

    fn list<'a>(
        &'a self,
        store: &'a str,
        prefix: &'a str,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> KvFuture<'a, KvPage> {
        Box::pin(async move {
            let start = match cursor {
                None => Start::Prefix,
                Some(text) => Start::parse(text, &row_key(prefix)).ok_or_else(|| {
                    KvError::new(
                        ImportError::Invalid,
                        format!(
                            "the cursor {:?} is not one kv_list gave for prefix {prefix:?}: pass back the cursor of the previous page",
                            text.chars().take(40).collect::<String>()
                        ),
                    )
                })?,
            };
            self.ensure_table().await?;
            let filter = list_filter(store, prefix, &start, unix_now());
            let mut continuation = match start {
                Start::Continue(partition, row) => Some((partition, row)),
                _ => None,
            };
            // One key more than asked: whether it exists says if there is a next page.
            let want = limit as usize + 1;
            let mut rows: Vec<String> = Vec::new();
            for _ in 0..MAX_QUERIES_PER_LIST {
                let top = ((want - rows.len()) as u32).min(self.query_page);
                let (found, next) = self.query(&filter, top, continuation.as_ref()).await?;
                rows.extend(found);
                continuation = next;
                if rows.len() >= want || continuation.is_none() {
                    break;
                }
            }
            let cursor = if rows.len() > limit as usize {
                rows.truncate(limit as usize);
                rows.last().map(|row| Start::After(row.clone()).encode())
            } else if let Some((partition, row)) = continuation {
                // Out of queries with more to read: go on from here next time.
                Some(match rows.last() {
                    Some(last) => Start::After(last.clone()).encode(),
                    None => Start::Continue(partition, row).encode(),
                })
            } else {
                None
            };
            let mut keys = Vec::with_capacity(rows.len());
            for row in rows {
                match key_of_row(&row) {
                    Some(key) => keys.push(key),
                    None => {
                        tracing::warn!(table = %self.table, %store, row_key = %row, "a row of the key-value table does not encode a key; left out")
                    }
                }
            }
            Ok(KvPage { keys, cursor })
        })
    }
}

/// The first character of the RowKey alphabet: byte `b` is `ROW_BASE + b`.
const ROW_BASE: u32 = 0x100;
/// A character above every one of the alphabet: RowKeys starting with `r` are exactly those at
/// least `r` and below `r` + this.
const ROW_END: char = '\u{200}';

/// The RowKey of `key`: each UTF-8 byte `b` as the character U+0100 + `b`.
pub(crate) fn row_key(key: &str) -> String {
    key.bytes()
        .map(|b| char::from_u32(ROW_BASE + u32::from(b)).expect("U+0100..U+01FF are characters"))
        .collect()
}

/// The key a RowKey encodes, `None` when it is not one [`row_key`] makes.
fn key_of_row(row: &str) -> Option<String> {
    let bytes = row
        .chars()
        .map(|c| u8::try_from(u32::from(c).checked_sub(ROW_BASE)?).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// Where a listing starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    /// At the first key with the prefix.
    Prefix,
    /// After this RowKey (the last key of the previous page): cursor `a<rowkey>`.
    After(String),
    /// Where Table storage's continuation points: cursor `c<hex partition token>.<hex row token>`.
    Continue(String, String),
}

impl Start {
    fn encode(&self) -> String {
        match self {
            Start::Prefix => String::new(),
            Start::After(row) => format!("a{row}"),
            Start::Continue(partition, row) => {
                format!("c{}.{}", hex::encode(partition), hex::encode(row))
            }
        }
    }

    /// A cursor this store made for a listing of the prefix whose RowKey prefix is `prefix_row`.
    fn parse(cursor: &str, prefix_row: &str) -> Option<Start> {
        if let Some(row) = cursor.strip_prefix('a') {
            return (key_of_row(row).is_some() && row.starts_with(prefix_row))
                .then(|| Start::After(row.to_owned()));
        }
        let (partition, row) = cursor.strip_prefix('c')?.split_once('.')?;
        let text = |hex_text: &str| String::from_utf8(hex::decode(hex_text).ok()?).ok();
        Some(Start::Continue(text(partition)?, text(row)?))
    }
}

/// The `$filter` of a listing: the store's partition, the RowKeys that start with the prefix's
/// (from `start`), and no expired entity. RowKeys starting with
/// `r` are exactly those at least `r` and below `r` + [`ROW_END`].
fn list_filter(store: &str, prefix: &str, start: &Start, now: u64) -> String {
    let prefix_row = row_key(prefix);
    let lower = match start {
        Start::After(row) => format!("RowKey gt '{row}'"),
        Start::Prefix | Start::Continue(..) => format!("RowKey ge '{prefix_row}'"),
    };
    format!(
        "PartitionKey eq '{store}' and {lower} and RowKey lt '{prefix_row}{ROW_END}' and (exp eq 0L or exp gt {now}L)"
    )
}

/// Puts `value` into `entity` as `n` parts `v0`, `v1`, ... of at most [`PART_BYTES`].
fn split_parts(value: &[u8], entity: &mut Map<String, Value>) {
    let mut count = 0;
    for (i, part) in value.chunks(PART_BYTES).enumerate() {
        entity.insert(format!("v{i}"), json!(BASE64.encode(part)));
        entity.insert(format!("v{i}@odata.type"), json!("Edm.Binary"));
        count += 1;
    }
    entity.insert("n".into(), json!(count));
}

/// The value [`split_parts`] stored in `entity`, `None` when a part is missing or not base64.
fn join_parts(entity: &Value) -> Option<Vec<u8>> {
    let count = int_property(entity, "n")?;
    let mut value = Vec::new();
    for i in 0..count {
        let part = entity.get(format!("v{i}"))?.as_str()?;
        value.extend(BASE64.decode(part).ok()?);
    }
    Some(value)
}

/// An integer property, written as a JSON number or (an `Edm.Int64`) as a string.
fn int_property(entity: &Value, name: &str) -> Option<u64> {
    match entity.get(name)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Table storage's error code and message from an error answer (`x-ms-error-code`, or the
/// `odata.error` body).
fn error_details(response: &Response<Bytes>) -> (String, String) {
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    let error = &body["odata.error"];
    let code = response
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| error["code"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "(no error code)".into());
    let message = error["message"]["value"]
        .as_str()
        .or_else(|| error["message"].as_str())
        .map(|m| m.lines().next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&response.body()[..response.body().len().min(200)]).into_owned()
        });
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_keys_sort_as_the_key_bytes_do() {
        let mut rng = fastrand::Rng::with_seed(14);
        let alphabet: Vec<char> = "a/#?\\é€\u{10348} \u{7f}0zZ~".chars().collect();
        let key = |rng: &mut fastrand::Rng| -> String {
            let len = rng.usize(1..12);
            (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect()
        };
        for _ in 0..5000 {
            let (a, b) = (key(&mut rng), key(&mut rng));
            assert_eq!(
                row_key(&a).cmp(&row_key(&b)),
                a.as_bytes().cmp(b.as_bytes()),
                "{a:?} vs {b:?}"
            );
            // A prefix's RowKey bounds exactly the RowKeys of the keys that start with it.
            let prefix: String = row_key(&a).chars().take(2).collect();
            let prefix = prefix.as_str();
            let inside =
                row_key(&b).as_str() >= prefix && row_key(&b) < format!("{prefix}{ROW_END}");
            // UTF-16 order (Table storage's strings) agrees too.
            let utf16 = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
            assert_eq!(
                utf16(&row_key(&a)).cmp(&utf16(&row_key(&b))),
                a.as_bytes().cmp(b.as_bytes())
            );
            assert_eq!(inside, row_key(&b).starts_with(prefix), "{a:?} vs {b:?}");
            assert_eq!(key_of_row(&row_key(&a)).as_deref(), Some(a.as_str()));
        }
        let longest = "é".repeat(256);
        assert_eq!(row_key(&longest).chars().count(), 512, "the RowKey limit");
        assert_eq!(row_key(&longest).encode_utf16().count() * 2, 1024, "1 KiB");
        let forbidden = |c: char| "/\\#?'".contains(c) || c.is_control();
        assert!(!row_key("a/b#c?d\\e'\u{0}\u{7f}").chars().any(forbidden));
        assert_eq!(key_of_row("a"), None);
        assert_eq!(key_of_row("\u{1ff}"), None, "not UTF-8");
    }

    #[test]
    fn cursors_round_trip_and_refuse_strangers() {
        let prefix = row_key("u/");
        for start in [
            Start::After(row_key("u/abc")),
            Start::Continue("1!8!ZmlsZTE-".into(), "1!12!dS9hYmM-".into()),
        ] {
            assert_eq!(Start::parse(&start.encode(), &prefix), Some(start));
        }
        for bad in [
            "",
            "x",
            "azz",
            &format!("a{}", row_key("v/a")),
            "c12",
            "cz.1",
        ] {
            assert_eq!(Start::parse(bad, &prefix), None, "{bad:?}");
        }
    }

    #[test]
    fn the_filter_bounds_the_partition_the_prefix_and_expiry() {
        assert_eq!(
            list_filter("default", "u/", &Start::Prefix, 99),
            "PartitionKey eq 'default' and RowKey ge '\u{175}\u{12f}' and RowKey lt '\u{175}\u{12f}\u{200}' and (exp eq 0L or exp gt 99L)"
        );
        assert!(
            list_filter("s", "", &Start::After(row_key("a")), 1)
                .contains("RowKey gt '\u{161}' and RowKey lt '\u{200}'")
        );
    }

    #[test]
    fn values_split_into_parts_of_64_kib() {
        for len in [0, 1, PART_BYTES, PART_BYTES + 1, 4 * PART_BYTES] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut entity = Map::new();
            split_parts(&value, &mut entity);
            let parts = len.div_ceil(PART_BYTES);
            assert_eq!(entity["n"], json!(parts));
            for i in 0..parts {
                let part = BASE64
                    .decode(entity[&format!("v{i}")].as_str().unwrap())
                    .unwrap();
                assert!(part.len() <= PART_BYTES);
            }
            assert_eq!(join_parts(&Value::Object(entity)), Some(value));
        }
        assert_eq!(join_parts(&json!({"n": 2, "v0": ""})), None);
        assert_eq!(
            int_property(&json!({"exp": "1700000000"}), "exp"),
            Some(1_700_000_000)
        );
    }
}
