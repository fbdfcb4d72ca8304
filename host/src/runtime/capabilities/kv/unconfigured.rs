//! The backend of a platform whose store is not set up: every call is `unavailable` with a
//! message saying what to configure, so a function that is granted a store but deployed without
//! one fails its calls clearly instead of the runtime refusing to start.

use super::{KvBackend, KvError, KvFuture, KvPage};

/// No store: every call fails with `why`.
#[derive(Debug, Clone)]
pub struct Unconfigured {
    why: String,
}

impl Unconfigured {
    /// A backend whose every call answers `unavailable: <why>`.
    pub fn new(why: impl Into<String>) -> Unconfigured {
        Unconfigured { why: why.into() }
    }

    fn fail<T: Send + 'static>(&self) -> KvFuture<'_, T> {
        let error = KvError::unavailable(self.why.clone());
        Box::pin(async move { Err(error) })
    }
}

impl KvBackend for Unconfigured {
    fn describe(&self) -> String {
        format!("no key-value store ({})", self.why)
    }

    fn get<'a>(&'a self, _: &'a str, _: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        self.fail()
    }

    fn set<'a>(&'a self, _: &'a str, _: &'a str, _: &'a [u8], _: u32) -> KvFuture<'a, ()> {
        self.fail()
    }

    fn delete<'a>(&'a self, _: &'a str, _: &'a str) -> KvFuture<'a, ()> {
        self.fail()
    }

    fn list<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Option<&'a str>,
        _: u32,
    ) -> KvFuture<'a, KvPage> {
        self.fail()
    }
}
