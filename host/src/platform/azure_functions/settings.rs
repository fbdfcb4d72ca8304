//! The handler's settings: command-line flags first, then the app's `host.json` (the very file the
//! Functions host reads, so the two never disagree), then the platform's defaults. Also the guest's
//! variables, which come from prefixed app settings only, never from the whole process environment,
//! and its outbound HTTP policy, from the `EDGEFN_OUTBOUND_*` app settings (which it never sees).

use super::contract::{GUEST_VARIABLE_PREFIX, HOST_JSON};
use crate::runtime::spec::OutboundPolicy;
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
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
}
