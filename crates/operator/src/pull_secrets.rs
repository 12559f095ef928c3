//! The platform's registry credentials (`--pull-secret`): Secrets of type
//! `kubernetes.io/dockerconfigjson` in the operator's namespace, followed by one watch of that
//! namespace's Secrets. The builders copy each into the tenant namespaces whose services pull from
//! its registries (`tenant_core::build::pull_secrets`); when a source is created, rotated or
//! deleted, every Tenant is reconciled, so the copies follow.
//!
//! The reconcile waits until the first list is in: a reconcile without the sources would prune
//! every copy.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::watcher;
use kube::runtime::watcher::Event;
use kube::{Api, Client, ResourceExt};
use tenant_core::build::pull_secrets::{KEY, PullSecretSource, TYPE};

use crate::gate::Gate;
use tracing::{info, warn};

/// The current sources, shared with the reconciles.
#[derive(Clone)]
pub struct PullSecrets {
    names: Arc<Vec<String>>,
    sources: Arc<RwLock<Vec<PullSecretSource>>>,
    ready: Gate,
}

impl PullSecrets {
    /// Sources named `names` (none: ready at once, nothing to follow).
    pub fn new(names: Vec<String>) -> PullSecrets {
        PullSecrets {
            ready: Gate::new(names.is_empty()),
            names: Arc::new(names),
            sources: Arc::default(),
        }
    }

    /// The sources as last seen, in the order the platform named them.
    pub fn current(&self) -> Vec<PullSecretSource> {
        self.sources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Resolves once the first list of the operator namespace's Secrets is in.
    pub async fn wait_ready(&self) {
        self.ready.wait().await;
    }

    /// Follows the sources until the task is aborted; `changed` is called after each change.
    pub(crate) async fn follow(
        self,
        client: Client,
        namespace: String,
        resumed: crate::outage::Resumed,
        changed: impl Fn(),
    ) {
        if self.names.is_empty() {
            return;
        }
        let api: Api<Secret> = Api::namespaced(client, &namespace);
        let mut stream =
            crate::outage::backoff(watcher(api, crate::kinds::watch_config()), &resumed).boxed();
        let mut seen: BTreeMap<String, Secret> = BTreeMap::new();
        let mut listing: Option<BTreeMap<String, Secret>> = None;
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    warn!(error = %e, "watching the registry credentials (retrying)");
                    continue;
                }
            };
            let wanted = |s: &Secret| self.names.contains(&s.name_any());
            let mut done = false;
            match event {
                Event::Init => listing = Some(BTreeMap::new()),
                Event::InitApply(s) => {
                    if let Some(l) = listing.as_mut()
                        && wanted(&s)
                    {
                        l.insert(s.name_any(), s);
                    }
                }
                Event::InitDone => {
                    seen = listing.take().unwrap_or_default();
                    done = true;
                }
                Event::Apply(s) if wanted(&s) => {
                    seen.insert(s.name_any(), s);
                    done = true;
                }
                Event::Delete(s) if wanted(&s) => {
                    seen.remove(&s.name_any());
                    done = true;
                }
                Event::Apply(_) | Event::Delete(_) => {}
            }
            if !done {
                continue;
            }
            let sources = self.sources_of(&namespace, &seen);
            let changed_now = {
                let mut cur = self
                    .sources
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let differs = *cur != sources;
                *cur = sources;
                differs
            };
            let first = self.ready.open();
            if changed_now && !first {
                info!("registry credentials changed; reconciling every Tenant");
                changed();
            }
        }
    }

    fn sources_of(
        &self,
        namespace: &str,
        seen: &BTreeMap<String, Secret>,
    ) -> Vec<PullSecretSource> {
        let mut out = Vec::new();
        for name in self.names.iter() {
            let Some(s) = seen.get(name) else {
                warn!(secret = %name, %namespace, "registry credential --pull-secret not found; tenants get no copy of it");
                continue;
            };
            if s.type_.as_deref() != Some(TYPE) {
                warn!(secret = %name, r#type = ?s.type_, "registry credential is not of type {TYPE}; skipped");
                continue;
            }
            let Some(data) = s.data.as_ref().and_then(|d| d.get(KEY)) else {
                warn!(secret = %name, "registry credential has no {KEY}; skipped");
                continue;
            };
            match PullSecretSource::parse(name, &data.0) {
                Ok(src) => out.push(src),
                // the error names the Secret and what is wrong, never its content
                Err(e) => warn!(secret = %name, error = %e, "registry credential skipped"),
            }
        }
        out
    }
}
