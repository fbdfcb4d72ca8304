//! Warm mode: a bounded pool of live instances per function, reused one request at a time
//! (Lambda-style), retired after `max_uses`, after `idle_timeout`, or as soon as one traps.

use crate::runtime::limits::WarmConfig;
use std::sync::Mutex;
use std::time::Instant;

/// What the pool needs to know of a live instance to decide whether to keep it.
pub(crate) trait WarmInstance {
    /// Invocations it has served.
    fn uses(&self) -> u32;
    /// When it last finished an invocation.
    fn last_used(&self) -> Instant;
}

/// Idle live instances of one function. Disabled (always empty) without a [`WarmConfig`].
pub(crate) struct WarmPool<I> {
    config: Option<WarmConfig>,
    idle: Mutex<Vec<I>>,
}

impl<I: WarmInstance> WarmPool<I> {
    /// A pool following `config`; `None` keeps fresh instances per request.
    pub(crate) fn new(config: Option<WarmConfig>) -> WarmPool<I> {
        WarmPool {
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The most recently used idle instance that has not expired, if any. Expired ones found on
    /// the way are dropped, which returns their slots to the instance pool.
    pub(crate) fn take(&self) -> Option<I> {
        let config = self.config.as_ref()?;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(live) = idle.pop() {
            if live.last_used().elapsed() < config.idle_timeout {
                return Some(live);
            }
        }
        None
    }

    /// Keeps `live` for the next request, unless it is used up or the pool is full.
    pub(crate) fn put(&self, live: I) {
        let Some(config) = &self.config else { return };
        if live.uses() >= config.max_uses {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < config.max_instances {
            idle.push(live);
        }
    }

    /// Idle instances held now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
