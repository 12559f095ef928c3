//! The tenant's backups in the reconcile: `BackupReady` from its Schedule and Backups (status
//! step), and, while the Tenant is being deleted, its last backup and the removal of its
//! Schedule (cleanup step). The Schedule itself is applied and pruned like every other object
//! (its home is Velero's namespace: `Desired::at_home`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::events::EventType;
use tenant_api::condition as c;
use tenant_core::backups::{self, BackupInputs, BackupState, BackupSummary};
use tenant_core::build::backup as tbackup;
use tenant_core::registry::Home;
use tracing::info;

use super::apply::Applied;
use super::build::Desired;
use super::{Pass, events};
use crate::cache::CachedRef;
use crate::error::Result;
use crate::io;
use crate::kinds::Served;

/// `BackupReady` for the status step (`None`: backups are off).
pub fn state(pass: &Pass<'_>, desired: &Desired, applied: &Applied) -> Option<BackupState> {
    let ctx = pass.ctx;
    let obj = desired
        .objects
        .iter()
        .find(|o| o.kind == tbackup::KIND && o.api_version == tbackup::API_VERSION)?;
    let kind = ctx.kinds.find(tbackup::API_VERSION, tbackup::KIND)?;
    let served = kind.served() == Served::Yes;
    let foreign = applied
        .foreign
        .iter()
        .find(|f| f.starts_with(&format!("{} ", tbackup::KIND)))
        .map(String::as_str);
    let live = applied.live.get(&obj.key());
    let Some(list) = ctx.backups.of(pass.uid) else {
        // Velero's Backups are not listed yet (start-up, or Velero not reachable): keep what the
        // status says rather than report "no backup yet".
        return Some(recorded(pass).unwrap_or_else(|| {
            backups::backup_state(&BackupInputs {
                served,
                foreign,
                paused_because: tbackup::paused_because(pass.tenant, &ctx.config.backup),
                schedule: live,
                backups: &[],
            })
        }));
    };
    // (kept per Tenant uid: a predecessor of the same name has other Backups)
    let st = backups::backup_state(&BackupInputs {
        served,
        foreign,
        paused_because: tbackup::paused_because(pass.tenant, &ctx.config.backup),
        schedule: live,
        backups: &list,
    });
    ctx.metrics
        .set_backup_failing(&pass.owner.key(), st.reason == "BackupFailed");
    Some(st)
}

/// The `BackupReady` condition and last backup time the status recorded, as a state.
fn recorded(pass: &Pass<'_>) -> Option<BackupState> {
    let status = pass.status.as_ref()?;
    let cond: &Condition = status
        .conditions
        .iter()
        .flatten()
        .find(|c0| c0.type_ == c::BACKUP_READY)?;
    Some(BackupState {
        ready: cond.status == "True",
        reason: cond.reason.clone(),
        message: cond.message.clone(),
        last_success: status.last_backup_time.as_ref().map(|t| t.0),
    })
}

/// Where the final backup of a Tenant being deleted stands.
pub enum Final {
    /// Nothing (more) to wait for: go on with the deletion.
    Done,
    /// Velero is still at it: look again shortly.
    Waiting,
}

/// Publishes an Event about the final backup, once per reason and Tenant.
async fn note(pass: &Pass<'_>, type_: EventType, reason: &str, message: String) {
    if pass
        .ctx
        .tampered
        .first_time(pass.uid, &format!("final-backup/{reason}"))
    {
        info!(tenant = %pass.owner, reason, %message, "final backup");
        events::publish(pass, type_, reason, "Cleanup", message).await;
    }
}

/// Takes the Tenant's last backup before its namespace goes, and waits for it (bounded by
/// `--final-backup-timeout-seconds`, counted from the Backup's creation).
pub async fn final_backup(pass: &Pass<'_>) -> Final {
    let ctx = pass.ctx;
    let bctx = tenant_core::build::BuildContext {
        backup: &ctx.config.backup,
        ..tenant_core::build::BuildContext::default()
    };
    let obj = match tbackup::final_backup(pass.tenant, pass.uid, &bctx) {
        Ok(Some(_)) if let Some(why) = tbackup::paused_because(pass.tenant, &ctx.config.backup) => {
            // Never an unencrypted backup of a tenant that asked for encryption.
            let message = format!("no final backup: {why}");
            note(pass, EventType::Warning, "FinalBackupSkipped", message).await;
            return Final::Done;
        }
        Ok(Some(o)) => o,
        Ok(None) => return Final::Done,
        Err(e) => {
            let message = format!("no final backup: {e}");
            note(pass, EventType::Warning, "FinalBackupSkipped", message).await;
            return Final::Done;
        }
    };
    let served = ctx
        .kinds
        .find(tbackup::API_VERSION, tbackup::KIND)
        .map(|k| k.served());
    if served != Some(Served::Yes) {
        let message = "no final backup: the cluster does not serve Velero's API".to_string();
        note(pass, EventType::Warning, "FinalBackupSkipped", message).await;
        return Final::Done;
    }
    let ar = crate::backup::resource();
    let ns = obj.namespace.clone().unwrap_or_default();
    let live = match io::get(&ctx.client, &ar, Some(&ns), &obj.name).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "reading the final backup");
            return Final::Waiting;
        }
    };
    let Some(live) = live else {
        ctx.metrics.write("Backup", "apply");
        return match io::apply(&ctx.client, &ar, &obj, &obj.manifest).await {
            Ok(_) => {
                let message = format!(
                    "taking a last backup, {ns}/{}, before the namespace is deleted (waiting up to {} s)",
                    obj.name,
                    ctx.config.final_backup_timeout.as_secs()
                );
                note(pass, EventType::Normal, "FinalBackup", message).await;
                Final::Waiting
            }
            Err(e) => {
                let message = format!("could not create the final backup {}: {e}", obj.name);
                note(pass, EventType::Warning, "FinalBackupFailed", message).await;
                Final::Done
            }
        };
    };
    if !tenant_core::claim::marks_match(&live.metadata, &pass.owner, pass.uid) {
        let message = format!(
            "Backup {ns}/{} exists and is not this Tenant's; no final backup was taken",
            obj.name
        );
        note(pass, EventType::Warning, "FinalBackupSkipped", message).await;
        return Final::Done;
    }
    let b = BackupSummary::of(&io::to_value(live));
    if b.succeeded() {
        let message = format!("the last backup {ns}/{} completed", b.name);
        note(pass, EventType::Normal, "FinalBackupCompleted", message).await;
        return Final::Done;
    }
    if b.failed() {
        let message = format!(
            "the last backup {ns}/{} ended {}{}; deleting the namespace all the same",
            b.name,
            b.phase.as_deref().unwrap_or(""),
            b.failure
                .as_deref()
                .map(|f| format!(": {f}"))
                .unwrap_or_default()
        );
        note(pass, EventType::Warning, "FinalBackupFailed", message).await;
        return Final::Done;
    }
    let waited = b
        .created
        .map(|at| jiff::Timestamp::now().duration_since(at).unsigned_abs())
        .unwrap_or_default();
    if waited >= ctx.config.final_backup_timeout {
        let message = format!(
            "the last backup {ns}/{} is still {} after {} s; deleting the namespace without waiting longer (Velero goes on with it)",
            b.name,
            b.phase.as_deref().unwrap_or("New"),
            waited.as_secs()
        );
        note(pass, EventType::Warning, "FinalBackupTimedOut", message).await;
        return Final::Done;
    }
    Final::Waiting
}

/// Whether `r` is one of the Tenant's objects in Velero's namespace (its Schedule): of a kind
/// whose home is there, in that namespace, with this Tenant's uid.
pub fn in_velero_home(pass: &Pass<'_>, r: &CachedRef) -> bool {
    tenant_core::registry::find(&r.api_version, &r.kind).map(|k| k.home) == Some(Home::Velero)
        && r.namespace.as_deref() == Some(pass.ctx.config.backup.velero_namespace.as_str())
        && r.owner_uid.as_deref() == Some(pass.uid)
}

/// Deletes the Tenant's objects in Velero's namespace (its Schedule; the Backups stay until
/// their TTL).
pub async fn remove_schedules(pass: &Pass<'_>, marked: &[CachedRef]) -> Result<()> {
    for r in marked.iter().filter(|r| in_velero_home(pass, r)) {
        super::cleanup::delete_cached(pass, r).await?;
        info!(tenant = %pass.owner, kind = %r.kind, name = %r.name, "deleted the tenant's backup schedule");
    }
    Ok(())
}

/// What `restoreSchedule` did in this pass.
#[derive(Default)]
pub struct Scheduled {
    /// The time to record in `status.lastScheduledRestore`.
    pub record: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// When to look again (the next time, or a retry).
    pub next: Option<jiff::Timestamp>,
}

/// The restores `restoreSchedule` asks for: at each time, a TenantRestore
/// `scheduled-<yyyymmdd-hhmm>` in the tenant's namespace, which the restore controller carries
/// out (and refuses, like any other, when it is not allowed). Its name makes it once per time,
/// whichever operator instance gets there; the newest few are kept.
pub async fn scheduled_restores(pass: &Pass<'_>, namespace: &str) -> Scheduled {
    let ctx = pass.ctx;
    let recorded = pass
        .status
        .as_ref()
        .and_then(|s| s.last_scheduled_restore.as_ref())
        .map(|t| t.0);
    let now = ctx.config.clock.now();
    let tt = tbackup::restore_timetable(pass.tenant, recorded, now);
    let mut out = Scheduled {
        record: tt.record.map(Time),
        next: tt.next,
    };
    if let Some(at) = tt.missed
        && ctx
            .tampered
            .first_time(pass.uid, &format!("scheduled-restore/{at}"))
    {
        let message = format!(
            "the scheduled restore of {at} was not started: the operator saw it more than {} s late; the next one is at {}",
            tbackup::SCHEDULED_RESTORE_DEADLINE_SECONDS,
            tt.next
                .map(|n| n.to_string())
                .unwrap_or_else(|| "never".into())
        );
        events::publish(
            pass,
            EventType::Warning,
            "ScheduledRestoreMissed",
            "Restore",
            message,
        )
        .await;
    }
    let Some(at) = tt.due else {
        return out;
    };
    let obj = tbackup::scheduled_restore(pass.tenant, at);
    match create_scheduled(pass, namespace, &obj).await {
        Ok(created) => {
            if created {
                let from = obj.manifest["spec"]["sourceNamespace"]
                    .as_str()
                    .unwrap_or(namespace);
                let message = format!(
                    "restoreSchedule: created TenantRestore {} (the newest completed backup of {from})",
                    obj.name
                );
                info!(tenant = %pass.owner, restore = %obj.name, "scheduled restore");
                events::publish(
                    pass,
                    EventType::Normal,
                    "ScheduledRestore",
                    "Restore",
                    message,
                )
                .await;
            }
        }
        Err(e) => {
            // Not recorded: tried again shortly, until the deadline makes it a missed one.
            tracing::warn!(tenant = %pass.owner, error = %e, "scheduled restore");
            let message = format!(
                "restoreSchedule: could not create TenantRestore {}: {e}",
                obj.name
            );
            if ctx
                .tampered
                .first_time(pass.uid, &format!("scheduled-restore-failed/{at}"))
            {
                events::publish(
                    pass,
                    EventType::Warning,
                    "ScheduledRestoreFailed",
                    "Restore",
                    message,
                )
                .await;
            }
            out.record = recorded.map(Time);
            out.next = Some(now + std::time::Duration::from_secs(30));
        }
    }
    out
}

/// Creates the scheduled TenantRestore unless it exists (true: created), then removes the
/// tenant's scheduled TenantRestores beyond the newest few that have finished.
async fn create_scheduled(
    pass: &Pass<'_>,
    namespace: &str,
    obj: &tenant_core::object::Object,
) -> std::result::Result<bool, kube::Error> {
    use kube::api::{Api, ApiResource, DeleteParams, ListParams};
    use tenant_api::TenantRestore;
    let ctx = pass.ctx;
    let api: Api<TenantRestore> = Api::namespaced(ctx.client.clone(), namespace);
    if api.get_opt(&obj.name).await?.is_some() {
        return Ok(false);
    }
    ctx.metrics.write("TenantRestore", "apply");
    io::apply(
        &ctx.client,
        &ApiResource::erase::<TenantRestore>(&()),
        obj,
        &obj.manifest,
    )
    .await?;
    let mine = ListParams::default().labels(&format!(
        "{}=true,{}={}",
        tbackup::SCHEDULED_RESTORE,
        tenant_api::labels::MANAGED_BY,
        tenant_api::labels::MANAGER
    ));
    let mut list = api.list(&mine).await?.items;
    // Named after their times: newest last.
    list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let excess = list.len().saturating_sub(tbackup::SCHEDULED_RESTORES_KEPT);
    for old in list.iter().take(excess) {
        let finished = old.status.as_ref().is_some_and(|s| s.finished());
        let ours = tenant_core::claim::marks_match(&old.metadata, &pass.owner, pass.uid);
        if finished && ours {
            let name = old.metadata.name.clone().unwrap_or_default();
            ctx.metrics.write("TenantRestore", "delete");
            api.delete(&name, &DeleteParams::default()).await?;
        }
    }
    Ok(true)
}
