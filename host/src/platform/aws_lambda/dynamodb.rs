//! The key-value store on AWS Lambda: one DynamoDB table for every store of the app, reached with
//! DynamoDB's JSON API over the platform's service client and signed with SigV4 ([`super::sigv4`]).
//!
//! Items (`docs/deploy-aws-lambda.md`, "Key-value store"): partition key `pk` (S) = the store name,
//! sort key `sk` (S) = the key, `v` (B) = the value (left out when empty), `exp` (N) = when it
//! expires in Unix seconds (left out without a TTL; the table's TTL setting on `exp` deletes
//! expired items eventually, and reads skip them until then). DynamoDB orders a string sort key by
//! its UTF-8 bytes, which is the listing order the contract promises.

use super::sigv4::{self, Credentials};
use crate::platform::service_client::{ServiceClient, ServiceErrorKind};
use crate::runtime::capabilities::kv::{KvBackend, KvError, KvFuture, KvPage};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use edgefn_abi::ImportError;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lambda variable: the table every store lives in.
pub const TABLE_VAR: &str = "EDGEFN_KV_DYNAMODB_TABLE";
/// Lambda variable: another endpoint than the region's (an emulator, a VPC endpoint).
pub const ENDPOINT_VAR: &str = "EDGEFN_KV_DYNAMODB_ENDPOINT";
/// Each call's limit; the imports cap it further by the invocation's deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response read: a listing of 1001 keys of 512 bytes, each possibly JSON-escaped.
const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// DynamoDB's JSON protocol and API version.
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// Where the table is and how to sign for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoDbConfig {
    /// The table's name.
    pub table: String,
    /// `https://dynamodb.<region>.amazonaws.com`, or the override.
    pub endpoint: String,
    /// The region the requests are signed for.
    pub region: String,
    /// The execution role's credentials.
    pub credentials: Credentials,
    /// Each request's limit.
    pub timeout: Duration,
}

impl DynamoDbConfig {
    /// The settings Lambda's environment gives (`get` looks a variable up): `None` when
    /// `EDGEFN_KV_DYNAMODB_TABLE` is not set, an error naming the variable that is missing.
    pub fn from_variables(
        get: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<DynamoDbConfig>> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(table) = get(TABLE_VAR) else {
            return Ok(None);
        };
        let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).ok_or_else(|| {
            anyhow::anyhow!(
                "{TABLE_VAR}={table} is set but AWS_REGION is not (Lambda sets it; elsewhere set it to the table's region)"
            )
        })?;
        let missing = |name: &str| {
            anyhow::anyhow!(
                "{TABLE_VAR}={table} is set but {name} is not: Lambda sets it from the function's execution role"
            )
        };
        let credentials = Credentials {
            access_key_id: get("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?,
            secret_access_key: get("AWS_SECRET_ACCESS_KEY")
                .ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?,
            session_token: get("AWS_SESSION_TOKEN"),
        };
        let endpoint = get(ENDPOINT_VAR)
            .unwrap_or_else(|| format!("https://dynamodb.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_owned();
        Ok(Some(DynamoDbConfig {
            table,
            endpoint,
            region,
            credentials,
            timeout: DEFAULT_TIMEOUT,
        }))
    }
}

/// The stores of one app in one DynamoDB table.
#[derive(Debug)]
pub struct DynamoDbStore {
    config: DynamoDbConfig,
    uri: Uri,
    client: ServiceClient,
}

impl DynamoDbStore {
    /// A store over `config`'s table; nothing connects until the first call. The endpoint must be
    /// an `http` or `https` URL.
    pub fn new(config: DynamoDbConfig) -> anyhow::Result<DynamoDbStore> {
        let uri: Uri = format!("{}/", config.endpoint).parse().map_err(|e| {
            anyhow::anyhow!("{ENDPOINT_VAR}={:?} is not a URL: {e}", config.endpoint)
        })?;
        anyhow::ensure!(
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some(),
            "{ENDPOINT_VAR}={:?} is not an http or https URL with a host",
            config.endpoint
        );
        Ok(DynamoDbStore {
            config,
            uri,
            client: ServiceClient::new(MAX_RESPONSE_BYTES),
        })
    }

    /// Calls `operation` with `body`, answering its JSON or the error the guest gets.
    async fn call(&self, operation: &str, body: Value) -> Result<Value, KvError> {
        let payload = serde_json::to_vec(&body).expect("a JSON value serializes");
        let mut request = Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("x-amz-target", format!("{TARGET_PREFIX}{operation}"))
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        let now = unix_now();
        sigv4::sign(
            &Method::POST,
            &self.uri,
            request.headers_mut(),
            &payload,
            &self.config.credentials,
            &self.config.region,
            "dynamodb",
            now,
        )
        .map_err(|e| self.unavailable(format!("cannot sign the request: {e}")))?;
        *request.body_mut() = Full::new(Bytes::from(payload));
        let response = self
            .client
            .send(request, self.config.timeout)
            .await
            .map_err(|e| {
                let what = match e.kind {
                    ServiceErrorKind::Timeout | ServiceErrorKind::Connect => {
                        "is not answering (check the endpoint, the network path to it, and DynamoDB's status)"
                    }
                    ServiceErrorKind::TooLarge | ServiceErrorKind::Broken => "failed",
                };
                self.unavailable(format!("{operation} {what}: {e}"))
            })?;
        let status = response.status();
        if status.is_success() {
            return serde_json::from_slice(response.body()).map_err(|e| {
                self.unavailable(format!(
                    "{operation} answered JSON that does not parse: {e}"
                ))
            });
        }
        let (code, message) = error_of(response.headers().get("x-amzn-errortype"), response.body());
        let error = self.service_error(operation, status, &code, &message);
        tracing::warn!(operation, status = status.as_u16(), code, error = %error.message, "DynamoDB refused a key-value call");
        Err(error)
    }

    /// What a refused call tells the guest, naming what to fix.
    fn service_error(
        &self,
        operation: &str,
        status: http::StatusCode,
        code: &str,
        message: &str,
    ) -> KvError {
        let table = &self.config.table;
        let said = format!("{code} ({status}): {message}");
        match code {
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "Throttling" => KvError::new(
                ImportError::RateLimited,
                format!(
                    "DynamoDB throttled {operation} on table {table}: {said}; retry later, or raise the table's capacity (on-demand billing scales itself)"
                ),
            ),
            "InvalidSignatureException" | "SignatureDoesNotMatch" | "IncompleteSignature" => self
                .unavailable(format!(
                    "DynamoDB refused the request signature for {operation}: {said}; the secret in AWS_SECRET_ACCESS_KEY does not match AWS_ACCESS_KEY_ID={} (Lambda sets both, with AWS_SESSION_TOKEN, from the execution role; do not override them)",
                    self.config.credentials.access_key_id
                )),
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredTokenException"
            | "MissingAuthenticationTokenException" => self.unavailable(format!(
                "DynamoDB did not accept the credentials for {operation}: {said}; AWS_ACCESS_KEY_ID={} and AWS_SESSION_TOKEN must be the execution role's, as Lambda sets them",
                self.config.credentials.access_key_id
            )),
            "AccessDeniedException" | "AccessDenied" => self.unavailable(format!(
                "the function's role may not {operation} on table {table}: {said}; allow dynamodb:GetItem, dynamodb:PutItem, dynamodb:DeleteItem and dynamodb:Query on the table in the execution role's policy (the template `edgefn package --target aws-lambda` writes declares it)"
            )),
            "ResourceNotFoundException" => self.unavailable(format!(
                "the DynamoDB table {table} does not exist in {} ({}): {said}; create it with partition key pk (S) and sort key sk (S) and TTL on exp (the template `edgefn package --target aws-lambda` writes declares it), or set {TABLE_VAR} to the table's name",
                self.config.region, self.config.endpoint
            )),
            _ => self.unavailable(format!("{operation} failed: {said}")),
        }
    }

    fn unavailable(&self, detail: String) -> KvError {
        KvError::unavailable(format!(
            "DynamoDB table {} at {}: {detail}",
            self.config.table, self.config.endpoint
        ))
    }

    fn key(&self, store: &str, key: &str) -> Value {
        json!({ "pk": { "S": store }, "sk": { "S": key } })
    }

    /// The item at (`store`, `key`) unless absent or expired, with only `projection` (names).
    async fn live_item(
        &self,
        store: &str,
        key: &str,
        projection: &str,
    ) -> Result<Option<Value>, KvError> {
        let answer = self
            .call(
                "GetItem",
                json!({
                    "TableName": self.config.table,
                    "Key": self.key(store, key),
                    "ConsistentRead": true,
                    "ProjectionExpression": projection,
                    "ExpressionAttributeNames": names(projection),
                }),
            )
            .await?;
        Ok(answer
            .get("Item")
            .filter(|item| item.is_object() && is_live(item, unix_now()))
            .cloned())
    }
}

/// The placeholders a projection uses: `#k` sort key, `#v` value, `#e` expiry.
fn names(projection: &str) -> Value {
    let mut names = serde_json::Map::new();
    for (placeholder, name) in [("#k", "sk"), ("#v", "v"), ("#e", "exp"), ("#p", "pk")] {
        if projection.contains(placeholder) {
            names.insert(placeholder.into(), name.into());
        }
    }
    Value::Object(names)
}

/// Whether `item` has not expired at `now`: no `exp`, or one after `now`.
fn is_live(item: &Value, now: u64) -> bool {
    match item.pointer("/exp/N").and_then(Value::as_str) {
        Some(exp) => exp.parse::<u64>().map_or(true, |exp| exp > now),
        None => true,
    }
}

/// The error code and message of a refused call, from the `x-amzn-ErrorType` header, a JSON body
/// (`__type`, `message`) or an XML one (`<Code>`, `<Message>`, what STS-style errors look like).
fn error_of(header: Option<&HeaderValue>, body: &[u8]) -> (String, String) {
    let after_hash = |s: &str| s.rsplit('#').next().unwrap_or(s).to_owned();
    let text = String::from_utf8_lossy(body);
    let (code, message) = match serde_json::from_slice::<Value>(body) {
        Ok(json) => (
            json.get("__type")
                .or_else(|| json.get("code"))
                .and_then(Value::as_str)
                .map(after_hash),
            json.get("message")
                .or_else(|| json.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        Err(_) => {
            let element = |tag: &str| {
                let open = format!("<{tag}>");
                let start = text.find(&open)? + open.len();
                let end = text[start..].find(&format!("</{tag}>"))? + start;
                Some(text[start..end].trim().to_owned())
            };
            (element("Code"), element("Message"))
        }
    };
    let code = code
        .filter(|c| !c.is_empty())
        .or_else(|| {
            header
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(':').next().unwrap_or(v).to_owned())
        })
        .unwrap_or_else(|| "an unknown error".into());
    let message = message.unwrap_or_else(|| text.chars().take(300).collect());
    (code, message)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The guest's cursor for a sort key: base64url, so it reads as opaque and carries any key.
fn cursor_of(sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(sort_key)
}

fn sort_key_of(cursor: &str, prefix: &str) -> Result<String, KvError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| key.starts_with(prefix))
        .ok_or_else(|| {
            KvError::new(
                ImportError::Invalid,
                format!(
                    "the cursor {cursor:?} is not one this store's list returned for prefix {prefix:?}; pass the cursor of the previous page unchanged"
                ),
            )
        })
}

impl KvBackend for DynamoDbStore {
    fn describe(&self) -> String {
        format!(
            "the DynamoDB table {} at {} ({})",
            self.config.table, self.config.endpoint, self.config.region
        )
    }

    fn get<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let Some(item) = self.live_item(store, key, "#k, #v, #e").await? else {
                return Ok(None);
            };
            match item.pointer("/v/B").and_then(Value::as_str) {
                None => Ok(Some(Vec::new())),
                Some(encoded) => STANDARD.decode(encoded).map(Some).map_err(|e| {
                    self.unavailable(format!(
                        "the value of {key:?} in store {store} is not base64 ({e})"
                    ))
                }),
            }
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
            let mut item = self.key(store, key);
            if !value.is_empty() {
                item["v"] = json!({ "B": STANDARD.encode(value) });
            }
            if ttl_seconds > 0 {
                let exp = unix_now() + u64::from(ttl_seconds);
                item["exp"] = json!({ "N": exp.to_string() });
            }
            self.call(
                "PutItem",
                json!({ "TableName": self.config.table, "Item": item }),
            )
            .await?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        Box::pin(async move {
            self.call(
                "DeleteItem",
                json!({ "TableName": self.config.table, "Key": self.key(store, key) }),
            )
            .await?;
            Ok(())
        })
    }

    fn exists<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        // The sort key and expiry only: no value travels.
        Box::pin(async move { Ok(self.live_item(store, key, "#k, #e").await?.is_some()) })
    }

    fn list<'a>(
        &'a self,
        store: &'a str,
        prefix: &'a str,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> KvFuture<'a, KvPage> {
        Box::pin(async move {
            let limit = limit.max(1) as usize;
            // One more than asked: if it comes back live, there is a next page.
            let mut query = json!({
                "TableName": self.config.table,
                "ConsistentRead": true,
                "Limit": limit + 1,
                "ProjectionExpression": "#k, #e",
                "ExpressionAttributeNames": { "#p": "pk", "#k": "sk", "#e": "exp" },
                "ExpressionAttributeValues": { ":s": { "S": store } },
                "KeyConditionExpression": "#p = :s",
            });
            // DynamoDB refuses an empty string in a key condition: no prefix, no begins_with.
            if !prefix.is_empty() {
                query["KeyConditionExpression"] = "#p = :s AND begins_with(#k, :p)".into();
                query["ExpressionAttributeValues"][":p"] = json!({ "S": prefix });
            }
            if let Some(cursor) = cursor {
                query["ExclusiveStartKey"] = self.key(store, &sort_key_of(cursor, prefix)?);
            }
            let answer = self.call("Query", query).await?;
            let sort_key = |item: &Value| {
                item.pointer("/sk/S")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let now = unix_now();
            let items = answer
                .get("Items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut keys: Vec<String> = items
                .iter()
                .filter(|item| is_live(item, now))
                .filter_map(sort_key)
                .collect();
            let cursor = if keys.len() > limit {
                keys.truncate(limit);
                keys.last().map(|k| cursor_of(k))
            } else {
                // Fewer live keys than evaluated (expired ones, or DynamoDB's 1 MB page): go on
                // after the last evaluated item, if DynamoDB says there are more.
                answer
                    .get("LastEvaluatedKey")
                    .and_then(sort_key)
                    .map(|k| cursor_of(&k))
            };
            Ok(KvPage { keys, cursor })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_configuration_comes_from_lambdas_variables() {
        assert_eq!(DynamoDbConfig::from_variables(vars(&[])).unwrap(), None);
        let config = DynamoDbConfig::from_variables(vars(&[
            (TABLE_VAR, "edgefn-kv"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.table, "edgefn-kv");
        assert_eq!(config.endpoint, "https://dynamodb.eu-west-1.amazonaws.com");
        assert_eq!(config.credentials.session_token.as_deref(), Some("token"));
        let config = DynamoDbConfig::from_variables(vars(&[
            (TABLE_VAR, "t"),
            (ENDPOINT_VAR, "http://127.0.0.1:4566/"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.endpoint, "http://127.0.0.1:4566");
        assert_eq!(config.credentials.session_token, None);
        DynamoDbStore::new(config).unwrap();

        let missing =
            DynamoDbConfig::from_variables(vars(&[(TABLE_VAR, "t"), ("AWS_REGION", "us-east-1")]))
                .unwrap_err();
        assert!(
            missing.to_string().contains("AWS_ACCESS_KEY_ID"),
            "{missing}"
        );
    }

    #[test]
    fn without_a_table_every_call_says_what_to_set() {
        let kv = crate::platform::aws_lambda::kv_backend(vars(&[]));
        let error = block_on(kv.get("default", "k")).unwrap_err();
        assert_eq!(error.kind, ImportError::Unavailable);
        assert!(error.message.contains(TABLE_VAR), "{error}");
        assert!(error.message.contains("edgefn package"), "{error}");
        // A table without credentials names the missing variable instead.
        let kv = crate::platform::aws_lambda::kv_backend(vars(&[
            (TABLE_VAR, "t"),
            ("AWS_REGION", "us-east-1"),
        ]));
        let error = block_on(kv.exists("default", "k")).unwrap_err();
        assert!(error.message.contains("AWS_ACCESS_KEY_ID"), "{error}");
    }

    /// Runs a future that needs no I/O to its end.
    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn error_codes_are_read_from_json_xml_or_the_header() {
        let json = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#;
        assert_eq!(
            error_of(None, json),
            (
                "ResourceNotFoundException".into(),
                "Requested resource not found".into()
            )
        );
        let xml = b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></ErrorResponse>";
        assert_eq!(error_of(None, xml).0, "SignatureDoesNotMatch");
        let header =
            HeaderValue::from_static("UnrecognizedClientException:http://internal.amazon.com/");
        assert_eq!(
            error_of(Some(&header), b"").0,
            "UnrecognizedClientException"
        );
    }

    #[test]
    fn expiry_and_cursors() {
        assert!(is_live(&json!({"sk": {"S": "a"}}), 100));
        assert!(is_live(&json!({"exp": {"N": "101"}}), 100));
        assert!(!is_live(&json!({"exp": {"N": "100"}}), 100));
        let cursor = cursor_of("user/ü?#");
        assert_eq!(sort_key_of(&cursor, "user/").unwrap(), "user/ü?#");
        assert_eq!(
            sort_key_of(&cursor, "other/").unwrap_err().kind,
            ImportError::Invalid
        );
        assert_eq!(
            sort_key_of("not base64!", "").unwrap_err().kind,
            ImportError::Invalid
        );
    }
}
