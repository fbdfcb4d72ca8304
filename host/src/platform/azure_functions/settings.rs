//! The handler's settings: command-line flags first, then the app's `host.json` (the very file the
//! Functions host reads, so the two never disagree), then the platform's defaults. Also the guest's
//! variables, which come from prefixed app settings only, never from the whole process environment,
//! and its outbound HTTP policy, from the `EDGEFN_OUTBOUND_*` app settings (which it never sees),
//! and the storage account behind its key-value store (`AzureWebJobsStorage`, `EDGEFN_KV_AZURE_TABLE`).

use super::contract::{GUEST_VARIABLE_PREFIX, HOST_JSON};
use crate::runtime::spec::{KvGrant, OutboundPolicy};
use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Azure answers an HTTP trigger within 230 s whatever `functionTimeout` says (the load balancer's
/// idle timeout), so no guest deadline is longer.
pub(crate) const HTTP_TRIGGER_TIMEOUT_CAP: Duration = Duration::from_secs(230);
/// The guest is stopped this much before `functionTimeout` (at most a tenth of it), so the handler
/// answers a clean 500 before the Functions host's own timer fires, which would fail the
/// invocation from the outside and can recycle the host.
pub(crate) const MAX_DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// What the handler takes from `host.json`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HostJson {
    /// `extensions.http.routePrefix`.
    pub route_prefix: Option<String>,
    /// `functionTimeout`, as written.
    pub function_timeout: Option<String>,
}

impl HostJson {
    /// Reads `app_root/host.json`; `Ok(None)` when there is none.
    pub(crate) fn read(app_root: &Path) -> anyhow::Result<Option<HostJson>> {
        let path = app_root.join(HOST_JSON);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        HostJson::parse(&text)
            .map(Some)
            .with_context(|| format!("cannot understand {}", path.display()))
    }

    /// Parses the fields the handler needs; other fields are the Functions host's business.
    pub(crate) fn parse(text: &str) -> anyhow::Result<HostJson> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        let route_prefix = match value.pointer("/extensions/http/routePrefix") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(prefix)) => Some(prefix.clone()),
            Some(other) => bail!("extensions.http.routePrefix must be a string, not {other}"),
        };
        let function_timeout = match value.get("functionTimeout") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(timeout)) => Some(timeout.clone()),
            Some(other) => bail!("functionTimeout must be a string like \"00:05:00\", not {other}"),
        };
        Ok(HostJson {
            route_prefix,
            function_timeout,
        })
    }
}

/// Parses a timeout the way `host.json` writes `functionTimeout` (`hh:mm:ss`, optionally
/// `d.hh:mm:ss` and fractional seconds, or `-1` for none) or as plain seconds (`1.5`).
/// `Ok(None)` means no timeout.
pub(crate) fn parse_timeout(text: &str) -> anyhow::Result<Option<Duration>> {
    let text = text.trim();
    if text == "-1" {
        return Ok(None);
    }
    let invalid = || {
        anyhow::anyhow!(
            "invalid timeout {text:?}: write hh:mm:ss (as host.json's functionTimeout), -1 for none, or seconds such as 2.5"
        )
    };
    let seconds = if text.contains(':') {
        let parts: Vec<&str> = text.split(':').collect();
        let &[hours, minutes, seconds] = parts.as_slice() else {
            return Err(invalid());
        };
        let (days, hours) = hours.split_once('.').unwrap_or(("0", hours));
        let whole = |part: &str| -> anyhow::Result<u64> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse().map_err(|_| invalid())
        };
        let (days, hours, minutes) = (whole(days)?, whole(hours)?, whole(minutes)?);
        if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(invalid());
        }
        let secs: f64 = seconds.parse().map_err(|_| invalid())?;
        if hours >= 24 || minutes >= 60 || secs >= 60.0 {
            return Err(invalid());
        }
        (days * 86_400 + hours * 3_600 + minutes * 60) as f64 + secs
    } else {
        text.parse::<f64>().map_err(|_| invalid())?
    };
    let duration = Duration::try_from_secs_f64(seconds).map_err(|_| invalid())?;
    if duration.is_zero() {
        bail!("invalid timeout {text:?}: it must be longer than zero");
    }
    Ok(Some(duration))
}

/// How long a guest may run: `functionTimeout` (none means the platform maximum), capped at the
/// HTTP trigger limit, less a small margin so the handler, not the Functions host, stops it.
pub(crate) fn guest_budget(function_timeout: Option<Duration>) -> Duration {
    let timeout = function_timeout
        .unwrap_or(HTTP_TRIGGER_TIMEOUT_CAP)
        .min(HTTP_TRIGGER_TIMEOUT_CAP);
    timeout - MAX_DEADLINE_MARGIN.min(timeout / 10)
}

/// A route prefix as written (`api`, `/api/`, ``) reduced to its bare segment(s).
pub(crate) fn normalize_route_prefix(prefix: &str) -> String {
    prefix.trim_matches('/').to_owned()
}

/// The guest's variables from `EDGEFN_VAR_*` entries of `environment`, prefix removed, sorted.
pub(crate) fn guest_variables(
    environment: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let variables: BTreeMap<String, String> = environment
        .into_iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix(GUEST_VARIABLE_PREFIX)?;
            (!name.is_empty()).then(|| (name.to_owned(), value))
        })
        .collect();
    variables.into_iter().collect()
}

/// The function's outbound HTTP policy from the `EDGEFN_OUTBOUND_*` app settings of
/// `environment`; an invalid one fails startup, naming the setting.
pub(crate) fn outbound_policy(
    environment: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<OutboundPolicy> {
    let settings: BTreeMap<String, String> = environment
        .into_iter()
        .filter(|(key, _)| key.starts_with("EDGEFN_OUTBOUND_"))
        .collect();
    OutboundPolicy::from_variables(|name| settings.get(name).cloned())
        .context("the function's outbound HTTP settings (app settings) are invalid")
}

/// The function's key-value grant from the `EDGEFN_KV_*` app settings of `environment`; an
/// invalid one fails startup, naming the setting.
pub(crate) fn kv_grant(
    environment: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<KvGrant> {
    let settings: BTreeMap<String, String> = environment
        .into_iter()
        .filter(|(key, _)| key.starts_with("EDGEFN_KV_"))
        .collect();
    KvGrant::from_variables(|name| settings.get(name).cloned())
        .context("the function's key-value settings (app settings) are invalid")
}

/// App setting: the storage account's connection string, which every Functions app has (the
/// Functions host keeps its own state there); the key-value store's table lives in it.
pub(crate) const STORAGE_SETTING: &str = "AzureWebJobsStorage";
/// App setting: the table holding the key-value store.
pub(crate) const TABLE_SETTING: &str = "EDGEFN_KV_AZURE_TABLE";
/// The table when [`TABLE_SETTING`] is not set.
pub(crate) const DEFAULT_TABLE: &str = "edgefnkv";

/// Azurite's well-known development account (`UseDevelopmentStorage=true`), as documented for
/// the emulator: the same name and key on every machine.
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_TABLE_ENDPOINT: &str = "http://127.0.0.1:10002/devstoreaccount1";

/// A storage account as a connection string names it: where its Table service is and the key
/// that signs requests to it.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageAccount {
    /// The account name (`AccountName`).
    pub name: String,
    /// The decoded account key (`AccountKey`).
    pub key: Vec<u8>,
    /// The Table service's base URL without a trailing `/`: `https://<name>.table.<suffix>`, or
    /// `TableEndpoint` as given (path-style for the emulator: `http://127.0.0.1:10002/<name>`).
    pub table_endpoint: String,
}

impl fmt::Debug for StorageAccount {
    /// Everything but the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageAccount")
            .field("name", &self.name)
            .field("table_endpoint", &self.table_endpoint)
            .finish_non_exhaustive()
    }
}

impl StorageAccount {
    /// Parses a connection string (`DefaultEndpointsProtocol=https;AccountName=..;AccountKey=..;
    /// EndpointSuffix=core.windows.net`, optionally `TableEndpoint=..`, or
    /// `UseDevelopmentStorage=true` for Azurite on its default port). Errors never repeat the key.
    pub fn from_connection_string(text: &str) -> anyhow::Result<StorageAccount> {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = part.split_once('=') else {
                bail!(
                    "the connection string has {:?} where Name=Value belongs",
                    part.chars().take(24).collect::<String>()
                );
            };
            // Names are case-insensitive, as Azure's own clients read them.
            fields.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
        let field = |name: &str| fields.get(name).map(String::as_str);
        if field("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(StorageAccount {
                name: DEV_ACCOUNT.to_owned(),
                key: BASE64
                    .decode(DEV_ACCOUNT_KEY)
                    .expect("the emulator's key is base64"),
                table_endpoint: DEV_TABLE_ENDPOINT.to_owned(),
            });
        }
        let name = match field("accountname") {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => bail!("the connection string has no AccountName"),
        };
        let key = match field("accountkey") {
            Some(key) if !key.is_empty() => BASE64.decode(key).map_err(|_| {
                anyhow::anyhow!("the AccountKey of account {name} is not base64: copy it again from the portal's Access keys")
            })?,
            _ if field("sharedaccesssignature").is_some() => bail!(
                "the connection string of account {name} has a SharedAccessSignature but no AccountKey: the key-value store signs with the account key (SharedKey); use a connection string with AccountKey"
            ),
            _ => bail!("the connection string of account {name} has no AccountKey"),
        };
        let table_endpoint = match field("tableendpoint") {
            Some(endpoint) => {
                let endpoint = endpoint.trim_end_matches('/');
                if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                    bail!("TableEndpoint {endpoint:?} is not an http or https URL");
                }
                endpoint.to_owned()
            }
            None => {
                let protocol = field("defaultendpointsprotocol").unwrap_or("https");
                if protocol != "https" && protocol != "http" {
                    bail!("DefaultEndpointsProtocol {protocol:?} is neither https nor http");
                }
                let suffix = field("endpointsuffix").unwrap_or("core.windows.net");
                format!("{protocol}://{name}.table.{suffix}")
            }
        };
        Ok(StorageAccount {
            name,
            key,
            table_endpoint,
        })
    }
}

/// Whether `name` is a table name Table storage accepts: 3-63 letters and digits, starting with a
/// letter.
fn is_table_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The key-value store's account and table from the app settings in `environment`: `Ok(None)`
/// when [`STORAGE_SETTING`] is not set; an error naming the setting when either is invalid.
pub(crate) fn kv_storage(
    environment: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Option<(StorageAccount, String)>> {
    let mut connection = None;
    let mut table = None;
    for (key, value) in environment {
        if key == STORAGE_SETTING {
            connection = Some(value);
        } else if key == TABLE_SETTING {
            table = Some(value);
        }
    }
    let Some(connection) = connection.filter(|c| !c.trim().is_empty()) else {
        return Ok(None);
    };
    let account = StorageAccount::from_connection_string(&connection)
        .with_context(|| format!("the {STORAGE_SETTING} app setting is invalid"))?;
    let table = match table.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        Some(table) if is_table_name(&table) => table,
        Some(table) => bail!(
            "{TABLE_SETTING}={table:?} is not a table name: use 3-63 letters and digits, starting with a letter"
        ),
        None => DEFAULT_TABLE.to_owned(),
    };
    Ok(Some((account, table)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_host_json() {
        let secs = |s: &str| parse_timeout(s).unwrap().map(|d| d.as_secs_f64());
        assert_eq!(secs("00:05:00"), Some(300.0));
        assert_eq!(secs("00:03:50"), Some(230.0));
        assert_eq!(secs("1.02:00:00"), Some(93_600.0));
        assert_eq!(secs("00:00:00.250"), Some(0.25));
        assert_eq!(secs("2.5"), Some(2.5));
        assert_eq!(secs(" -1 "), None);
        for bad in [
            "", "0", "00:00:00", "5m", "1:2", "00:60:00", "24:00:00", "a:b:c", "NaN", "-5", "inf",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn budget_is_capped_and_keeps_a_margin() {
        assert_eq!(guest_budget(None), Duration::from_secs(229));
        assert_eq!(
            guest_budget(Some(Duration::from_secs(600))),
            Duration::from_secs(229)
        );
        assert_eq!(
            guest_budget(Some(Duration::from_secs(30))),
            Duration::from_secs(29)
        );
        assert_eq!(
            guest_budget(Some(Duration::from_secs(2))),
            Duration::from_millis(1800)
        );
    }

    #[test]
    fn host_json_fields() {
        let parsed = HostJson::parse(
            r#"{"version":"2.0","functionTimeout":"00:01:00","extensions":{"http":{"routePrefix":""}}}"#,
        )
        .unwrap();
        assert_eq!(parsed.route_prefix.as_deref(), Some(""));
        assert_eq!(parsed.function_timeout.as_deref(), Some("00:01:00"));
        assert_eq!(
            HostJson::parse(r#"{"version":"2.0"}"#).unwrap(),
            HostJson::default()
        );
        assert!(HostJson::parse(r#"{"functionTimeout":300}"#).is_err());
        assert!(HostJson::parse("{not json").is_err());
    }

    #[test]
    fn outbound_policy_comes_from_its_app_settings() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let policy = outbound_policy(env(&[
            (
                "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
                "https://api.example.com https://*.blob.core.windows.net",
            ),
            ("EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES", "4096"),
            ("EDGEFN_VAR_GREETING", "hi"),
        ]))
        .unwrap();
        assert_eq!(
            policy.allowed_hosts().collect::<Vec<_>>(),
            ["https://api.example.com", "https://*.blob.core.windows.net"]
        );
        assert_eq!(policy.max_response_bytes, 4096);
        assert_eq!(
            outbound_policy(env(&[])).unwrap(),
            OutboundPolicy::default()
        );
        let error = outbound_policy(env(&[("EDGEFN_OUTBOUND_TIMEOUT_MS", "soon")])).unwrap_err();
        assert!(
            format!("{error:#}").contains("EDGEFN_OUTBOUND_TIMEOUT_MS"),
            "{error:#}"
        );
        // Outbound settings are the runtime's, not the guest's.
        assert!(
            guest_variables(env(&[("EDGEFN_OUTBOUND_ALLOWED_HOSTS", "https://a.test")])).is_empty()
        );
    }

    #[test]
    fn only_prefixed_variables_reach_the_guest() {
        let env = [
            ("EDGEFN_VAR_GREETING", "hi"),
            ("EDGEFN_VAR_", "nameless"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "1234"),
            ("EDGEFN_VAR_A", "1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            guest_variables(env),
            [
                ("A".to_owned(), "1".to_owned()),
                ("GREETING".to_owned(), "hi".to_owned())
            ]
        );
        assert_eq!(normalize_route_prefix("/api/"), "api");
        assert_eq!(normalize_route_prefix(""), "");
    }
    #[test]
    fn connection_strings_name_the_account_endpoint_and_key() {
        let account = StorageAccount::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=myapp;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(account.name, "myapp");
        assert_eq!(account.key, b"key");
        assert_eq!(
            account.table_endpoint,
            "https://myapp.table.core.windows.net"
        );

        // Another cloud's suffix, names in any case, a trailing separator.
        let account = StorageAccount::from_connection_string(
            "accountname=x;ACCOUNTKEY=a2V5;EndpointSuffix=core.chinacloudapi.cn;",
        )
        .unwrap();
        assert_eq!(
            account.table_endpoint,
            "https://x.table.core.chinacloudapi.cn"
        );

        // An explicit endpoint wins (path-style, as the emulator serves), its slash removed.
        let account = StorageAccount::from_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:4000/devstoreaccount1/",
        )
        .unwrap();
        assert_eq!(
            account.table_endpoint,
            "http://127.0.0.1:4000/devstoreaccount1"
        );

        let dev = StorageAccount::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(dev.name, "devstoreaccount1");
        assert_eq!(
            dev.table_endpoint,
            "http://127.0.0.1:10002/devstoreaccount1"
        );
        assert_eq!(dev.key.len(), 64);
        assert!(!format!("{dev:?}").contains("key: "), "{dev:?}");

        for (bad, says) in [
            ("AccountName=x", "no AccountKey"),
            ("AccountKey=a2V5", "no AccountName"),
            ("AccountName=x;AccountKey=not base64!", "not base64"),
            (
                "AccountName=x;SharedAccessSignature=sv=1",
                "SharedAccessSignature",
            ),
            (
                "AccountName=x;AccountKey=a2V5;DefaultEndpointsProtocol=ftp",
                "ftp",
            ),
            (
                "AccountName=x;AccountKey=a2V5;TableEndpoint=127.0.0.1:1",
                "TableEndpoint",
            ),
            ("AccountName=x;garbage", "Name=Value"),
        ] {
            let error = StorageAccount::from_connection_string(bad).unwrap_err();
            assert!(format!("{error:#}").contains(says), "{bad}: {error:#}");
        }
    }

    #[test]
    fn kv_storage_reads_its_two_settings() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(kv_storage(env(&[])).unwrap().is_none());
        assert!(
            kv_storage(env(&[(STORAGE_SETTING, " ")]))
                .unwrap()
                .is_none()
        );
        let (account, table) = kv_storage(env(&[(STORAGE_SETTING, "UseDevelopmentStorage=true")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (account.name.as_str(), table.as_str()),
            ("devstoreaccount1", DEFAULT_TABLE)
        );
        let (_, table) = kv_storage(env(&[
            (STORAGE_SETTING, "UseDevelopmentStorage=true"),
            (TABLE_SETTING, "MyKv2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(table, "MyKv2");
        for bad in ["kv", "2kv", "my-kv", &"k".repeat(64)] {
            let error = kv_storage(env(&[
                (STORAGE_SETTING, "UseDevelopmentStorage=true"),
                (TABLE_SETTING, bad),
            ]))
            .unwrap_err();
            assert!(
                format!("{error:#}").contains(TABLE_SETTING),
                "{bad}: {error:#}"
            );
        }
        let error = kv_storage(env(&[(STORAGE_SETTING, "AccountName=x")])).unwrap_err();
        assert!(format!("{error:#}").contains(STORAGE_SETTING), "{error:#}");
    }
}
