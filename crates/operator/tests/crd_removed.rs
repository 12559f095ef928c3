//! Velero uninstalled under a running operator (the built binary, as a process): with Velero's
//! CRDs deleted, the backup concern degrades (`BackupReady=False`, naming the missing kind)
//! while the process keeps running and serving `/livez`, the other concerns stay Ready, and the
//! operator does not hot-loop (its requests counted in the audit log); with the CRDs installed
//! again, `BackupReady` turns True and the Schedule is made again, without a restart.
//!
//! A test binary of its own: deleting CRDs changes the whole control plane.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use common::process::OperatorProcess;
use common::*;
use jiff::Timestamp;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tenant_api::{Phase, QuotaSpec, Tenant, condition as c};
use testenv::{OPERATOR_USER, poll_until};

const VELERO_NS: &str = "velero";
const SCHEDULE_CRD: &str = "schedules.velero.io";
/// How long the degraded operator is watched, and its requests counted.
const QUIET: Duration = Duration::from_secs(20);
/// Requests of the operator's user in `QUIET` that still count as quiet (a hot loop makes
/// hundreds).
const QUIET_REQUESTS: usize = 20;
/// From the CRDs applied again to the Schedule back and `BackupReady=True`.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

fn schedules(h: &Harness) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: "Schedule".into(),
        plural: "schedules".into(),
    };
    Api::namespaced_with(h.admin.clone(), VELERO_NS, &ar)
}

/// Applies Velero's CRDs (from `hack/components velero`) and waits until each is Established;
/// returns their names.
async fn install_velero_crds(h: &Harness) -> Result<Vec<String>> {
    let dir = testenv::component("velero")?.join("crds");
    let mut names = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    paths.sort();
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(path)?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)?;
        names.extend(
            docs.iter()
                .filter_map(|d| d["metadata"]["name"].as_str().map(String::from)),
        );
        apply_yaml(&h.admin, &text, None).await?;
    }
    for name in &names {
        wait_established(&h.admin, name).await?;
    }
    ensure!(
        names.iter().any(|n| n == SCHEDULE_CRD),
        "Velero's CRDs lack {SCHEDULE_CRD}: {names:?}"
    );
    Ok(names)
}

/// Every concern but backups is in place, and the Tenant is Running and Ready.
fn others_ready(t: &Tenant) -> Result<(), String> {
    let phase = t.status.as_ref().and_then(|s| s.phase);
    let mut bad = Vec::new();
    for type_ in [
        c::READY,
        c::NAMESPACE_READY,
        c::QUOTA_READY,
        c::NETWORK_ISOLATED,
        c::RBAC_READY,
        c::POLICY_READY,
    ] {
        if condition(t, type_).is_none_or(|x| x.status != "True") {
            bad.push(type_);
        }
    }
    if phase == Some(Phase::Running) && bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "phase {phase:?}, not True: {bad:?}; {}",
            conditions(t)
        ))
    }
}

/// `BackupReady` as (status, reason, message).
fn backup_ready(t: &Tenant) -> Option<(String, String, String)> {
    condition(t, c::BACKUP_READY).map(|x| (x.status.clone(), x.reason.clone(), x.message.clone()))
}

/// The process is running, `/livez` and `/readyz` answer 200.
async fn alive(op: &mut OperatorProcess) -> Result<(), String> {
    if let Some(status) = op.exited().map_err(|e| e.to_string())? {
        return Err(format!("the operator process ended: {status}"));
    }
    for path in ["/livez", "/readyz"] {
        match op.get(path).await {
            Ok((200, _)) => {}
            Ok((code, body)) => return Err(format!("{path} answered {code} {body}")),
            Err(e) => return Err(format!("{path}: {e}")),
        }
    }
    Ok(())
}

/// The requests of the operator's user received in `[from, to)`: (all, writes, those on
/// velero.io, count per `verb resource`).
fn requests(
    h: &Harness,
    from: Timestamp,
    to: Timestamp,
) -> Result<(usize, usize, usize, BTreeMap<String, usize>)> {
    let mut all = 0;
    let mut writes = 0;
    let mut velero = 0;
    let mut by = BTreeMap::new();
    for e in audit_events_since(h.cp, from)? {
        if e["user"]["username"] != OPERATOR_USER {
            continue;
        }
        let at: Option<Timestamp> = e["requestReceivedTimestamp"]
            .as_str()
            .and_then(|s| s.parse().ok());
        if at.is_none_or(|at| at >= to) {
            continue;
        }
        all += 1;
        let verb = e["verb"].as_str().unwrap_or_default();
        if matches!(
            verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) {
            writes += 1;
        }
        if e["objectRef"]["apiGroup"] == "velero.io" {
            velero += 1;
        }
        let key = format!(
            "{verb} {}/{}",
            e["objectRef"]["apiGroup"].as_str().unwrap_or(""),
            e["objectRef"]["resource"].as_str().unwrap_or_default()
        );
        *by.entry(key).or_insert(0) += 1;
    }
    Ok((all, writes, velero, by))
}

/// The operator's log lines at WARN or ERROR written after `from` (the file's length then).
fn warnings_since(log: &std::path::Path, from: usize) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"level\":\"WARN\"") || l.contains("\"level\":\"ERROR\""))
        .map(String::from)
        .collect()
}

/// Watches for `window`: the process alive, the other concerns Ready, and `backup` holding of
/// `BackupReady`.
async fn steady(
    h: &Harness,
    op: &mut OperatorProcess,
    name: &str,
    window: Duration,
    backup: impl Fn(&(String, String, String)) -> bool,
) -> Result<()> {
    let end = Instant::now() + window;
    while Instant::now() < end {
        if let Err(e) = alive(op).await {
            bail!("{e}");
        }
        let t = h.get(name).await?;
        if let Err(e) = others_ready(&t) {
            bail!("the other concerns left Ready: {e}");
        }
        match backup_ready(&t) {
            Some(b) if backup(&b) => {}
            other => bail!("BackupReady changed: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// What [`until`] is waiting for: `Fatal` fails at once, `NotYet` looks again.
enum Look<T> {
    Done(T),
    NotYet(String),
    Fatal(String),
}

/// Looks every 100 ms until `look` is done (or fails at the first fatal look, or after
/// `TIMEOUT`), unlike `poll_until`, which retries every failure.
async fn until<T>(what: &str, mut look: impl AsyncFnMut() -> Result<Look<T>>) -> Result<T> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match look().await? {
            Look::Done(t) => return Ok(t),
            Look::Fatal(e) => bail!("{what}: {e}"),
            Look::NotYet(e) if Instant::now() > deadline => {
                bail!("{what}: not within {TIMEOUT:?}: {e}")
            }
            Look::NotYet(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components velero: hack/test runs it"]
async fn velero_uninstalled_degrades_backups_only_and_reinstalled_recovers() -> Result<()> {
    let h = Harness::new("crd-removed").await?;
    let crd_names = install_velero_crds(&h).await?;
    apply_value(
        &h.admin,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": VELERO_NS}}),
    )
    .await?;
    let log = h.cp.state_dir().join(format!("{}-operator.log", h.ns));
    let mut op = OperatorProcess::start(&h, &log)?;
    op.wait_readyz(|b| b == "ok").await?;

    // A Tenant with backups on: Ready, BackupReady=True, its Schedule in Velero's namespace.
    let (t, ns) = running_tenant(&h, "crdrm", |t| {
        t.spec.quota = Some(QuotaSpec {
            cpu_quota: Some("2".into()),
            pod_quota: Some(10),
            ..Default::default()
        });
        t.spec.backup_config = Some(from_json(
            json!({"enabled": true, "schedule": "0 3 * * *", "retention": "7d"}),
        ));
    })
    .await?;
    let name = t.name_any();
    let schedules = schedules(&h);
    let tenants = h.tenants();
    let first_uid = poll_until("the Schedule made and BackupReady=True", TIMEOUT, || {
        let (schedules, tenants, name, ns) =
            (schedules.clone(), tenants.clone(), name.clone(), ns.clone());
        async move {
            let s = schedules.get_opt(&ns).await.map_err(|e| e.to_string())?;
            let t = tenants.get(&name).await.map_err(|e| e.to_string())?;
            match (s, backup_ready(&t)) {
                (Some(s), Some((st, _, _))) if st == "True" => Ok(s.uid()),
                (s, b) => Err(format!(
                    "Schedule present: {}, BackupReady {b:?}",
                    s.is_some()
                )),
            }
        }
    })
    .await?;
    let t = h.get(&name).await?;
    others_ready(&t).map_err(anyhow::Error::msg)?;

    // Healthy, for comparison: what the operator asks the API server for in a quiet while,
    // once its start-up is over (the finalizer policy goes in some seconds after the Tenant
    // schema is published, with a re-read of every shared object).
    let settled = poll_until(
        "the operator's start-up over",
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            async move {
                let published = text
                    .find("the finalizer policy may be applied")
                    .ok_or("the Tenant schema not published yet")?;
                if text[published..].contains("shared admission policies in place") {
                    Ok(())
                } else {
                    Err("the finalizer policy not applied yet".to_string())
                }
            }
        },
    )
    .await;
    if let Err(e) = settled {
        eprintln!("the baseline is taken anyway: {e}");
    }
    // (its own apply's watch events bring one more pass over the shared objects)
    tokio::time::sleep(Duration::from_secs(3)).await;
    let healthy_from = Timestamp::now();
    steady(&h, &mut op, &name, QUIET, |b| b.0 == "True").await?;
    let healthy = requests(&h, healthy_from, Timestamp::now())?;

    // Velero uninstalled: every one of its CRDs deleted while the operator runs.
    let log_from = std::fs::metadata(&log)?.len();
    let log_from = usize::try_from(log_from)?;
    let crds: Api<CustomResourceDefinition> = Api::all(h.admin.clone());
    let deleted_at = Instant::now();
    for n in &crd_names {
        crds.delete(n, &DeleteParams::default()).await?;
    }
    // Until the Tenant reports it, every look finds the process up and the rest Ready.
    let degraded = until(
        "BackupReady=False naming Velero's Schedule, the rest Ready",
        async || {
            if let Err(e) = alive(&mut op).await {
                return Ok(Look::Fatal(e));
            }
            let t = h.get(&name).await?;
            if let Err(e) = others_ready(&t) {
                return Ok(Look::Fatal(e));
            }
            let gone = crds.get_opt(SCHEDULE_CRD).await?.is_none();
            Ok(match backup_ready(&t) {
                Some(b) if b.0 == "False" && gone => Look::Done(b),
                other => Look::NotYet(format!("CRD gone: {gone}; BackupReady {other:?}")),
            })
        },
    )
    .await;
    let degraded = match degraded {
        Ok(b) => b,
        Err(e) => bail!(
            "{e}\noperator warnings since the deletion:\n{}",
            warnings_since(&log, log_from).join("\n")
        ),
    };
    let degraded_after = deleted_at.elapsed();
    eprintln!(
        "Velero's {} CRDs deleted: BackupReady={} {} after {degraded_after:.2?}: {}",
        crd_names.len(),
        degraded.0,
        degraded.1,
        degraded.2
    );
    ensure!(
        degraded.1 == "VeleroNotInstalled"
            && degraded.2.contains("Schedule")
            && degraded.2.contains("velero.io"),
        "BackupReady should name Velero's missing Schedule kind: {degraded:?}"
    );
    ensure!(
        schedules.get_opt(&ns).await.is_err(),
        "the Schedule kind should not be served any more"
    );

    // Degraded and quiet: no crash, no hot loop, the rest stays Ready.
    let quiet_from = Timestamp::now();
    steady(&h, &mut op, &name, QUIET, |b| {
        b.0 == "False" && b.1 == "VeleroNotInstalled"
    })
    .await?;
    let quiet = requests(&h, quiet_from, Timestamp::now())?;
    eprintln!(
        "requests of the operator in {QUIET:?}: healthy {} ({} writes, {} on velero.io): {:?}; Velero uninstalled {} ({} writes, {} on velero.io): {:?}",
        healthy.0, healthy.1, healthy.2, healthy.3, quiet.0, quiet.1, quiet.2, quiet.3
    );
    ensure!(
        quiet.1 == 0,
        "the degraded operator wrote {} times in {QUIET:?}: {:?}",
        quiet.1,
        quiet.3
    );
    ensure!(
        quiet.0 <= QUIET_REQUESTS,
        "the degraded operator made {} requests in {QUIET:?} (bound {QUIET_REQUESTS}): {:?}",
        quiet.0,
        quiet.3
    );

    // Velero installed again: the Schedule comes back and BackupReady turns True, with the same
    // process.
    let reinstalled_at = Instant::now();
    install_velero_crds(&h).await?;
    let established = reinstalled_at.elapsed();
    let second_uid = until("the Schedule made again and BackupReady=True", async || {
        if let Err(e) = alive(&mut op).await {
            return Ok(Look::Fatal(e));
        }
        let s = schedules.get_opt(&ns).await?;
        let t = h.get(&name).await?;
        if let Err(e) = others_ready(&t) {
            return Ok(Look::Fatal(e));
        }
        Ok(match (s, backup_ready(&t)) {
            (Some(s), Some((st, _, _))) if st == "True" => Look::Done(s.uid()),
            (s, b) => Look::NotYet(format!(
                "Schedule present: {}, BackupReady {b:?}",
                s.is_some()
            )),
        })
    })
    .await?;
    let recovered = reinstalled_at.elapsed();
    eprintln!(
        "Velero's CRDs applied again (Established after {established:.2?}): Schedule back and BackupReady=True after {recovered:.2?}"
    );
    ensure!(
        second_uid != first_uid,
        "the Schedule should be a new object (the CRD's deletion took the old one)"
    );
    ensure!(
        recovered <= RECOVERY_BOUND,
        "recovery took {recovered:.2?}, over {RECOVERY_BOUND:?}"
    );
    alive(&mut op).await.map_err(anyhow::Error::msg)?;
    // No reconcile failed on the way (a failure in between the looks above would show here:
    // the operator logs each at WARN).
    let warnings = warnings_since(&log, log_from);
    ensure!(
        warnings.is_empty(),
        "the operator warned {} times from the deletion to the recovery:\n{}",
        warnings.len(),
        warnings.join("\n")
    );

    // Backups off, then the Tenant deleted (no last backup: no Velero server runs here).
    h.tenants()
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"backupConfig": {"enabled": false}}})),
        )
        .await?;
    poll_until("the Schedule pruned", TIMEOUT, || {
        let (schedules, ns) = (schedules.clone(), ns.clone());
        async move {
            match schedules.get_opt(&ns).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            }
        }
    })
    .await?;
    h.teardown().await?;
    let status = op.sigterm().await.context("stopping the operator")?;
    ensure!(status.success(), "the operator ended with {status}");
    Ok(())
}
