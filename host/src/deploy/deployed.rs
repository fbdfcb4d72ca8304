//! One deployed version of a function: its spec, its module's hash and kind, and the concurrency
//! slots its invocations hold.

use crate::runtime::artifact::artifact_key;
use crate::runtime::guest::GuestKind;
use crate::runtime::spec::FunctionSpec;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// One deployed version of a function.
pub struct Deployed {
    /// Unique per deployment, so a redeployed function never reuses its predecessor's loaded state.
    pub id: u64,
    /// The configuration it was deployed with.
    pub spec: Arc<FunctionSpec>,
    /// SHA-256 of its module.
    pub module_hash: String,
    /// What kind of guest its module is.
    pub kind: GuestKind,
    /// Whether it is pre-initialized (it exports `edgefn_v1_init` and did not opt out): its
    /// artifact is made from a snapshot of its init when one can be taken (part of the artifact's
    /// key).
    pub preinit: bool,
    /// Set once its artifact is loaded and turns out to hold no snapshot (the init declined, or its
    /// state could not be captured), so each instance runs the init.
    pub(crate) snapshot_not_taken: AtomicBool,
    pub(crate) in_flight: AtomicUsize,
}

/// Holds one of a function's concurrency slots until dropped.
pub struct InFlight {
    deployed: Arc<Deployed>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.deployed.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Deployed {
    /// Whether its instances start from a snapshot of its init: pre-initialized, and the snapshot
    /// was taken (known once its artifact has been loaded).
    pub fn serves_snapshot(&self) -> bool {
        self.preinit && !self.snapshot_not_taken.load(Ordering::Relaxed)
    }

    /// Takes a concurrency slot, or `None` when the function is at its `max_concurrency`.
    pub fn try_acquire(self: &Arc<Self>) -> Option<InFlight> {
        let limit = self.spec.limits().max_concurrency;
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight {
                deployed: self.clone(),
            })
    }

    /// Invocations running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Names its compiled artifact in the cache: its module's hash, marked when the artifact is of
    /// the pre-initialized snapshot rather than of the module as built.
    pub fn artifact_key(&self) -> String {
        artifact_key(self.kind, &self.module_hash, self.preinit)
    }
}
