//! The local host (`edgefn serve`) as a [`Target`]: the reference the other platforms are compared
//! with, and a platform in its own right.

use super::{Case, Comparable, PER_RUN_HEADERS, Target, assert_names_the_invocation};
use crate::common::{Host, Reply};

/// `edgefn serve` with one function, at its default route `/<guest>`.
pub struct Local {
    pub host: Host,
}

impl Target for Local {
    const PLATFORM: &'static str = "local";

    /// Variables are the manifest's `env`.
    fn start(guest: &str, env: &[(&str, &str)]) -> Local {
        let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
        Local {
            host: Host::with_manifest(&format!(
                "[[function]]\nname = {guest:?}\nwasm = \"{{guests}}/{guest}.wasm\"\nenv = {{ {} }}\n",
                vars.join(", ")
            )),
        }
    }

    fn send(&self, case: &Case) -> Reply {
        case.send_to(self.host.addr, &case.path)
    }

    /// Everything but what differs per run, framing included.
    fn comparable(&self, reply: &Reply) -> Comparable {
        Comparable::of(reply, PER_RUN_HEADERS, false)
    }

    /// The host names the invocation.
    fn check(&self, case: &Case, _expected: &Reply, reply: &Reply) {
        assert_names_the_invocation(case, reply);
    }

    fn assert_running(&mut self) {
        assert!(self.host.is_running(), "edgefn exited: {}", self.log());
    }

    fn log(&self) -> String {
        self.host.log()
    }
}
