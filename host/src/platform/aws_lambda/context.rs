//! What Lambda says about an invocation, turned into what the guest's `Context` gets: the deadline
//! (with the emulator quirk handled) and the trace.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time kept back from Lambda's deadline, so that a guest stopped at its deadline is reported as
/// `edgefn.Timeout` by this runtime (which then keeps serving) rather than the whole execution
/// environment being timed out and reset by Lambda.
pub(crate) const DEADLINE_RESERVE: Duration = Duration::from_millis(50);

/// How Lambda's deadline header applies to one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LambdaDeadline {
    /// A real deadline, already moved [`DEADLINE_RESERVE`] earlier.
    At(SystemTime),
    /// No header (or not a number): only the function's own limit applies.
    Absent,
    /// A deadline already in the past when the invocation arrived. Real Lambda never sends one;
    /// `cargo lambda watch` sends the constant 600000 (ten minutes after 1970). It is ignored and
    /// the function's own limit applies, instead of every invocation timing out at once.
    InThePast(SystemTime),
}

impl LambdaDeadline {
    /// Interprets `Lambda-Runtime-Deadline-Ms` as of `now`.
    pub(crate) fn from_header(deadline_ms: Option<u64>, now: SystemTime) -> LambdaDeadline {
        let Some(ms) = deadline_ms else {
            return LambdaDeadline::Absent;
        };
        let Some(deadline) = UNIX_EPOCH.checked_add(Duration::from_millis(ms)) else {
            return LambdaDeadline::Absent;
        };
        if deadline <= now {
            return LambdaDeadline::InThePast(deadline);
        }
        LambdaDeadline::At(deadline.checked_sub(DEADLINE_RESERVE).unwrap_or(deadline))
    }

    /// The deadline to hand to the runner (which also applies the function's own limit).
    pub(crate) fn effective(self) -> Option<SystemTime> {
        match self {
            LambdaDeadline::At(deadline) => Some(deadline),
            LambdaDeadline::Absent | LambdaDeadline::InThePast(_) => None,
        }
    }
}

/// Converts an X-Ray trace header (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`)
/// to a W3C `traceparent` (`00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01`), the form the
/// guest's `Context` carries on every platform. X-Ray trace ids are W3C-compatible by design:
/// the epoch part and the random part together are the 32-digit trace id. `None` when there is no
/// root or parent in the expected form.
pub(crate) fn traceparent_from_xray(header: &str) -> Option<String> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = false;
    for part in header.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=')?;
        match key {
            "Root" => root = Some(value),
            "Parent" => parent = Some(value),
            "Sampled" => sampled = value == "1",
            _ => {}
        }
    }
    let mut root_parts = root?.split('-');
    let (version, epoch, random) = (root_parts.next()?, root_parts.next()?, root_parts.next()?);
    let parent = parent?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if version != "1"
        || root_parts.next().is_some()
        || !hex(epoch, 8)
        || !hex(random, 24)
        || !hex(parent, 16)
    {
        return None;
    }
    let flags = if sampled { "01" } else { "00" };
    Some(format!(
        "00-{}{}-{}-{flags}",
        epoch.to_ascii_lowercase(),
        random.to_ascii_lowercase(),
        parent.to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            LambdaDeadline::from_header(None, now),
            LambdaDeadline::Absent
        );
        // cargo-lambda's constant.
        let quirk = LambdaDeadline::from_header(Some(600_000), now);
        assert!(matches!(quirk, LambdaDeadline::InThePast(_)));
        assert_eq!(quirk.effective(), None);
        let real = LambdaDeadline::from_header(Some(1_700_000_003_000), now);
        assert_eq!(
            real.effective(),
            Some(now + Duration::from_secs(3) - DEADLINE_RESERVE)
        );
        // Absurd values neither panic nor count as past.
        assert!(matches!(
            LambdaDeadline::from_header(Some(u64::MAX), now),
            LambdaDeadline::At(_) | LambdaDeadline::Absent
        ));
    }

    #[test]
    fn xray_to_traceparent() {
        assert_eq!(
            traceparent_from_xray(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
            )
            .as_deref(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")
        );
        assert_eq!(
            traceparent_from_xray(
                "Root=1-6b08809a-cb4ad5a3c657fb5c08502d08;Parent=74dcae3de44081b0;Sampled=0;Lineage=a:1"
            )
            .as_deref(),
            Some("00-6b08809acb4ad5a3c657fb5c08502d08-74dcae3de44081b0-00")
        );
        for bad in [
            "",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-zz59e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "garbage",
        ] {
            assert_eq!(traceparent_from_xray(bad), None, "{bad}");
        }
    }
}
