//! What a tenant's Velero Backups say, and the `BackupReady` state that follows from them and
//! from its Schedule. Pure: the operator feeds it what its caches hold, `kubectl tenant backups`
//! what it listed.

use jiff::Timestamp;
use serde_json::Value;
use tenant_api::labels;

/// One Velero Backup of a tenant, reduced to what status and listings show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupSummary {
    pub name: String,
    /// `New`, `InProgress`, `Completed`, `PartiallyFailed`, `Failed`, `FailedValidation`, ...
    /// (`None`: Velero has not looked at it yet).
    pub phase: Option<String>,
    pub created: Option<Timestamp>,
    pub started: Option<Timestamp>,
    pub completed: Option<Timestamp>,
    pub expires: Option<Timestamp>,
    pub errors: i64,
    pub warnings: i64,
    /// Velero's reason for a failure, or its validation errors.
    pub failure: Option<String>,
    /// The Schedule that created it (`velero.io/schedule-name`); `None` for an on-demand one.
    pub schedule: Option<String>,
    /// The uid of the Tenant it was taken for (the owner-uid annotation Velero copies from the
    /// Schedule).
    pub owner_uid: Option<String>,
}

/// A Velero object's `status.validationErrors`, joined (empty: none).
fn validation_errors(v: &Value) -> String {
    v.pointer("/status/validationErrors")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Velero's Backup kind (`velero.io/v1`, namespaced in Velero's namespace).
pub fn resource() -> kube::core::ApiResource {
    kube::core::ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: "Backup".into(),
        plural: "backups".into(),
    }
}

/// Velero's label naming the Schedule a Backup came from.
pub const SCHEDULE_NAME_LABEL: &str = "velero.io/schedule-name";

impl BackupSummary {
    /// From a Backup object as the API serves it.
    pub fn of(v: &Value) -> BackupSummary {
        let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let time = |p: &str| text(p).and_then(|t| t.parse::<Timestamp>().ok());
        let int = |p: &str| v.pointer(p).and_then(Value::as_i64).unwrap_or(0);
        let validation = Some(validation_errors(v)).filter(|s| !s.is_empty());
        BackupSummary {
            name: text("/metadata/name").unwrap_or_default(),
            phase: text("/status/phase"),
            created: time("/metadata/creationTimestamp"),
            started: time("/status/startTimestamp"),
            completed: time("/status/completionTimestamp"),
            expires: time("/status/expiration"),
            errors: int("/status/errors"),
            warnings: int("/status/warnings"),
            failure: text("/status/failureReason").or(validation),
            schedule: v
                .pointer("/metadata/labels")
                .and_then(|l| l.get(SCHEDULE_NAME_LABEL))
                .and_then(Value::as_str)
                .map(str::to_string),
            owner_uid: v
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(labels::OWNER_UID))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.phase.as_deref() == Some("Completed")
    }

    pub fn failed(&self) -> bool {
        matches!(
            self.phase.as_deref(),
            Some("Failed" | "PartiallyFailed" | "FailedValidation")
        )
    }

    /// Whether Velero is done with it (successfully or not).
    pub fn finished(&self) -> bool {
        self.succeeded() || self.failed()
    }

    /// When it was taken, for ordering: started, else created.
    pub fn when(&self) -> Option<Timestamp> {
        self.started.or(self.created)
    }
}

/// The newest first, by start (else creation) time, then by name.
pub fn newest_first(backups: &mut [BackupSummary]) {
    backups.sort_by(|a, b| b.when().cmp(&a.when()).then_with(|| b.name.cmp(&a.name)));
}

/// The `BackupReady` condition's inputs.
pub struct BackupInputs<'a> {
    /// The cluster serves Velero's Schedule kind.
    pub served: bool,
    /// Someone else's Schedule holds the name the operator wants.
    pub foreign: Option<&'a str>,
    /// The Schedule is paused, and why (encryption asked for, not available).
    pub paused_because: Option<String>,
    /// The live Schedule (`None`: not created yet).
    pub schedule: Option<&'a Value>,
    /// The tenant's Backups, any order.
    pub backups: &'a [BackupSummary],
}

/// The tenant's backups as `BackupReady` reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupState {
    pub ready: bool,
    pub reason: String,
    pub message: String,
    /// When the last successful backup completed.
    pub last_success: Option<Timestamp>,
}

pub fn backup_state(i: &BackupInputs<'_>) -> BackupState {
    let state = |ready: bool, reason: &str, message: String| BackupState {
        ready,
        reason: reason.to_string(),
        message,
        last_success: i
            .backups
            .iter()
            .filter(|b| b.succeeded())
            .filter_map(|b| b.completed)
            .max(),
    };
    if !i.served {
        return state(
            false,
            "VeleroNotInstalled",
            "the cluster does not serve Velero's Schedule (velero.io/v1): install Velero; no backup is taken meanwhile".into(),
        );
    }
    if let Some(name) = i.foreign {
        return state(
            false,
            "BackupConflict",
            format!(
                "{name} exists and is not this Tenant's; it was left alone and no backup is scheduled"
            ),
        );
    }
    if let Some(why) = &i.paused_because {
        return state(false, "EncryptionUnavailable", why.clone());
    }
    let Some(schedule) = i.schedule else {
        return state(
            false,
            "SchedulePending",
            "the backup Schedule is not there yet".into(),
        );
    };
    let name = schedule
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if schedule.pointer("/status/phase").and_then(Value::as_str) == Some("FailedValidation") {
        let errors = validation_errors(schedule);
        return state(
            false,
            "ScheduleInvalid",
            format!("Velero refused Schedule {name}: {errors}"),
        );
    }
    let mut backups = i.backups.to_vec();
    newest_first(&mut backups);
    // The newest backup Velero is done with decides. One still running is not mentioned: the
    // condition changes (and the status is written) only when a backup ends.
    let last = backups.iter().find(|b| b.finished());
    match last {
        Some(b) if b.failed() => state(
            false,
            "BackupFailed",
            format!(
                "backup {} ended {}{}",
                b.name,
                b.phase.as_deref().unwrap_or(""),
                b.failure
                    .as_deref()
                    .map(|f| format!(": {f}"))
                    .unwrap_or_else(|| format!(" ({} errors)", b.errors)),
            ),
        ),
        Some(b) => state(
            true,
            "BackupCompleted",
            format!(
                "Schedule {name}: backup {} completed{}",
                b.name,
                b.completed.map(|t| format!(" at {t}")).unwrap_or_default(),
            ),
        ),
        None => state(
            true,
            "Scheduled",
            format!("Schedule {name} is in place; no backup has completed yet"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backup(name: &str, phase: &str, started: &str) -> BackupSummary {
        BackupSummary::of(&json!({
            "metadata": {"name": name, "creationTimestamp": started,
                "labels": {SCHEDULE_NAME_LABEL: "tenant-shop"},
                "annotations": {labels::OWNER_UID: "u-1"}},
            "status": {"phase": phase, "startTimestamp": started,
                "completionTimestamp": started, "expiration": "2027-01-01T00:00:00Z",
                "errors": 2, "failureReason": if phase == "Failed" { json!("the location is unavailable") } else { json!(null) }},
        }))
    }

    fn schedule(phase: &str) -> Value {
        json!({"metadata": {"name": "tenant-shop"}, "status": {"phase": phase, "validationErrors": ["invalid schedule"]}})
    }

    fn inputs<'a>(schedule: Option<&'a Value>, backups: &'a [BackupSummary]) -> BackupInputs<'a> {
        BackupInputs {
            served: true,
            foreign: None,
            paused_because: None,
            schedule,
            backups,
        }
    }

    #[test]
    fn a_summary_reads_velero_fields() {
        let b = backup(
            "tenant-shop-20261203020000",
            "Failed",
            "2026-12-03T02:00:00Z",
        );
        assert_eq!(b.schedule.as_deref(), Some("tenant-shop"));
        assert_eq!(b.owner_uid.as_deref(), Some("u-1"));
        assert_eq!(b.errors, 2);
        assert_eq!(b.failure.as_deref(), Some("the location is unavailable"));
        assert!(b.failed() && b.finished() && !b.succeeded());
        assert_eq!(b.expires.unwrap().to_string(), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn the_newest_finished_backup_decides() {
        let s = schedule("Enabled");
        let ok = backup("b1", "Completed", "2026-12-01T02:00:00Z");
        let bad = backup("b2", "PartiallyFailed", "2026-12-02T02:00:00Z");
        let running = backup("b3", "InProgress", "2026-12-03T02:00:00Z");
        let st = backup_state(&inputs(
            Some(&s),
            &[ok.clone(), bad.clone(), running.clone()],
        ));
        assert!(!st.ready);
        assert_eq!(st.reason, "BackupFailed");
        assert!(
            st.message.contains("b2 ended PartiallyFailed"),
            "{}",
            st.message
        );
        assert!(!st.message.contains("b3"), "{}", st.message);
        assert_eq!(st.last_success, ok.completed);
        let newer = backup("b4", "Completed", "2026-12-04T02:00:00Z");
        let st = backup_state(&inputs(Some(&s), &[ok, bad, running, newer.clone()]));
        assert!(st.ready);
        assert_eq!(st.reason, "BackupCompleted");
        assert_eq!(st.last_success, newer.completed);
    }

    #[test]
    fn without_velero_a_schedule_or_a_backup_the_reason_says_so() {
        let s = schedule("Enabled");
        let mut i = inputs(Some(&s), &[]);
        let st = backup_state(&i);
        assert!(st.ready);
        assert_eq!(st.reason, "Scheduled");
        i.served = false;
        assert_eq!(backup_state(&i).reason, "VeleroNotInstalled");
        i.served = true;
        i.foreign = Some("Schedule velero/tenant-shop");
        assert_eq!(backup_state(&i).reason, "BackupConflict");
        i.foreign = None;
        i.paused_because = Some("encryption".into());
        assert_eq!(backup_state(&i).reason, "EncryptionUnavailable");
        let invalid = schedule("FailedValidation");
        let st = backup_state(&inputs(Some(&invalid), &[]));
        assert_eq!(st.reason, "ScheduleInvalid");
        assert!(st.message.contains("invalid schedule"));
        assert_eq!(backup_state(&inputs(None, &[])).reason, "SchedulePending");
    }
}
