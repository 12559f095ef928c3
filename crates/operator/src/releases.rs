//! The platform's release channels: the ConfigMap `tenant-releases` in the operator's namespace,
//! `data` = channel -> image tag. Tenants with `releaseChannel` run their channel's tag; when the
//! platform changes it, every Tenant is reconciled, and each following tenant rolls out in its
//! own maintenance window.
//!
//! The reconcile waits until the first read is in: a reconcile without the channels would refuse
//! every following Tenant (unknown channel).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tenant_core::build::services::RELEASES_CONFIG_MAP;

use crate::gate::Gate;
use tracing::{info, warn};

/// The channels as last read, shared with the reconciles.
#[derive(Clone)]
pub struct Releases {
    channels: Arc<RwLock<BTreeMap<String, String>>>,
    ready: Gate,
}

impl Default for Releases {
    fn default() -> Self {
        Releases {
            channels: Arc::default(),
            ready: Gate::new(false),
        }
    }
}

impl Releases {
    /// Channels already known (tests of the reconcile without a cluster).
    pub fn fixed(channels: BTreeMap<String, String>) -> Releases {
        let r = Releases::default();
        *r.channels
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = channels;
        r.ready.open();
        r
    }

    pub fn current(&self) -> BTreeMap<String, String> {
        self.channels
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub async fn wait_ready(&self) {
        self.ready.wait().await;
    }

    /// Follows the ConfigMap until the task is aborted; `changed` after each change.
    pub(crate) async fn follow(
        self,
        client: Client,
        namespace: String,
        resumed: crate::outage::Resumed,
        changed: impl Fn(),
    ) {
        let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
        let cfg =
            crate::kinds::watch_config().fields(&format!("metadata.name={RELEASES_CONFIG_MAP}"));
        let mut stream = crate::outage::backoff(watcher::watcher(api, cfg), &resumed).boxed();
        let mut listed: Option<BTreeMap<String, String>> = None;
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    warn!(error = %e, "watching the release channels (retrying)");
                    continue;
                }
            };
            let next = match event {
                Event::Init => {
                    listed = Some(BTreeMap::new());
                    continue;
                }
                Event::InitApply(cm) => {
                    listed = Some(cm.data.unwrap_or_default());
                    continue;
                }
                Event::InitDone => listed.take().unwrap_or_default(),
                Event::Apply(cm) => cm.data.unwrap_or_default(),
                Event::Delete(_) => BTreeMap::new(),
            };
            let differs = {
                let mut cur = self
                    .channels
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let d = *cur != next;
                *cur = next;
                d
            };
            let first = self.ready.open();
            if differs && !first {
                info!(channels = ?self.current(), "release channels changed; reconciling every Tenant");
                changed();
            }
        }
    }
}
