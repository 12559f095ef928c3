//! Keeps the domain map (`tenant_core::build::domains`: which tenant holds which host) in the
//! operator's namespace, for the ingress-hosts admission policy. Rewritten from the Tenant store
//! after Tenant changes (a burst is one recomputation), and written only when it differs from
//! the stored map.
//!
//! Only an operator that watches every namespace keeps it: one scoped to a namespace knows only
//! that namespace's Tenants. Without the map, the policy refuses tenants' Ingresses.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use tenant_api::{Tenant, labels};
use tenant_core::build::domains;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::{Config, Metrics};

/// What keeping the map needs.
pub struct Keeper {
    pub client: Client,
    pub config: Config,
    pub store: Store<Tenant>,
    pub metrics: Arc<Metrics>,
}

impl Keeper {
    /// Runs until `changes` closes; `ready` resolves once the Tenant store is complete.
    pub async fn keep(self, ready: impl Future<Output = bool>, mut changes: watch::Receiver<()>) {
        if !ready.await {
            return;
        }
        let api: Api<ConfigMap> =
            Api::namespaced(self.client.clone(), &self.config.operator_namespace);
        let mut stored: Option<serde_json::Value> = None;
        loop {
            // the cached Tenants themselves (shared), not copies
            // a Tenant placed on other clusters holds no domain here
            let mut placed = self.store.state();
            placed.retain(|t| self.config.placed(t));
            let desired = domains::config_map(
                &placed,
                &self.config.operator_namespace,
                self.config.unclaimed_hosts,
            );
            let data = desired.manifest["data"].clone();
            if stored.is_none() {
                match api.get_opt(domains::CONFIG_MAP).await {
                    Ok(live) => {
                        stored = Some(
                            live.and_then(|c| serde_json::to_value(c.data).ok())
                                .unwrap_or_default(),
                        );
                    }
                    Err(e) => warn!(error = %e, "reading the domain map"),
                }
            }
            if stored.as_ref() != Some(&data) {
                self.metrics.write("ConfigMap", "apply");
                let params = PatchParams::apply(labels::FIELD_MANAGER).force();
                match api
                    .patch(
                        domains::CONFIG_MAP,
                        &params,
                        &Patch::Apply(&desired.manifest),
                    )
                    .await
                {
                    Ok(_) => {
                        info!(
                            held = data.as_object().map_or(0, |m| m.len().saturating_sub(1)),
                            "domain map written"
                        );
                        stored = Some(data);
                    }
                    Err(e) => {
                        warn!(error = %e, "writing the domain map; retrying");
                        stored = None;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        continue;
                    }
                }
            } else {
                debug!("domain map unchanged");
            }
            if changes.changed().await.is_err() {
                return;
            }
            // A burst of Tenant changes is one recomputation.
            tokio::time::sleep(Duration::from_millis(500)).await;
            changes.borrow_and_update();
        }
    }
}
