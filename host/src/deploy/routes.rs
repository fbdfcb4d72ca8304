//! The routing table: which deployed function serves which path prefix, and by which name.

use super::deployed::Deployed;
use std::collections::HashMap;
use std::sync::Arc;

/// Deployed functions by name and by route.
#[derive(Default)]
pub(crate) struct Routes {
    by_name: HashMap<String, Arc<Deployed>>,
    by_prefix: HashMap<String, Arc<Deployed>>,
}

impl Routes {
    /// Routes `deployed`, replacing the function of the same name and its routes.
    pub(crate) fn insert(&mut self, deployed: Arc<Deployed>) {
        self.remove(deployed.spec.name());
        for route in deployed.spec.routes() {
            self.by_prefix.insert(route.clone(), deployed.clone());
        }
        self.by_name
            .insert(deployed.spec.name().to_owned(), deployed);
    }

    /// Unroutes the function named `name`, if it is deployed.
    pub(crate) fn remove(&mut self, name: &str) {
        if let Some(old) = self.by_name.remove(name) {
            for route in old.spec.routes() {
                self.by_prefix.remove(route);
            }
        }
    }

    /// Functions deployed.
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// The function routed at `path`: the longest route that equals `path` or is a prefix of it
    /// ending at a `/`.
    pub(crate) fn resolve(&self, path: &str) -> Option<Arc<Deployed>> {
        let mut candidate = path;
        loop {
            if let Some(found) = self.by_prefix.get(candidate) {
                return Some(found.clone());
            }
            if candidate.len() <= 1 {
                return None;
            }
            candidate = match candidate.rfind('/') {
                Some(0) => "/",
                Some(i) => &candidate[..i],
                None => return None,
            };
        }
    }

    /// The function named `name`.
    pub(crate) fn by_name(&self, name: &str) -> Option<Arc<Deployed>> {
        self.by_name.get(name).cloned()
    }

    /// All deployed functions, sorted by name.
    pub(crate) fn all(&self) -> Vec<Arc<Deployed>> {
        let mut all: Vec<_> = self.by_name.values().cloned().collect();
        all.sort_by(|a, b| a.spec.name().cmp(b.spec.name()));
        all
    }
}
