//! `kubectl tenant backups TENANT`: the tenant's Velero Backups, newest first.
//!
//! A Backup is the tenant's when Velero copied the Tenant's uid onto it from the tenant's
//! Schedule (or the operator put it on the final backup). While the Tenant exists its uid is
//! used, so a predecessor of the same name does not show; once it is gone (its backups stay
//! until their TTL) the Tenant's `namespace/name` is.

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use serde::Serialize;
use serde_json::Value;
use tenant_api::{Tenant, labels};
use tenant_core::backups::{BackupSummary, newest_first};
use tenant_core::build::backup::FINAL_BACKUP;

/// One of the tenant's backups, as the listing shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub name: String,
    /// Velero's phase (`New` until Velero has looked at it).
    pub phase: String,
    /// `scheduled` (by the tenant's Schedule), `final` (before the Tenant was deleted) or
    /// `on-demand`.
    pub origin: String,
    pub started: Option<String>,
    pub completed: Option<String>,
    pub expires: Option<String>,
    pub errors: i64,
    pub warnings: i64,
    /// Velero's reason for a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// What was listed, and for whom.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    /// The Tenant, `namespace/name`.
    pub tenant: String,
    /// Whether the Tenant still exists (else: the backups it left).
    pub tenant_exists: bool,
    pub backups: Vec<Row>,
}

fn stamp(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Lists the Backups of the Tenant `namespace/name` in Velero's namespace.
pub async fn list(
    client: &Client,
    namespace: &str,
    name: &str,
    velero_namespace: &str,
) -> Result<Listing> {
    let tenants: Api<Tenant> = Api::namespaced(client.clone(), namespace);
    let tenant = tenants
        .get_opt(name)
        .await
        .with_context(|| format!("reading Tenant {namespace}/{name}"))?;
    let key = format!("{namespace}/{name}");
    let uid = tenant.as_ref().and_then(|t| t.metadata.uid.clone());
    let backups: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        velero_namespace,
        &tenant_core::backups::resource(),
    );
    let params =
        ListParams::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER));
    let items = match backups.list(&params).await {
        Ok(l) => l.items,
        Err(kube::Error::Api(e)) if e.code == 404 => bail!(
            "the cluster does not serve velero.io/v1 Backups: Velero is not installed, so {key} has no backups"
        ),
        Err(e) => {
            return Err(e).context(format!(
                "listing Velero Backups in namespace {velero_namespace}"
            ));
        }
    };
    let mut mine: Vec<(BackupSummary, bool)> = Vec::new();
    for item in items {
        let annotations = item.metadata.annotations.clone().unwrap_or_default();
        let ours = match &uid {
            Some(uid) => annotations.get(labels::OWNER_UID) == Some(uid),
            None => annotations
                .get(labels::OWNER)
                .and_then(|o| tenant_core::owner::Owner::parse(o))
                .is_some_and(|o| o.key() == key),
        };
        if !ours {
            continue;
        }
        let is_final = annotations.get(FINAL_BACKUP).map(String::as_str) == Some("true");
        let v = serde_json::to_value(&item).unwrap_or(Value::Null);
        mine.push((BackupSummary::of(&v), is_final));
    }
    if tenant.is_none() && mine.is_empty() {
        bail!("Tenant {key} not found, and no backups of a Tenant of that name are left");
    }
    let mut summaries: Vec<BackupSummary> = mine.iter().map(|(b, _)| b.clone()).collect();
    newest_first(&mut summaries);
    let rows = summaries
        .into_iter()
        .map(|b| {
            let is_final = mine.iter().any(|(m, f)| *f && m.name == b.name);
            Row {
                origin: if is_final {
                    "final"
                } else if b.schedule.is_some() {
                    "scheduled"
                } else {
                    "on-demand"
                }
                .into(),
                phase: b.phase.clone().unwrap_or_else(|| "New".into()),
                started: stamp(b.started),
                completed: stamp(b.completed),
                expires: stamp(b.expires),
                errors: b.errors,
                warnings: b.warnings,
                failure: b.failure.clone(),
                name: b.name,
            }
        })
        .collect();
    Ok(Listing {
        tenant: key,
        tenant_exists: tenant.is_some(),
        backups: rows,
    })
}

/// The listing as a table.
/// The listing as a table; `wide` adds the warnings and each failure's reason as a column.
pub fn table(l: &Listing, wide: bool) -> String {
    let mut out = String::new();
    if !l.tenant_exists {
        out.push_str(&format!(
            "Tenant {} is gone; the backups it left (kept until they expire):\n",
            l.tenant
        ));
    }
    if l.backups.is_empty() {
        out.push_str(&format!("Tenant {} has no backups yet.\n", l.tenant));
        return out;
    }
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let mut rows: Vec<Vec<String>> = vec![
        [
            "NAME",
            "PHASE",
            "ORIGIN",
            "STARTED",
            "COMPLETED",
            "EXPIRES",
            "ERRORS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    if wide {
        rows[0].extend(["WARNINGS", "FAILURE"].map(String::from));
    }
    for b in &l.backups {
        rows.push(vec![
            b.name.clone(),
            b.phase.clone(),
            b.origin.clone(),
            dash(&b.started),
            dash(&b.completed),
            dash(&b.expires),
            b.errors.to_string(),
        ]);
        if wide && let Some(row) = rows.last_mut() {
            row.extend([b.warnings.to_string(), dash(&b.failure)]);
        }
    }
    out.push_str(&crate::columns(&rows));
    for b in l.backups.iter().filter(|b| !wide && b.failure.is_some()) {
        out.push_str(&format!(
            "{}: {}\n",
            b.name,
            b.failure.as_deref().unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up_and_says_what_failed() {
        let row = |name: &str, phase: &str, origin: &str, failure: Option<&str>| Row {
            name: name.into(),
            phase: phase.into(),
            origin: origin.into(),
            started: Some("2026-12-03T02:00:00Z".into()),
            completed: None,
            expires: Some("2027-01-02T02:00:00Z".into()),
            errors: 0,
            warnings: 0,
            failure: failure.map(str::to_string),
        };
        let l = Listing {
            tenant: "tenants/shop".into(),
            tenant_exists: true,
            backups: vec![
                row(
                    "tenant-shop-production-20261203020000",
                    "Completed",
                    "scheduled",
                    None,
                ),
                row("b", "Failed", "on-demand", Some("no storage location")),
            ],
        };
        let t = table(&l, false);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{t}");
        let col = lines[0].find("PHASE").unwrap();
        assert_eq!(lines[1].find("Completed"), Some(col), "{t}");
        assert_eq!(lines[2].find("Failed"), Some(col), "{t}");
        assert!(
            lines[1].contains(" - "),
            "no completion time shows as -: {t}"
        );
        assert_eq!(lines[3], "b: no storage location");
        // wide: the warnings and the failure are columns, not lines below
        let w = table(&l, true);
        let wl: Vec<&str> = w.lines().collect();
        assert!(
            wl[0].ends_with("FAILURE") && wl[0].contains("WARNINGS"),
            "{w}"
        );
        assert!(wl[2].ends_with("no storage location"), "{w}");
        assert_eq!(wl.len(), 3, "{w}");
        let gone = Listing {
            tenant_exists: false,
            backups: vec![],
            ..l
        };
        assert!(table(&gone, false).contains("is gone"));
        assert!(table(&gone, false).contains("no backups yet"));
    }
}
