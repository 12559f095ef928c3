//! Self-service restores: a `TenantRestore` in a tenant's namespace (which a tenant admin may
//! create, and `restoreSchedule` creates on a timetable) becomes a Velero Restore of one of that
//! tenant's completed backups into that same namespace, or of another environment's where both
//! Tenants allow it (`tbackup::cross_restore_allowed`), and its status follows the Restore.
//!
//! What makes it safe, whoever asks: the tenant is found by the namespace the request lives in
//! (as the operator recorded it in the Tenant's status), never by anything the request says; the
//! backup must be one of that tenant's (its uid, copied by Velero from the Schedule); the Restore
//! names that namespace only, no namespace mapping, no cluster-scoped resources, not the
//! operator's own objects nor quotas, limits, network policies and RBAC
//! (`tenant_core::build::backup::NEVER_RESTORED`), and Velero leaves existing objects as they are.
//! `restoreEnabled: false` refuses. The fence holds the operator's Restores to the same shape.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ApiResource, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tenant_api::{Tenant, TenantRestore, TenantRestoreStatus, labels};
use tenant_core::build::backup as tbackup;
use tracing::{debug, info, warn};

use crate::backup::Backups;
use crate::context::Config;
use crate::io;
use crate::kinds::{Kinds, Served};
use crate::metrics::Metrics;

/// How often a running restore is looked at.
const POLL: Duration = Duration::from_secs(3);

/// Velero's Restore kind.
pub fn resource() -> ApiResource {
    ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: "Restore".into(),
        plural: "restores".into(),
    }
}

/// What the restore controller reads.
pub struct RestoreContext {
    pub client: Client,
    pub config: Config,
    pub tenants: Store<Tenant>,
    pub backups: Arc<Backups>,
    pub kinds: Arc<Kinds>,
    pub metrics: Arc<Metrics>,
    /// Ends the watch's retry pause when an outage of the API server ends.
    pub(crate) resumed: crate::outage::Resumed,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// Runs the controller of TenantRestores until `stopped`.
pub async fn run(
    ctx: Arc<RestoreContext>,
    stopped: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<TenantRestore> = Api::all(ctx.client.clone());
    let (requests, watch) = crate::outage::controller_watch(
        api,
        crate::kinds::watch_config(),
        &ctx.resumed,
        "TenantRestore",
    );
    Controller::for_stream(watch, requests)
        .graceful_shutdown_on(stopped)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                debug!(error = %e, "restore controller event");
            }
        })
        .await;
}

fn error_policy(_: Arc<TenantRestore>, e: &RestoreError, _: Arc<RestoreContext>) -> Action {
    warn!(error = %e, "restore request failed; retrying");
    Action::requeue(Duration::from_secs(10))
}

/// The Tenant whose namespace `namespace` is, as the operator recorded it in its status (never
/// what labels or annotations on the namespace say).
/// One that is not being deleted comes first.
fn tenant_of(tenants: &Store<Tenant>, namespace: &str) -> Option<Arc<Tenant>> {
    let mut found: Vec<Arc<Tenant>> = tenants
        .state()
        .into_iter()
        .filter(|t| {
            t.status.as_ref().and_then(|s| s.namespace.as_deref()) == Some(namespace)
                && t.status.as_ref().is_some_and(|s| s.namespace_uid.is_some())
        })
        .collect();
    found.sort_by_key(|t| t.metadata.deletion_timestamp.is_some());
    found.into_iter().next()
}

/// The status of a refused request.
fn refused(message: String) -> TenantRestoreStatus {
    TenantRestoreStatus {
        phase: Some("Refused".into()),
        message: Some(message),
        ..TenantRestoreStatus::default()
    }
}

async fn reconcile(
    req: Arc<TenantRestore>,
    ctx: Arc<RestoreContext>,
) -> Result<Action, RestoreError> {
    let current = req.status.clone().unwrap_or_default();
    if current.finished() {
        return Ok(Action::await_change());
    }
    let namespace = req.namespace().unwrap_or_default();
    // The Tenant whose namespace this is, as the operator recorded it.
    let tenant =
        tenant_of(&ctx.tenants, &namespace).filter(|t| t.metadata.deletion_timestamp.is_none());
    let Some(tenant) = tenant else {
        if ctx.config.watch_namespace.is_some() {
            // Another operator's tenant, perhaps: a scoped operator answers only for its own.
            return Ok(Action::await_change());
        }
        let st = refused(format!(
            "namespace {namespace} is not a tenant's namespace: nothing to restore into"
        ));
        write(&ctx, &req, st).await?;
        return Ok(Action::await_change());
    };
    if !tbackup::restore_enabled(&tenant) {
        let st = refused("the tenant's backupConfig.restoreEnabled is false".into());
        write(&ctx, &req, st).await?;
        return Ok(Action::await_change());
    }
    let served = ctx
        .kinds
        .find(tbackup::API_VERSION, tbackup::KIND)
        .map(|k| k.served());
    if served != Some(Served::Yes) {
        let st = TenantRestoreStatus {
            phase: Some("Pending".into()),
            message: Some("the cluster does not serve Velero's API: install Velero".into()),
            ..TenantRestoreStatus::default()
        };
        if st != current {
            write(&ctx, &req, st).await?;
        }
        return Ok(Action::requeue(Duration::from_secs(30)));
    }
    let Some(uid) = tenant.metadata.uid.clone() else {
        return Ok(Action::await_change());
    };
    let ar = resource();
    let velero: Api<kube::api::DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ctx.config.backup.velero_namespace, &ar);
    let restore_name = match current.restore_name.clone() {
        Some(n) => n,
        None => {
            // Whose backups: the tenant's own, or (allowed both ways) another environment's.
            let source = req
                .spec
                .source_namespace
                .as_deref()
                .filter(|s| *s != namespace);
            let owner_uid = match source {
                None => uid.clone(),
                Some(src) => {
                    let Some(other) = tenant_of(&ctx.tenants, src) else {
                        let why = format!(
                            "sourceNamespace {src} is not a tenant's namespace: nothing to restore from"
                        );
                        write(&ctx, &req, refused(why)).await?;
                        return Ok(Action::await_change());
                    };
                    if let Err(why) = tbackup::cross_restore_allowed(&other, &tenant) {
                        write(&ctx, &req, refused(why)).await?;
                        return Ok(Action::await_change());
                    }
                    let Some(other_uid) = other.metadata.uid.clone() else {
                        return Ok(Action::await_change());
                    };
                    other_uid
                }
            };
            let Some(backups) = ctx.backups.of(&owner_uid) else {
                // Velero's Backups are not listed yet.
                return Ok(Action::requeue(POLL));
            };
            let backup = match tbackup::choose_backup(&backups, req.spec.backup_name.as_deref()) {
                Ok(b) => b,
                Err(why) => {
                    write(&ctx, &req, refused(why)).await?;
                    return Ok(Action::await_change());
                }
            };
            let obj = tbackup::velero_restore(&tenant, &req, &backup, source, &ctx.config.backup);
            if velero.get_opt(&obj.name).await?.is_none() {
                ctx.metrics.write("Restore", "apply");
                io::apply(&ctx.client, &ar, &obj, &obj.manifest).await?;
                info!(request = %format!("{namespace}/{}", req.name_any()), restore = %obj.name, %backup, "restore started");
            }
            let st = TenantRestoreStatus {
                phase: Some("InProgress".into()),
                message: Some(match source {
                    Some(src) => format!(
                        "restoring from backup {backup} of namespace {src} into namespace {namespace}"
                    ),
                    None => format!("restoring from backup {backup} into namespace {namespace}"),
                }),
                backup_name: Some(backup),
                restore_name: Some(obj.name.clone()),
                started: Some(Time(k8s_openapi::jiff::Timestamp::now())),
                ..TenantRestoreStatus::default()
            };
            write(&ctx, &req, st).await?;
            return Ok(Action::requeue(POLL));
        }
    };
    let Some(live) = velero.get_opt(&restore_name).await? else {
        let st = TenantRestoreStatus {
            phase: Some("Failed".into()),
            message: Some(format!("the Velero Restore {restore_name} is gone")),
            ..current.clone()
        };
        write(&ctx, &req, st).await?;
        return Ok(Action::await_change());
    };
    let v = io::to_value(live);
    let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let int = |p: &str| v.pointer(p).and_then(Value::as_i64);
    let phase = text("/status/phase");
    let (ours, done) = match phase.as_deref() {
        Some("Completed") => ("Completed", true),
        Some("PartiallyFailed") => ("PartiallyFailed", true),
        Some("Failed" | "FailedValidation") => ("Failed", true),
        _ => ("InProgress", false),
    };
    let mut st = current.clone();
    st.phase = Some(ours.into());
    st.items_restored = int("/status/progress/itemsRestored");
    st.warnings = int("/status/warnings");
    st.errors = int("/status/errors");
    if done {
        st.completed = text("/status/completionTimestamp")
            .and_then(|t| t.parse().ok())
            .map(Time);
        let why = text("/status/failureReason")
            .or_else(|| {
                v.pointer("/status/validationErrors")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
            })
            .filter(|s| !s.is_empty());
        st.message = Some(format!(
            "restore from backup {} {}{}",
            st.backup_name.as_deref().unwrap_or(""),
            ours,
            why.map(|w| format!(": {w}")).unwrap_or_default()
        ));
    }
    if st != current {
        write(&ctx, &req, st).await?;
    }
    Ok(if done {
        Action::await_change()
    } else {
        Action::requeue(POLL)
    })
}

/// Writes the request's status (server-side apply, the operator's field manager).
async fn write(
    ctx: &RestoreContext,
    req: &TenantRestore,
    status: TenantRestoreStatus,
) -> Result<(), RestoreError> {
    let api: Api<TenantRestore> =
        Api::namespaced(ctx.client.clone(), &req.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": TenantRestore::api_version(&()),
        "kind": TenantRestore::kind(&()),
        "status": status,
    });
    ctx.metrics.write("TenantRestore/status", "apply");
    api.patch_status(
        &req.name_any(),
        &PatchParams::apply(labels::FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}
