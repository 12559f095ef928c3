//! Data stores, backups, billing, extra metadata and monitoring.

use super::super::cron::check_cron;
use super::super::{Ctx, names};
use std::collections::BTreeMap;
use tenant_api::{BackupConfig, TenantSpec, TenantType};

/// Seconds in a retention such as `30d` or `1w2d` (units s, m, h, d, w, y); None when malformed.
pub fn duration_seconds(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(
                num.unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            'y' => 31_536_000,
            _ => return None,
        };
        total = total.checked_add(num.take()?.checked_mul(unit)?)?;
    }
    if num.is_some() || s.is_empty() {
        return None;
    }
    Some(total)
}

/// Whether a URL carries a password in its user-info (`scheme://user:pass@host`).
fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

pub(crate) fn data(spec: &TenantSpec, ctx: &mut Ctx) {
    ctx.check(
        "data.plaintextPasswords",
        "spec",
        "no data store password is kept in plain text",
        |g| {
            if spec.mongo_password.is_some() {
                g.warn("spec.mongoPassword", "is stored in plain text in the Tenant (anyone who can read Tenants can read it); prefer mongoPasswordSecretRef");
            }
            if spec.redis_password.is_some() {
                g.warn("spec.redisPassword", "is stored in plain text in the Tenant (anyone who can read Tenants can read it); prefer redisPasswordSecretRef");
            }
            for (field, url) in [
                ("spec.mongoURI", &spec.mongo_uri),
                ("spec.natsURL", &spec.nats_url),
                ("spec.redisURL", &spec.redis_url),
            ] {
                if url.as_deref().is_some_and(url_has_password) {
                    g.warn(field, "contains a password in plain text; put the password in a Secret and reference it instead");
                }
            }
        },
    );
    ctx.check(
        "data.credentialsWithoutUrl",
        "spec",
        "credentials and data isolation settings come with their connection URL",
        |g| {
            let mongo = spec.mongo_uri.is_some();
            if spec.mongo_username.is_some() && !mongo {
                g.warn(
                    "spec.mongoUsername",
                    "is set without mongoURI: there is no MongoDB connection to use it for",
                );
            }
            if (spec.mongo_password.is_some() || spec.mongo_password_secret_ref.is_some()) && !mongo
            {
                g.warn(
                    "spec.mongoURI",
                    "is unset although a MongoDB password is given",
                );
            }
            if (spec.redis_password.is_some() || spec.redis_password_secret_ref.is_some())
                && spec.redis_url.is_none()
            {
                g.warn(
                    "spec.redisURL",
                    "is unset although a Redis password is given",
                );
            }
            if let Some(di) = &spec.data_isolation {
                for (field, set, url, store) in [
                    (
                        "mongoDatabase",
                        di.mongo_database.is_some(),
                        mongo,
                        "mongoURI",
                    ),
                    (
                        "natsSubjectPrefix",
                        di.nats_subject_prefix.is_some(),
                        spec.nats_url.is_some(),
                        "natsURL",
                    ),
                    (
                        "redisKeyPrefix",
                        di.redis_key_prefix.is_some(),
                        spec.redis_url.is_some(),
                        "redisURL",
                    ),
                ] {
                    if set && !url {
                        let note = if field == "redisKeyPrefix" {
                            format!("is set without {store}: only an identity on a shared Redis the platform registers with the operator uses it")
                        } else {
                            format!("is set without {store}: nothing uses it")
                        };
                        g.warn(format!("spec.dataIsolation.{field}"), note);
                    }
                }
            }
        },
    );
    ctx.check(
        "data.redisReservedPrefix",
        "spec.dataIsolation.redisKeyPrefix",
        "the Redis key prefix stays clear of the operator's own (tenant-operator:)",
        |g| {
            let reserved = crate::build::data::REDIS_RESERVED_PREFIX;
            if let Some(p) = spec.data_isolation.as_ref().and_then(|d| d.redis_key_prefix.as_ref())
                && crate::build::data::redis_prefixes_overlap(p, reserved)
            {
                g.fail(
                    "spec.dataIsolation.redisKeyPrefix",
                    format!("{p:?} overlaps {reserved:?}, which the operator keeps for itself on a shared Redis"),
                );
            }
        },
    );
    ctx.check(
        "data.isolationNames",
        "spec.dataIsolation.mongoDatabase",
        "the tenant's MongoDB database name fits MongoDB's limit",
        |g| {
            if spec.mongo_uri.is_none() {
                return;
            }
            if spec.data_isolation.as_ref().and_then(|d| d.mongo_database.as_ref()).is_some() {
                return; // the CRD bounds an explicit name to 63 characters
            }
            let env = crate::naming::environment(spec);
            let name = format!("tenant_{}_{}", spec.tenant_id, env).replace('-', "_");
            if name.len() > 63 {
                g.fail(
                    "spec.dataIsolation.mongoDatabase",
                    format!("the default database name {name:?} is {} characters; MongoDB allows at most 63: set dataIsolation.mongoDatabase", name.len()),
                );
            }
        },
    );
}

/// The backup checks, shared by Tenant and PRStack (`prefix` is `spec.backupConfig`).
pub(crate) fn backup(b: Option<&BackupConfig>, tenant_type: Option<TenantType>, ctx: &mut Ctx) {
    let p = "spec.backupConfig";
    let empty = BackupConfig::default();
    let b = b.unwrap_or(&empty);
    let enabled = b.enabled == Some(true);
    for (name, field, value) in [
        ("backup.schedule", "schedule", &b.schedule),
        (
            "backup.restoreSchedule",
            "restoreSchedule",
            &b.restore_schedule,
        ),
    ] {
        let f = format!("{p}.{field}");
        ctx.check(name, &f, "unset or a valid five-field cron schedule", |g| {
            if let Some(s) = value
                && let Err(e) = check_cron(s)
            {
                g.fail_unless_cel(&f, format!("{s:?}: {e}"));
            }
        });
    }
    ctx.check("backup.retention", &format!("{p}.retention"), "unset or a positive duration", |g| {
        let f = format!("{p}.retention");
        if let Some(r) = &b.retention {
            match duration_seconds(r) {
                None => g.fail_unless_cel(&f, format!("{r:?} must be a duration such as 30d, 72h or 2w")),
                Some(0) => g.fail(&f, format!("{r:?} must be greater than zero: every backup would expire as soon as it is taken")),
                Some(_) => {}
            }
        }
    });
    ctx.check(
        "backup.resources",
        &format!("{p}.backupExcludeResources"),
        "no resource type is both included and excluded",
        |g| {
            let inc = b.backup_include_resources.clone().unwrap_or_default();
            for (i, r) in b.backup_exclude_resources.iter().flatten().enumerate() {
                if inc.contains(r) {
                    g.fail(
                        format!("{p}.backupExcludeResources[{i}]"),
                        format!("{r:?} is also in backupIncludeResources: Velero rejects a backup that both includes and excludes a resource"),
                    );
                }
            }
        },
    );
    ctx.check(
        "backup.storageLocation",
        &format!("{p}.backupStorageLocation"),
        "unset or a BackupStorageLocation name",
        |g| {
            if let Some(l) = &b.backup_storage_location
                && let Some(e) = names::dns_subdomain_error(l)
            {
                g.fail(
                    format!("{p}.backupStorageLocation"),
                    format!("{l:?} is not a BackupStorageLocation name: {e}"),
                );
            }
        },
    );
    ctx.check(
        "backup.enabled",
        &format!("{p}.enabled"),
        "backup settings are in effect",
        |g| {
            if !enabled && (b.schedule.is_some() || b.retention.is_some()) {
                g.warn(
                    format!("{p}.enabled"),
                    "is not true: the schedule and retention are set but no backup runs",
                );
            }
            if !enabled && tenant_type == Some(TenantType::Production) {
                g.warn(
                    format!("{p}.enabled"),
                    "a production tenant without scheduled backups",
                );
            }
            if b.restore_schedule.is_some() {
                if b.restore_enabled == Some(false) {
                    g.warn(
                        format!("{p}.restoreSchedule"),
                        "is set but restoreEnabled is false: every scheduled restore would be refused",
                    );
                } else if !enabled && b.restore_from_namespace.is_none() {
                    g.warn(
                        format!("{p}.restoreSchedule"),
                        "is set but backups are not enabled and restoreFromNamespace is unset: there is nothing to restore",
                    );
                }
            }
            if b.restore_from_namespace.is_some() {
                if b.restore_schedule.is_none() {
                    g.warn(
                        format!("{p}.restoreFromNamespace"),
                        "is set but restoreSchedule is not: it has no effect",
                    );
                }
                if b.allow_cross_tenant_restore != Some(true) {
                    g.warn(
                        format!("{p}.restoreFromNamespace"),
                        "names another tenant's namespace but allowCrossTenantRestore is not true: every scheduled restore would be refused",
                    );
                }
            }
        },
    );
}

pub(crate) fn billing(spec: &TenantSpec, ctx: &mut Ctx) {
    let b = spec.billing.clone().unwrap_or_default();
    ctx.check(
        "billing.budget",
        "spec.billing.monthlyBudget",
        "budget settings have a budget",
        |g| {
            if b.budget_enforcement == Some(true) && b.monthly_budget.is_none() {
                g.fail_unless_cel(
                    "spec.billing.monthlyBudget",
                    "budgetEnforcement needs monthlyBudget",
                );
            }
            if b.budget_alert_threshold.is_some() && b.monthly_budget.is_none() {
                g.warn(
                    "spec.billing.budgetAlertThreshold",
                    "is set without monthlyBudget: there is no budget to alert on",
                );
            }
        },
    );
    ctx.check(
        "billing.alertThreshold",
        "spec.billing.budgetAlertThreshold",
        "unset or a fraction between 0 and 1",
        |g| {
            if let Some(t) = b.budget_alert_threshold {
                if !(0.0..=1.0).contains(&t) {
                    g.fail_unless_cel(
                        "spec.billing.budgetAlertThreshold",
                        "must be between 0 and 1",
                    );
                } else if t == 0.0 {
                    g.warn(
                        "spec.billing.budgetAlertThreshold",
                        "is 0: the budget alert fires permanently",
                    );
                }
            }
        },
    );
    ctx.check(
        "billing.discounts",
        "spec.billing",
        "discounts together stay below 100%",
        |g| {
            let v = b.volume_discount.unwrap_or(0.0);
            let c = b.commitment_discount.unwrap_or(0.0);
            if b.volume_discount.is_some() && b.commitment_discount.is_some() && v + c >= 1.0 {
                g.fail(
                    "spec.billing.commitmentDiscount",
                    format!("{c} plus volumeDiscount {v} is {}: discounts summing to 100% or more leave nothing (or less than nothing) to charge", v + c),
                );
            }
        },
    );
}

/// Keys the operator owns on every object it creates.
fn reserved_key(key: &str) -> Option<&'static str> {
    let prefix = key.split_once('/').map(|(p, _)| p);
    if prefix.is_some_and(|p| p == tenant_api::GROUP || p.ends_with(".shop.pilab.hu")) {
        return Some("keys under shop.pilab.hu/ are reserved for the operator");
    }
    if key == tenant_api::labels::MANAGED_BY {
        return Some(
            "app.kubernetes.io/managed-by is reserved: the operator finds its objects by it",
        );
    }
    None
}

/// Keys that would change how Kubernetes treats the tenant namespace.
fn kubernetes_key(key: &str) -> Option<bool> {
    let prefix = key.split_once('/').map(|(p, _)| p)?;
    let k8s = prefix == "kubernetes.io"
        || prefix.ends_with(".kubernetes.io")
        || prefix == "k8s.io"
        || prefix.ends_with(".k8s.io");
    if !k8s || prefix == "app.kubernetes.io" {
        return None;
    }
    // Pod Security Admission and the namespace name label decide admission: never from a tenant.
    Some(prefix == "pod-security.kubernetes.io" || key == tenant_api::labels::NAMESPACE_NAME)
}

pub(crate) fn tenant_config(spec: &TenantSpec, ctx: &mut Ctx) {
    let cfg = spec.tenant_config.clone().unwrap_or_default();
    let labels = cfg.labels.unwrap_or_default();
    let annotations = cfg.annotations.unwrap_or_default();
    ctx.check("tenantConfig.labels", "spec.tenantConfig.labels", "valid, unreserved label keys and values", |g| {
        for (k, v) in &labels {
            let f = format!("spec.tenantConfig.labels[{k}]");
            if let Some(e) = names::qualified_name_error(k) {
                g.fail(&f, format!("key {k:?} is not a valid label key: {e}"));
            }
            if let Some(e) = names::label_value_error(v) {
                g.fail(&f, format!("value {v:?} is not a valid label value: {e}"));
            }
            key_rules(k, &f, "label", g);
            if k == tenant_api::labels::PART_OF {
                g.warn(&f, "app.kubernetes.io/part-of is set by the operator; this value is overridden");
            }
        }
    });
    ctx.check(
        "tenantConfig.annotations",
        "spec.tenantConfig.annotations",
        "valid, unreserved annotation keys within the size limit",
        |g| {
            let mut size = 0;
            for (k, v) in &annotations {
                size += k.len() + v.len();
                let f = format!("spec.tenantConfig.annotations[{k}]");
                if let Some(e) = names::qualified_name_error(k) {
                    g.fail(&f, format!("key {k:?} is not a valid annotation key: {e}"));
                }
                key_rules(k, &f, "annotation", g);
            }
            if size > names::ANNOTATIONS_MAX_BYTES {
                g.fail(
                    "spec.tenantConfig.annotations",
                    format!("total {size} bytes exceeds the apiserver's {} byte limit for an object's annotations", names::ANNOTATIONS_MAX_BYTES),
                );
            }
        },
    );
    ctx.check(
        "tenantConfig.features",
        "spec.tenantConfig.features",
        "each feature listed once",
        |g| {
            let mut seen = Vec::new();
            for (i, f) in cfg.features.iter().flatten().enumerate() {
                if seen.contains(&f) {
                    g.warn(
                        format!("spec.tenantConfig.features[{i}]"),
                        format!("{f:?} is listed twice"),
                    );
                }
                seen.push(f);
            }
        },
    );
}

fn key_rules(k: &str, f: &str, what: &str, g: &mut super::super::Group) {
    if let Some(why) = reserved_key(k) {
        g.fail(f, format!("{what} key {k:?} is reserved: {why}"));
    }
    match kubernetes_key(k) {
        Some(true) => g.fail(
            f,
            format!("{what} key {k:?} would change how Kubernetes admits pods in the tenant namespace; it is set by the operator only"),
        ),
        Some(false) => g.warn(f, format!("{what} key {k:?} uses a prefix reserved for Kubernetes components")),
        None => {}
    }
}

pub(crate) fn monitoring(spec: &TenantSpec, ctx: &mut Ctx) {
    let m = spec.monitoring.clone().unwrap_or_default();
    ctx.check(
        "monitoring.alertReceivers",
        "spec.monitoring.alertReceivers",
        "alert receivers are e-mail addresses and alerting is on",
        |g| {
            let receivers = m.alert_receivers.clone().unwrap_or_default();
            for (i, r) in receivers.iter().enumerate() {
                let ok = r
                    .split_once('@')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('@'))
                    && !r.contains(char::is_whitespace);
                if !ok {
                    g.fail(
                        format!("spec.monitoring.alertReceivers[{i}]"),
                        format!("{r:?} is not an e-mail address"),
                    );
                }
            }
            if !receivers.is_empty() && m.alerting_enabled == Some(false) {
                g.warn(
                    "spec.monitoring.alertReceivers",
                    "is set but alertingEnabled is false: no alert is sent",
                );
            }
        },
    );
    ctx.check(
        "monitoring.dashboards",
        "spec.monitoring.customDashboards",
        "custom dashboards are JSON objects with unique names",
        |g| {
            let mut names_seen: BTreeMap<&str, usize> = BTreeMap::new();
            for (i, d) in m.custom_dashboards.iter().flatten().enumerate() {
                let f = format!("spec.monitoring.customDashboards[{i}]");
                match serde_json::from_str::<serde_json::Value>(&d.json) {
                    Ok(serde_json::Value::Object(_)) => {}
                    Ok(_) => g.fail(format!("{f}.json"), "must be a JSON object (a Grafana dashboard)"),
                    Err(e) => g.fail(format!("{f}.json"), format!("is not valid JSON: {e}")),
                }
                if let Some(j) = names_seen.insert(&d.name, i) {
                    g.fail(
                        format!("{f}.name"),
                        format!("{:?} is also the name of customDashboards[{j}]: each dashboard becomes a ConfigMap named after it", d.name),
                    );
                }
            }
        },
    );
    ctx.check(
        "monitoring.retention",
        "spec.monitoring",
        "retentions are positive durations",
        |g| {
            for (field, v) in [
                ("metricsRetention", &m.metrics_retention),
                ("logRetention", &m.log_retention),
            ] {
                if let Some(v) = v
                    && duration_seconds(v) == Some(0)
                {
                    g.warn(
                        format!("spec.monitoring.{field}"),
                        format!("{v:?} keeps nothing"),
                    );
                }
            }
        },
    );
}

/// Hibernation timetable, maintenance window, release channel and canary.
pub(crate) fn rollout(spec: &TenantSpec, ctx: &mut Ctx) {
    use crate::schedule::{duration_seconds as window_seconds, time_zone};
    if let Some(h) = &spec.hibernation {
        let p = "spec.hibernation";
        ctx.check(
            "hibernation.schedules",
            &format!("{p}.schedules"),
            "valid sleep and wake cron times",
            |g| {
                if h.schedules.is_empty() {
                    g.fail_unless_cel(
                        format!("{p}.schedules"),
                        "needs at least one sleep/wake pair",
                    );
                }
                for (i, s) in h.schedules.iter().enumerate() {
                    for (what, expr) in [("sleep", &s.sleep), ("wake", &s.wake)] {
                        if let Err(e) = check_cron(expr) {
                            g.fail_unless_cel(
                                format!("{p}.schedules[{i}].{what}"),
                                format!("{expr:?}: {e}"),
                            );
                        }
                    }
                }
            },
        );
        ctx.check(
            "hibernation.timeZone",
            &format!("{p}.timeZone"),
            "unset or an IANA time zone",
            |g| {
                if let Err(e) = time_zone(h.time_zone.as_deref()) {
                    g.fail(format!("{p}.timeZone"), e);
                }
            },
        );
    }
    if let Some(w) = &spec.maintenance_window {
        let p = "spec.maintenanceWindow";
        ctx.check(
            "maintenanceWindow.schedule",
            &format!("{p}.schedule"),
            "a valid cron time",
            |g| {
                if let Err(e) = check_cron(&w.schedule) {
                    g.fail_unless_cel(format!("{p}.schedule"), format!("{:?}: {e}", w.schedule));
                }
            },
        );
        ctx.check(
            "maintenanceWindow.duration",
            &format!("{p}.duration"),
            "a positive duration of at most 7 days",
            |g| match window_seconds(&w.duration) {
                Err(e) => g.fail_unless_cel(format!("{p}.duration"), e),
                Ok(0) => g.fail(
                    format!("{p}.duration"),
                    format!(
                        "{:?} must be greater than zero: the window would never be open",
                        w.duration
                    ),
                ),
                Ok(s) if s > 7 * 86_400 => g.fail(
                    format!("{p}.duration"),
                    format!("{:?} is longer than 7 days", w.duration),
                ),
                Ok(_) => {}
            },
        );
        ctx.check(
            "maintenanceWindow.timeZone",
            &format!("{p}.timeZone"),
            "unset or an IANA time zone",
            |g| {
                if let Err(e) = time_zone(w.time_zone.as_deref()) {
                    g.fail(format!("{p}.timeZone"), e);
                }
            },
        );
    }
    ctx.check(
        "releaseChannel.imageTag",
        "spec.releaseChannel",
        "not both imageTag and releaseChannel",
        |g| {
            if spec.image_tag.is_some() && spec.release_channel.is_some() {
                g.fail_unless_cel(
                    "spec.releaseChannel",
                    "set imageTag or releaseChannel, not both",
                );
            }
        },
    );
    if let Some(c) = &spec.canary {
        ctx.check("canary.services", "spec.canary", "a canary needs services to run", |g| {
            if spec.services.as_ref().is_none_or(Vec::is_empty) {
                g.fail("spec.canary", "the tenant has no services for the canary to run beside");
            }
            if spec.image_tag.as_deref() == Some(c.image_tag.as_str()) {
                g.warn("spec.canary.imageTag", format!("{:?} is the current imageTag: the canary runs what every replica runs; remove canary to finish a promotion", c.image_tag));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_seconds("30d"), Some(30 * 86_400));
        assert_eq!(duration_seconds("1w2d"), Some(9 * 86_400));
        assert_eq!(duration_seconds("0h"), Some(0));
        assert_eq!(duration_seconds("30"), None);
        assert_eq!(duration_seconds("d"), None);
        assert_eq!(duration_seconds(""), None);
        assert_eq!(duration_seconds("99999999999999999999d"), None);
    }

    #[test]
    fn passwords_in_urls() {
        assert!(url_has_password("mongodb://u:p@db:27017/x"));
        assert!(url_has_password("redis://:secret@cache:6379"));
        assert!(!url_has_password("mongodb://u@db/x"));
        assert!(!url_has_password("nats://nats:4222"));
    }

    #[test]
    fn reserved_keys() {
        assert!(reserved_key("shop.pilab.hu/tenant-id").is_some());
        assert!(reserved_key("x.shop.pilab.hu/y").is_some());
        assert!(reserved_key("app.kubernetes.io/managed-by").is_some());
        assert!(reserved_key("team").is_none());
        assert_eq!(
            kubernetes_key("pod-security.kubernetes.io/enforce"),
            Some(true)
        );
        assert_eq!(kubernetes_key("topology.kubernetes.io/region"), Some(false));
        assert_eq!(kubernetes_key("app.kubernetes.io/name"), None);
    }
}
