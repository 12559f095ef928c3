//! The tenants' Velero Backups.
//!
//! Velero copies a Schedule's labels and annotations onto every Backup it creates, so the
//! tenant's Backups carry the operator's label and the Tenant's owner annotations. One watch of
//! the Backups in Velero's namespace with that label keeps a short summary of each (name, phase,
//! times; never its contents) per Tenant uid, and reconciles a Tenant when one of its Backups
//! changes phase, so `BackupReady` and `status.lastBackupTime` follow without polling. While
//! Velero's CRDs are not installed the watch keeps retrying, quietly, and picks them up.
//!
//! The final backup of a Tenant being deleted is the cleanup's (`reconcile::backup`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;
use kube::{Client, Resource};
use tenant_core::backups::BackupSummary;
use tokio::sync::watch;
use tracing::{debug, info};

use crate::cache::managed_selector;
use crate::io;
use crate::kinds::{Triggers, watch_config};

/// The first and the longest pause between failed lists of Velero's Backups.
const LIST_RETRY_MIN: std::time::Duration = std::time::Duration::from_secs(1);
const LIST_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// Velero's Backup kind.
pub use tenant_core::backups::resource;

/// The tenants' Backups, as summaries per Tenant uid.
pub struct Backups {
    by_uid: Mutex<HashMap<String, BTreeMap<String, BackupSummary>>>,
    /// Whether the summaries hold a complete list (the watch listed at least once).
    listed: watch::Sender<bool>,
}

impl Default for Backups {
    fn default() -> Self {
        Backups {
            by_uid: Mutex::new(HashMap::new()),
            listed: watch::channel(false).0,
        }
    }
}

impl Backups {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, BackupSummary>>> {
        self.by_uid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The Backups of the Tenant with `uid`, once the watch has listed them (`None` before: the
    /// caller keeps what it knew, rather than report "no backup yet" after a restart).
    pub fn of(&self, uid: &str) -> Option<Vec<BackupSummary>> {
        if !*self.listed.borrow() {
            return None;
        }
        Some(
            self.map()
                .get(uid)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default(),
        )
    }

    pub fn forget(&self, uid: &str) {
        self.map().remove(uid);
    }

    /// Records `b`; true when what status shows of it changed (a new Backup, a new phase).
    fn put(&self, b: BackupSummary) -> bool {
        let Some(uid) = b.owner_uid.clone() else {
            return false;
        };
        let mut map = self.map();
        let per = map.entry(uid).or_default();
        let changed = per
            .get(&b.name)
            .is_none_or(|old| old.phase != b.phase || old.completed != b.completed);
        per.insert(b.name.clone(), b);
        changed
    }

    fn remove(&self, b: &BackupSummary) {
        let Some(uid) = &b.owner_uid else {
            return;
        };
        let mut map = self.map();
        if let Some(per) = map.get_mut(uid) {
            per.remove(&b.name);
            if per.is_empty() {
                map.remove(uid);
            }
        }
    }

    /// Follows the Backups in `namespace` until aborted. After each complete list every owner is
    /// reconciled once (their status may have been held back until now).
    pub async fn follow(
        self: std::sync::Arc<Self>,
        client: Client,
        namespace: String,
        triggers: Triggers,
        metrics: std::sync::Arc<crate::Metrics>,
    ) {
        let api: Api<DynamicObject> = Api::namespaced_with(client, &namespace, &resource());
        let watch = watcher(api, watch_config().labels(&managed_selector()));
        let mut events = crate::outage::backoff(watch, &triggers.resumed).boxed();
        let mut relisting: Option<HashMap<String, BTreeMap<String, BackupSummary>>> = None;
        // The watcher announces every list attempt with an `Init` event, which resets its own
        // backoff: a list that keeps failing (Velero not installed, the API server away) would
        // be retried every second. This pause, doubling to a minute until a list succeeds,
        // spaces the attempts out (the watcher lists only when polled).
        let mut pause = LIST_RETRY_MIN;
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    // Velero not installed (404) or not reachable: keep trying, quietly.
                    debug!(error = %e, retry_in = ?pause, "backup watch error (retrying)");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LIST_RETRY_MAX);
                    continue;
                }
            };
            if matches!(event, watcher::Event::InitDone) {
                pause = LIST_RETRY_MIN;
            }
            match event {
                watcher::Event::Init => relisting = Some(HashMap::new()),
                watcher::Event::InitApply(o) => {
                    let b = BackupSummary::of(&io::to_value(o));
                    if let (Some(list), Some(uid)) = (relisting.as_mut(), b.owner_uid.clone()) {
                        list.entry(uid).or_default().insert(b.name.clone(), b);
                    }
                }
                watcher::Event::InitDone => {
                    if let Some(list) = relisting.take() {
                        *self.map() = list;
                    }
                    if !self.listed.send_replace(true) {
                        info!(namespace = %namespace, "watching Velero's Backups");
                    }
                    triggers.all();
                }
                watcher::Event::Apply(o) => {
                    let meta = o.meta().clone();
                    let b = BackupSummary::of(&io::to_value(o));
                    let failed = b.failed();
                    if self.put(b) {
                        if failed {
                            metrics.backup_failed();
                        }
                        triggers.owner_of("Backup", &meta);
                    }
                }
                watcher::Event::Delete(o) => {
                    let meta = o.meta().clone();
                    self.remove(&BackupSummary::of(&io::to_value(o)));
                    triggers.owner_of("Backup", &meta);
                }
            }
        }
    }
}
