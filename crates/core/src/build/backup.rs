//! The tenant's backups (`backupConfig.enabled`): one Velero `Schedule` in Velero's namespace,
//! backing up the tenant's namespace and nothing else.
//!
//! - `schedule` is the cron (UTC), `retention` the TTL of every Backup the Schedule creates.
//! - `includedNamespaces` is the tenant's namespace only and `includeClusterResources` is
//!   false: a tenant's backup never holds another tenant's objects or cluster-scoped ones.
//! - `backupSecrets: false` excludes `secrets`; `backupIncludeResources` and
//!   `backupExcludeResources` pass through; `backupNamespace: false` keeps only what volume
//!   backups need (the claims and their volumes).
//! - `backupPersistentVolumes` chooses volume data by the platform's method (`--backup-volumes`):
//!   Velero's volume snapshots, or its file-system backup (node agent); `false` takes none.
//! - `encryptionEnabled: true` needs a storage location the platform declared encrypting
//!   (`--encrypted-backup-location`); until then the Schedule is paused, so no backup is written
//!   unencrypted, and `BackupReady` says why.
//!
//! The Schedule carries the tenant's labels and owner annotations; Velero copies both onto every
//! Backup it creates, which is how the operator finds the tenant's backups. Its name is the
//! tenant namespace's; one of the platform's own Schedules that holds that name is left alone
//! (`BackupReady=False, BackupConflict`).

use serde_json::{Value, json};
use tenant_api::{BackupConfig, Tenant};

use crate::build::{BuildContext, BuildError};
use crate::naming;
use crate::object::Object;
use crate::presets::Effective;

pub const API_VERSION: &str = "velero.io/v1";
pub const KIND: &str = "Schedule";

/// Velero's namespace when the platform names none.
pub const DEFAULT_VELERO_NAMESPACE: &str = "velero";

/// The annotation of a Schedule paused by the operator, saying why.
pub const PAUSED_BECAUSE: &str = "shop.pilab.hu/paused-because";

/// How volume data is backed up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VolumeMethod {
    /// Velero's volume snapshots (a VolumeSnapshotter plugin or CSI snapshots).
    #[default]
    Snapshot,
    /// Velero's file-system backup by its node agent.
    FsBackup,
}

impl VolumeMethod {
    pub fn parse(s: &str) -> Result<VolumeMethod, String> {
        match s {
            "snapshot" => Ok(VolumeMethod::Snapshot),
            "fs-backup" => Ok(VolumeMethod::FsBackup),
            _ => Err(format!("{s:?} is not snapshot or fs-backup")),
        }
    }
}

/// The platform's backup settings.
#[derive(Clone, Debug)]
pub struct BackupPlatform {
    /// Velero's namespace, where the Schedules, Backups and Restores live.
    pub velero_namespace: String,
    pub volumes: VolumeMethod,
    /// The BackupStorageLocations the platform declares encrypting (`default` stands for the
    /// location Velero uses when a tenant names none).
    pub encrypted_locations: Vec<String>,
}

impl Default for BackupPlatform {
    fn default() -> Self {
        BackupPlatform {
            velero_namespace: DEFAULT_VELERO_NAMESPACE.to_string(),
            volumes: VolumeMethod::Snapshot,
            encrypted_locations: Vec::new(),
        }
    }
}

pub static DEFAULT_PLATFORM: std::sync::LazyLock<BackupPlatform> =
    std::sync::LazyLock::new(BackupPlatform::default);

/// Whether the tenant's backups are on.
pub fn enabled(tenant: &Tenant) -> bool {
    config(tenant).is_some_and(|b| b.enabled == Some(true))
}

fn config(tenant: &Tenant) -> Option<&BackupConfig> {
    tenant.spec.backup_config.as_ref()
}

/// Whether deleting the tenant takes a last backup first.
pub fn wants_final_backup(tenant: &Tenant) -> bool {
    enabled(tenant) && config(tenant).and_then(|b| b.final_backup) != Some(false)
}

/// Whether self-service restores into the tenant are allowed.
pub fn restore_enabled(tenant: &Tenant) -> bool {
    config(tenant).and_then(|b| b.restore_enabled) != Some(false)
}

/// The name of the tenant's Schedule: its namespace's name, unique among tenants (a DNS label,
/// so it also fits the Backups' schedule label).
pub fn schedule_name(tenant: &Tenant) -> String {
    bounded_name(&naming::namespace_name(&tenant.spec))
}

/// `name` if it fits a label value, else its first 54 characters, `-` and 8 hex digits of its
/// hash (FNV-1a, stable across releases).
pub fn bounded_name(name: &str) -> String {
    if name.len() <= 63 {
        return name.to_string();
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{}-{h:08x}", name[..54].trim_end_matches(['-', '.']))
}

/// A retention such as `30d` or `1w2d` as Velero's TTL: a Go duration in hours, minutes and
/// seconds (`720h0m0s`, as Velero itself writes one).
pub fn ttl(retention: &str) -> Result<String, String> {
    let secs = crate::validate::duration_seconds(retention)
        .filter(|s| *s > 0)
        .ok_or_else(|| {
            format!("{retention:?} is not a positive duration such as 30d, 72h or 2w")
        })?;
    Ok(format!(
        "{}h{}m{}s",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    ))
}

/// Why the Schedule is paused, if it is: encryption asked for on a location the platform has not
/// declared encrypting.
pub fn paused_because(tenant: &Tenant, platform: &BackupPlatform) -> Option<String> {
    let b = config(tenant)?;
    if b.encryption_enabled != Some(true) {
        return None;
    }
    let location = b.backup_storage_location.as_deref().unwrap_or("default");
    (!platform.encrypted_locations.iter().any(|l| l == location)).then(|| {
        format!(
            "backupConfig.encryptionEnabled is true but the platform has not declared the storage location {location:?} encrypting (--encrypted-backup-location); no backup is taken until it does or the tenant names one that is"
        )
    })
}

/// The tenant's Velero Schedule, or nothing when backups are off.
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    let Some(b) = config(tenant).filter(|b| b.enabled == Some(true)) else {
        return Ok(Vec::new());
    };
    let schedule = b.schedule.clone().ok_or_else(|| BuildError::Invalid {
        field: "spec.backupConfig.schedule".into(),
        message: "is required when enabled is true".into(),
    })?;
    crate::validate::cron::check_cron(&schedule).map_err(|message| BuildError::Invalid {
        field: "spec.backupConfig.schedule".into(),
        message,
    })?;
    let platform = ctx.backup;
    let mut annotations = naming::common_annotations(tenant);
    let paused = paused_because(tenant, platform);
    if let Some(why) = &paused {
        annotations.insert(PAUSED_BECAUSE.to_string(), why.clone());
    }
    let manifest = json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": schedule_name(tenant),
            "namespace": platform.velero_namespace,
            "labels": naming::common_labels(&tenant.spec),
            "annotations": annotations,
        },
        "spec": {
            "schedule": schedule,
            "paused": paused.is_some(),
            "useOwnerReferencesInBackup": false,
            "template": template(b, eff, platform)?,
        },
    });
    Ok(vec![Object::from_value(manifest)])
}

/// The annotation of the last backup taken before a Tenant's namespace is deleted.
pub const FINAL_BACKUP: &str = "shop.pilab.hu/final-backup";

/// The name of the last backup of the Tenant with `uid`: unique per Tenant, so a later Tenant of
/// the same name never meets its predecessor's.
pub fn final_backup_name(tenant: &Tenant, uid: &str) -> String {
    let short: String = uid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    bounded_name(&format!("{}-final-{short}", schedule_name(tenant)))
}

/// The last backup before the Tenant's namespace is deleted: a Velero Backup with the Schedule's
/// template, or nothing when backups are off or the spec opts out (`finalBackup: false`).
pub fn final_backup(
    tenant: &Tenant,
    uid: &str,
    ctx: &BuildContext,
) -> Result<Option<Object>, BuildError> {
    let Some(b) = config(tenant).filter(|_| wants_final_backup(tenant)) else {
        return Ok(None);
    };
    let eff = Effective::of(tenant);
    let mut annotations = naming::common_annotations(tenant);
    annotations.insert(FINAL_BACKUP.to_string(), "true".to_string());
    let manifest = json!({
        "apiVersion": API_VERSION,
        "kind": "Backup",
        "metadata": {
            "name": final_backup_name(tenant, uid),
            "namespace": ctx.backup.velero_namespace,
            "labels": naming::common_labels(&tenant.spec),
            "annotations": annotations,
        },
        "spec": template(b, &eff, ctx.backup)?,
    });
    Ok(Some(Object::from_value(manifest)))
}

/// What a TenantRestore never restores: the operator's guardrails and access grants (it keeps
/// them itself; Velero writes with its own rights, which would bypass the checks that stop a
/// tenant from granting itself more), and restore requests (a restore must not start restores).
pub const NEVER_RESTORED: [&str; 7] = [
    "resourcequotas",
    "limitranges",
    "networkpolicies.networking.k8s.io",
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "tenantpolicies.shop.pilab.hu",
    "tenantrestores.shop.pilab.hu",
];

/// The annotation of a Velero Restore naming the TenantRestore it serves (`namespace/name`).
pub const RESTORE_REQUEST: &str = "shop.pilab.hu/restore-request";

/// The Velero Restore of a TenantRestore: unique per request (its uid), bounded.
pub fn restore_name(namespace: &str, request: &str, uid: &str) -> String {
    let short: String = uid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    bounded_name(&format!("{namespace}-{request}-{short}"))
}

/// Whether the tenant takes part in restores across tenants.
pub fn allows_cross_tenant_restore(tenant: &Tenant) -> bool {
    config(tenant).and_then(|b| b.allow_cross_tenant_restore) == Some(true)
}

/// Whether `source`'s backups may be restored into `target`'s namespace (two different Tenants):
/// both must allow restores across tenants and share a tenantId (the environments of one
/// customer). A platform that wants more copies with Velero itself.
pub fn cross_restore_allowed(source: &Tenant, target: &Tenant) -> Result<(), String> {
    let ns = |t: &Tenant| naming::namespace_name(&t.spec);
    if !allows_cross_tenant_restore(target) {
        return Err(format!(
            "restoring another tenant's backup into {} needs its backupConfig.allowCrossTenantRestore to be true",
            ns(target)
        ));
    }
    if !allows_cross_tenant_restore(source) {
        return Err(format!(
            "the tenant of {} does not allow its backups to be restored elsewhere (its backupConfig.allowCrossTenantRestore is not true)",
            ns(source)
        ));
    }
    if source.spec.tenant_id != target.spec.tenant_id {
        return Err(format!(
            "{} belongs to tenantId {:?} and {} to {:?}: backups cross only between environments of one tenantId",
            ns(source),
            source.spec.tenant_id,
            ns(target),
            target.spec.tenant_id
        ));
    }
    Ok(())
}

/// The label of the TenantRestores `restoreSchedule` creates.
pub const SCHEDULED_RESTORE: &str = "shop.pilab.hu/scheduled-restore";

/// How many of its scheduled TenantRestores a tenant keeps (the newest).
pub const SCHEDULED_RESTORES_KEPT: usize = 5;

/// How late a scheduled restore may still start (the operator was down at its time).
pub const SCHEDULED_RESTORE_DEADLINE_SECONDS: i64 = 3600;

/// What `restoreSchedule` asks for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreTimetable {
    /// The time to record as acted on (`None`: no schedule, record nothing).
    pub record: Option<jiff::Timestamp>,
    /// A restore to create for this time (it is due and within the deadline).
    pub due: Option<jiff::Timestamp>,
    /// A time that passed unrestored by more than the deadline.
    pub missed: Option<jiff::Timestamp>,
    /// The next time after now.
    pub next: Option<jiff::Timestamp>,
}

/// Where `restoreSchedule` stands at `now`, given the time last acted on (`recorded`). The first
/// look only records the last time (nothing is restored for times before the schedule was set).
pub fn restore_timetable(
    tenant: &Tenant,
    recorded: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> RestoreTimetable {
    let none = RestoreTimetable {
        record: None,
        due: None,
        missed: None,
        next: None,
    };
    let Some(expr) = config(tenant).and_then(|b| b.restore_schedule.as_deref()) else {
        return none;
    };
    let Ok(cron) = crate::schedule::Cron::parse(expr) else {
        return none;
    };
    let utc = jiff::tz::TimeZone::UTC;
    let next = cron.next_after(now, &utc);
    let prev = cron.prev_at_or_before(now, &utc);
    let (record, due, missed) = match (recorded, prev) {
        (None, p) => (Some(p.unwrap_or(now)), None, None),
        (Some(r), Some(p)) if p > r => {
            if now.duration_since(p).as_secs() <= SCHEDULED_RESTORE_DEADLINE_SECONDS {
                (Some(p), Some(p), None)
            } else {
                (Some(p), None, Some(p))
            }
        }
        (Some(r), _) => (Some(r), None, None),
    };
    RestoreTimetable {
        record,
        due,
        missed,
        next,
    }
}

/// The TenantRestore `restoreSchedule` creates for `at` in the tenant's namespace: the newest
/// completed backup of `restoreFromNamespace` (updating what exists: a refresh) or of the tenant
/// itself (bringing back what was deleted).
pub fn scheduled_restore(tenant: &Tenant, at: jiff::Timestamp) -> Object {
    let b = config(tenant);
    let from = b.and_then(|b| b.restore_from_namespace.clone());
    let namespace = naming::namespace_name(&tenant.spec);
    let from = from.filter(|f| *f != namespace);
    let stamp = at.strftime("%Y%m%d-%H%M").to_string();
    let mut labels = naming::common_labels(&tenant.spec);
    labels.insert(SCHEDULED_RESTORE.to_string(), "true".to_string());
    let mut spec = serde_json::Map::new();
    if let Some(f) = &from {
        spec.insert("sourceNamespace".into(), json!(f));
        spec.insert("existingResourcePolicy".into(), json!("update"));
    }
    Object::from_value(json!({
        "apiVersion": "shop.pilab.hu/v1alpha1",
        "kind": "TenantRestore",
        "metadata": {
            "name": format!("scheduled-{stamp}"),
            "namespace": namespace,
            "labels": labels,
            "annotations": naming::common_annotations(tenant),
        },
        "spec": Value::Object(spec),
    }))
}

/// The backup a TenantRestore restores from: the one it names, which must be one of the
/// tenant's completed backups, or else the newest completed one.
pub fn choose_backup(
    backups: &[crate::backups::BackupSummary],
    wanted: Option<&str>,
) -> Result<String, String> {
    let mut done: Vec<crate::backups::BackupSummary> =
        backups.iter().filter(|b| b.succeeded()).cloned().collect();
    crate::backups::newest_first(&mut done);
    match wanted {
        Some(name) if done.iter().any(|b| b.name == name) => Ok(name.to_string()),
        Some(name) => Err(format!(
            "backup {name:?} is not one of this tenant's completed backups"
        )),
        None => done
            .first()
            .map(|b| b.name.clone())
            .ok_or_else(|| "this tenant has no completed backup yet".to_string()),
    }
}

/// The Velero Restore serving `request` (a TenantRestore in `namespace`, the tenant's): the
/// backup's objects of that namespace, into that namespace, never cluster-scoped ones, never
/// the operator's own objects (label selector) or [`NEVER_RESTORED`], and never over an object
/// that exists (Velero's default).
///
/// `source` is the namespace of another tenant whose backup it is (a cross-tenant restore, which
/// the caller has allowed): its objects are mapped into the request's namespace, and Secrets
/// are never among them.
pub fn velero_restore(
    tenant: &Tenant,
    request: &tenant_api::TenantRestore,
    backup: &str,
    source: Option<&str>,
    platform: &BackupPlatform,
) -> Object {
    let namespace = request.metadata.namespace.clone().unwrap_or_default();
    let name = request.metadata.name.clone().unwrap_or_default();
    let uid = request.metadata.uid.clone().unwrap_or_default();
    let source = source.filter(|s| *s != namespace);
    let mut excluded: Vec<String> = NEVER_RESTORED.iter().map(|s| s.to_string()).collect();
    let extra = source.map(|_| "secrets".to_string());
    for r in request
        .spec
        .exclude_resources
        .iter()
        .flatten()
        .chain(&extra)
    {
        if !excluded.contains(r) {
            excluded.push(r.clone());
        }
    }
    let mut spec = serde_json::Map::new();
    spec.insert("backupName".into(), json!(backup));
    match source {
        Some(from) => {
            spec.insert("includedNamespaces".into(), json!([from]));
            spec.insert("namespaceMapping".into(), json!({ from: namespace }));
        }
        None => {
            spec.insert("includedNamespaces".into(), json!([namespace]));
        }
    }
    spec.insert("includeClusterResources".into(), json!(false));
    if let Some(p) = request.spec.existing_resource_policy.as_deref() {
        spec.insert("existingResourcePolicy".into(), json!(p));
    }
    if let Some(inc) = request
        .spec
        .include_resources
        .as_ref()
        .filter(|i| !i.is_empty())
    {
        spec.insert("includedResources".into(), json!(inc));
    }
    spec.insert("excludedResources".into(), json!(excluded));
    spec.insert(
        "labelSelector".into(),
        json!({"matchExpressions": [{
            "key": tenant_api::labels::MANAGED_BY,
            "operator": "NotIn",
            "values": [tenant_api::labels::MANAGER],
        }]}),
    );
    let mut annotations = naming::common_annotations(tenant);
    annotations.insert(RESTORE_REQUEST.to_string(), format!("{namespace}/{name}"));
    Object::from_value(json!({
        "apiVersion": API_VERSION,
        "kind": "Restore",
        "metadata": {
            "name": restore_name(&namespace, &name, &uid),
            "namespace": platform.velero_namespace,
            "labels": naming::common_labels(&tenant.spec),
            "annotations": annotations,
        },
        "spec": Value::Object(spec),
    }))
}

/// What every backup of the tenant takes: its namespace only, per the spec.
fn template(
    b: &BackupConfig,
    eff: &Effective,
    platform: &BackupPlatform,
) -> Result<Value, BuildError> {
    let ttl =
        ttl(b.retention.as_deref().unwrap_or("30d")).map_err(|message| BuildError::Invalid {
            field: "spec.backupConfig.retention".into(),
            message,
        })?;
    let mut template = serde_json::Map::new();
    template.insert("includedNamespaces".into(), json!([eff.namespace]));
    template.insert("includeClusterResources".into(), json!(false));
    let mut included: Vec<String> = b.backup_include_resources.clone().unwrap_or_default();
    if b.backup_namespace == Some(false) {
        included = vec!["persistentvolumeclaims".into(), "persistentvolumes".into()];
    }
    let mut excluded: Vec<String> = b.backup_exclude_resources.clone().unwrap_or_default();
    if b.backup_secrets == Some(false) && !excluded.iter().any(|r| r == "secrets") {
        excluded.push("secrets".into());
    }
    if !included.is_empty() {
        template.insert("includedResources".into(), json!(included));
    }
    if !excluded.is_empty() {
        template.insert("excludedResources".into(), json!(excluded));
    }
    template.insert("ttl".into(), json!(ttl));
    if let Some(l) = &b.backup_storage_location {
        template.insert("storageLocation".into(), json!(l));
    }
    let volumes = b.backup_persistent_volumes != Some(false);
    template.insert(
        "snapshotVolumes".into(),
        json!(volumes && platform.volumes == VolumeMethod::Snapshot),
    );
    template.insert(
        "defaultVolumesToFsBackup".into(),
        json!(volumes && platform.volumes == VolumeMethod::FsBackup),
    );
    Ok(Value::Object(template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::BuildContext;
    use serde_json::json;

    fn tenant(backup: Value) -> Tenant {
        serde_json::from_value(json!({
            "apiVersion": "shop.pilab.hu/v1",
            "kind": "Tenant",
            "metadata": {"name": "shop", "namespace": "default", "uid": "u-1"},
            "spec": {"tenantId": "shop", "tenantType": "production", "environment": "production", "backupConfig": backup},
        }))
        .unwrap()
    }

    fn schedule(t: &Tenant, ctx: &BuildContext) -> Value {
        let objects = build(t, &Effective::of(t), ctx).unwrap();
        assert_eq!(objects.len(), 1);
        objects[0].manifest.clone()
    }

    #[test]
    fn the_schedule_backs_up_the_tenant_namespace_only() {
        let t = tenant(json!({"enabled": true, "schedule": "0 2 * * *", "retention": "30d"}));
        let s = schedule(&t, &BuildContext::default());
        let ns = naming::namespace_name(&t.spec);
        assert_eq!(s["metadata"]["namespace"], "velero");
        assert_eq!(s["metadata"]["name"], ns);
        assert_eq!(s["spec"]["schedule"], "0 2 * * *");
        assert_eq!(s["spec"]["paused"], false);
        let tpl = &s["spec"]["template"];
        assert_eq!(tpl["includedNamespaces"], json!([ns]));
        assert_eq!(tpl["includeClusterResources"], false);
        assert_eq!(tpl["ttl"], "720h0m0s");
        assert_eq!(tpl["snapshotVolumes"], true);
        assert_eq!(tpl["defaultVolumesToFsBackup"], false);
        assert!(tpl.get("excludedResources").is_none());
        assert!(tpl.get("storageLocation").is_none());
        assert_eq!(
            s["metadata"]["labels"][tenant_api::labels::MANAGED_BY],
            "tenant-operator"
        );
        assert_eq!(
            s["metadata"]["annotations"][tenant_api::labels::OWNER_UID],
            "u-1"
        );
    }

    #[test]
    fn no_backup_config_or_disabled_builds_nothing() {
        for b in [json!(null), json!({"enabled": false, "schedule": "@daily"})] {
            let t = tenant(b);
            assert!(
                build(&t, &Effective::of(&t), &BuildContext::default())
                    .unwrap()
                    .is_empty()
            );
        }
    }

    #[test]
    fn secrets_resources_location_and_volumes_follow_the_spec() {
        let t = tenant(json!({
            "enabled": true, "schedule": "@daily", "retention": "1w2d",
            "backupSecrets": false, "backupPersistentVolumes": false,
            "backupIncludeResources": ["deployments.apps", "configmaps"],
            "backupExcludeResources": ["events"],
            "backupStorageLocation": "eu-west",
        }));
        let tpl = schedule(&t, &BuildContext::default())["spec"]["template"].clone();
        assert_eq!(
            tpl["includedResources"],
            json!(["deployments.apps", "configmaps"])
        );
        assert_eq!(tpl["excludedResources"], json!(["events", "secrets"]));
        assert_eq!(tpl["storageLocation"], "eu-west");
        assert_eq!(tpl["ttl"], "216h0m0s");
        assert_eq!(tpl["snapshotVolumes"], false);
        assert_eq!(tpl["defaultVolumesToFsBackup"], false);
    }

    #[test]
    fn without_namespace_resources_only_the_volumes_objects_are_kept() {
        let t = tenant(
            json!({"enabled": true, "schedule": "@daily", "backupNamespace": false, "backupIncludeResources": ["configmaps"]}),
        );
        let platform = BackupPlatform {
            volumes: VolumeMethod::FsBackup,
            velero_namespace: "backups".into(),
            ..BackupPlatform::default()
        };
        let ctx = BuildContext {
            backup: &platform,
            ..BuildContext::default()
        };
        let s = schedule(&t, &ctx);
        assert_eq!(s["metadata"]["namespace"], "backups");
        let tpl = &s["spec"]["template"];
        assert_eq!(
            tpl["includedResources"],
            json!(["persistentvolumeclaims", "persistentvolumes"])
        );
        assert_eq!(tpl["snapshotVolumes"], false);
        assert_eq!(tpl["defaultVolumesToFsBackup"], true);
    }

    #[test]
    fn encryption_pauses_the_schedule_until_the_location_is_declared_encrypting() {
        let t = tenant(json!({"enabled": true, "schedule": "@daily", "encryptionEnabled": true}));
        let s = schedule(&t, &BuildContext::default());
        assert_eq!(s["spec"]["paused"], true);
        assert!(
            s["metadata"]["annotations"][PAUSED_BECAUSE]
                .as_str()
                .unwrap()
                .contains("\"default\"")
        );
        let platform = BackupPlatform {
            encrypted_locations: vec!["default".into()],
            ..BackupPlatform::default()
        };
        let ctx = BuildContext {
            backup: &platform,
            ..BuildContext::default()
        };
        let s = schedule(&t, &ctx);
        assert_eq!(s["spec"]["paused"], false);
        assert!(s["metadata"]["annotations"].get(PAUSED_BECAUSE).is_none());
    }

    #[test]
    fn the_final_backup_has_the_schedule_template_and_a_name_per_uid() {
        let t = tenant(json!({"enabled": true, "schedule": "@daily", "backupSecrets": false}));
        let ctx = BuildContext::default();
        let b = final_backup(&t, "0f1e2d3c-aaaa", &ctx).unwrap().unwrap();
        assert_eq!(b.kind, "Backup");
        assert_eq!(b.namespace.as_deref(), Some("velero"));
        assert!(b.name.ends_with("-final-0f1e2d3c"), "{}", b.name);
        assert_eq!(
            b.manifest["spec"],
            schedule(&t, &ctx)["spec"]["template"],
            "the same template as the Schedule"
        );
        assert_eq!(b.manifest["metadata"]["annotations"][FINAL_BACKUP], "true");
        assert_ne!(
            final_backup_name(&t, "0f1e2d3c-aaaa"),
            final_backup_name(&t, "99999999-aaaa")
        );
        let opted_out =
            tenant(json!({"enabled": true, "schedule": "@daily", "finalBackup": false}));
        assert!(final_backup(&opted_out, "u", &ctx).unwrap().is_none());
        let off = tenant(json!({"enabled": false}));
        assert!(final_backup(&off, "u", &ctx).unwrap().is_none());
    }

    #[test]
    fn a_restore_stays_in_the_requests_namespace_and_spares_the_guardrails() {
        let t = tenant(json!({"enabled": true, "schedule": "@daily"}));
        let req: tenant_api::TenantRestore = serde_json::from_value(json!({
            "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "TenantRestore",
            "metadata": {"name": "undo", "namespace": "tenant-shop-production", "uid": "abcdef12-34"},
            "spec": {"includeResources": ["configmaps"], "excludeResources": ["secrets", "resourcequotas"]},
        }))
        .unwrap();
        let r = velero_restore(&t, &req, "b1", None, &BackupPlatform::default());
        assert_eq!(r.kind, "Restore");
        assert_eq!(r.namespace.as_deref(), Some("velero"));
        assert_eq!(r.name, "tenant-shop-production-undo-abcdef12");
        let spec = &r.manifest["spec"];
        assert_eq!(spec["backupName"], "b1");
        assert_eq!(
            spec["includedNamespaces"],
            json!(["tenant-shop-production"])
        );
        assert_eq!(spec["includeClusterResources"], false);
        assert!(spec.get("namespaceMapping").is_none());
        assert_eq!(spec["includedResources"], json!(["configmaps"]));
        let excluded = spec["excludedResources"].as_array().unwrap();
        for never in NEVER_RESTORED {
            assert!(excluded.contains(&json!(never)), "{never}");
        }
        assert!(excluded.contains(&json!("secrets")));
        assert_eq!(
            excluded
                .iter()
                .filter(|e| **e == json!("resourcequotas"))
                .count(),
            1
        );
        assert_eq!(
            spec["labelSelector"]["matchExpressions"][0]["operator"],
            "NotIn"
        );
        assert_eq!(
            r.manifest["metadata"]["annotations"][RESTORE_REQUEST],
            "tenant-shop-production/undo"
        );
    }

    fn env_tenant(id: &str, env: &str, backup: Value) -> Tenant {
        serde_json::from_value(json!({
            "apiVersion": "shop.pilab.hu/v1",
            "kind": "Tenant",
            "metadata": {"name": format!("{id}-{env}"), "namespace": "default", "uid": format!("u-{id}-{env}")},
            "spec": {"tenantId": id, "tenantType": "staging", "environment": env, "backupConfig": backup},
        }))
        .unwrap()
    }

    #[test]
    fn backups_cross_only_between_consenting_environments_of_one_tenant_id() {
        let yes = json!({"allowCrossTenantRestore": true});
        let prod = env_tenant("shop", "production", yes.clone());
        let staging = env_tenant("shop", "staging", yes.clone());
        assert_eq!(cross_restore_allowed(&prod, &staging), Ok(()));
        // the receiving tenant must allow it
        let closed = env_tenant("shop", "staging", json!({}));
        let e = cross_restore_allowed(&prod, &closed).unwrap_err();
        assert!(
            e.contains("tenant-shop-staging") && e.contains("allowCrossTenantRestore"),
            "{e}"
        );
        // and the one whose backup it is
        let private = env_tenant(
            "shop",
            "production",
            json!({"allowCrossTenantRestore": false}),
        );
        let e = cross_restore_allowed(&private, &staging).unwrap_err();
        assert!(
            e.contains("tenant-shop-production") && e.contains("elsewhere"),
            "{e}"
        );
        // another customer, however willing, is refused
        let other = env_tenant("acme", "production", yes);
        let e = cross_restore_allowed(&other, &staging).unwrap_err();
        assert!(e.contains("tenantId"), "{e}");
    }

    #[test]
    fn a_cross_tenant_restore_maps_the_source_namespace_and_leaves_secrets_behind() {
        let t = env_tenant("shop", "staging", json!({"allowCrossTenantRestore": true}));
        let req: tenant_api::TenantRestore = serde_json::from_value(json!({
            "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "TenantRestore",
            "metadata": {"name": "refresh", "namespace": "tenant-shop-staging", "uid": "0123456789"},
            "spec": {"sourceNamespace": "tenant-shop-production", "existingResourcePolicy": "update"},
        }))
        .unwrap();
        let platform = BackupPlatform::default();
        let r = velero_restore(&t, &req, "b9", Some("tenant-shop-production"), &platform);
        let spec = &r.manifest["spec"];
        assert_eq!(
            spec["includedNamespaces"],
            json!(["tenant-shop-production"])
        );
        assert_eq!(
            spec["namespaceMapping"],
            json!({"tenant-shop-production": "tenant-shop-staging"})
        );
        assert_eq!(spec["existingResourcePolicy"], "update");
        assert_eq!(spec["includeClusterResources"], false);
        let excluded = spec["excludedResources"].as_array().unwrap();
        assert!(excluded.contains(&json!("secrets")), "{excluded:?}");
        for never in NEVER_RESTORED {
            assert!(excluded.contains(&json!(never)), "{never}");
        }
        // its own namespace as the source is no mapping at all
        let own = velero_restore(&t, &req, "b9", Some("tenant-shop-staging"), &platform);
        assert!(own.manifest["spec"].get("namespaceMapping").is_none());
        assert!(
            !own.manifest["spec"]["excludedResources"]
                .as_array()
                .unwrap()
                .contains(&json!("secrets"))
        );
    }

    #[test]
    fn the_restore_timetable_starts_counting_when_set_and_fires_each_time_once() {
        let t = tenant(json!({"restoreSchedule": "0 2 * * *"}));
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        // first look: records the last time, restores nothing
        let first = restore_timetable(&t, None, at("2026-12-03T09:00:00Z"));
        assert_eq!(first.record, Some(at("2026-12-03T02:00:00Z")));
        assert_eq!(first.due, None);
        assert_eq!(first.next, Some(at("2026-12-04T02:00:00Z")));
        // before the next time: nothing new
        let quiet = restore_timetable(&t, first.record, at("2026-12-04T01:59:59Z"));
        assert_eq!(quiet.record, first.record);
        assert_eq!(quiet.due, None);
        // at the time: due once
        let due = restore_timetable(&t, first.record, at("2026-12-04T02:00:05Z"));
        assert_eq!(due.due, Some(at("2026-12-04T02:00:00Z")));
        assert_eq!(due.record, due.due);
        let again = restore_timetable(&t, due.record, at("2026-12-04T02:00:30Z"));
        assert_eq!(again.due, None);
        // more than an hour late: missed, not run
        let late = restore_timetable(&t, first.record, at("2026-12-04T03:30:00Z"));
        assert_eq!(late.due, None);
        assert_eq!(late.missed, Some(at("2026-12-04T02:00:00Z")));
        assert_eq!(late.record, late.missed);
        // no schedule: nothing recorded
        let off = restore_timetable(&tenant(json!({})), first.record, at("2026-12-04T02:00:05Z"));
        assert_eq!(off.record, None);
        assert_eq!(off.due, None);
    }

    #[test]
    fn a_scheduled_restore_is_a_tenant_restore_named_after_its_time() {
        let at = "2026-12-04T02:00:00Z".parse::<jiff::Timestamp>().unwrap();
        let own = scheduled_restore(&tenant(json!({"restoreSchedule": "@daily"})), at);
        assert_eq!(own.kind, "TenantRestore");
        assert_eq!(own.name, "scheduled-20261204-0200");
        assert_eq!(own.namespace.as_deref(), Some("tenant-shop-production"));
        assert_eq!(
            own.manifest["metadata"]["labels"][SCHEDULED_RESTORE],
            "true"
        );
        assert_eq!(own.manifest["spec"], json!({}));
        let staging = env_tenant(
            "shop",
            "staging",
            json!({"restoreSchedule": "@daily", "restoreFromNamespace": "tenant-shop-production"}),
        );
        let refresh = scheduled_restore(&staging, at);
        assert_eq!(refresh.namespace.as_deref(), Some("tenant-shop-staging"));
        assert_eq!(
            refresh.manifest["spec"],
            json!({"sourceNamespace": "tenant-shop-production", "existingResourcePolicy": "update"})
        );
    }

    #[test]
    fn the_backup_is_one_of_the_tenants_completed_ones() {
        use crate::backups::BackupSummary;
        let b = |name: &str, phase: &str, at: &str| BackupSummary {
            name: name.into(),
            phase: Some(phase.into()),
            started: Some(at.parse().unwrap()),
            ..BackupSummary::default()
        };
        let list = [
            b("old", "Completed", "2026-12-01T02:00:00Z"),
            b("new", "Completed", "2026-12-02T02:00:00Z"),
            b("broken", "Failed", "2026-12-03T02:00:00Z"),
        ];
        assert_eq!(choose_backup(&list, None).unwrap(), "new");
        assert_eq!(choose_backup(&list, Some("old")).unwrap(), "old");
        assert!(choose_backup(&list, Some("broken")).is_err());
        assert!(choose_backup(&list, Some("someone-elses")).is_err());
        assert!(choose_backup(&[], None).is_err());
    }

    #[test]
    fn names_fit_a_label_value_and_stay_distinct() {
        let long = "a".repeat(70);
        let a = bounded_name(&format!("tenant-{long}"));
        let b = bounded_name(&format!("tenant-{long}b"));
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(bounded_name("tenant-shop"), "tenant-shop");
    }

    #[test]
    fn ttl_is_a_go_duration() {
        assert_eq!(ttl("30d").unwrap(), "720h0m0s");
        assert_eq!(ttl("90m").unwrap(), "1h30m0s");
        assert_eq!(ttl("45s").unwrap(), "0h0m45s");
        assert!(ttl("0d").is_err());
        assert!(ttl("soon").is_err());
    }

    #[test]
    fn a_bad_schedule_or_retention_names_the_field() {
        let t = tenant(json!({"enabled": true, "schedule": "0 2 * * 7"}));
        let e = build(&t, &Effective::of(&t), &BuildContext::default()).unwrap_err();
        assert!(
            e.to_string().starts_with("spec.backupConfig.schedule:"),
            "{e}"
        );
        let t = tenant(json!({"enabled": true, "schedule": "@daily", "retention": "0d"}));
        let e = build(&t, &Effective::of(&t), &BuildContext::default()).unwrap_err();
        assert!(
            e.to_string().starts_with("spec.backupConfig.retention:"),
            "{e}"
        );
    }
}
