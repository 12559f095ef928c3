//! The API server stopped for 60 s and started again (docs/operator.md, "Faults"), on the local
//! control plane, with 100 Tenants and the operator as a process (the built binary).
//!
//! The operator reaches the API server only through a TCP proxy of the test's, which counts the
//! connections it opens: during the outage every attempt is one connection (the proxy accepts it
//! and closes it when the API server refuses), so a retry loop without a pause shows as
//! hundreds a second. Once the API server is Ready again, every Tenant must be reconciled (each
//! one's `reconciled` line in the operator's debug log) within 30 s, with no write at all: no
//! create, no status change, no Tenant leaving Ready. Then a NetworkPolicy deleted and a Tenant
//! edited must be picked up (the watches resumed), still with no write for the other Tenants.
//!
//! It stops the API server of its plane: its own test binary, so no other test shares the plane.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use common::proxy::{Proxy, kubeconfig_via, operator_kubeconfig};
use common::*;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use tenant_api::{Phase, Tenant, labels};
use testenv::{OPERATOR_USER, poll_until};
use tokio::process::{Child, Command};

const TENANTS: usize = 100;
const OUTAGE: Duration = Duration::from_secs(60);
/// The goal: every Tenant re-verified within this long after the API server is Ready again.
const REVERIFY_GOAL: Duration = Duration::from_secs(30);
/// The goal for the watches: back within this long after the API server is Ready again. Each
/// watch's retry pause ends when the operator's look finds the API server answering again (at
/// most 5 s after), then a watch whose resourceVersion the restarted server no longer has relists
/// after one short pause (0.8 s, up to as much again at random).
const WATCHES_BACK: Duration = Duration::from_secs(30);
/// A NetworkPolicy every Tenant has.
const DEFAULT_DENY: &str = "tenant-default-deny";

struct OperatorProcess {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl OperatorProcess {
    fn start(h: &Harness, kubeconfig: &Path, log: PathBuf) -> Result<OperatorProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let out = std::fs::File::create(&log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
            .args([
                "run",
                "--watch-namespace",
                &h.ns,
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "json",
            ])
            .env("KUBECONFIG", kubeconfig)
            // debug: a line per reconciled Tenant.
            .env("RUST_LOG", "info,tenant_operator=debug")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .context("starting the tenant-operator binary")?;
        Ok(OperatorProcess { child, port, log })
    }

    async fn wait_ready(&self) -> Result<()> {
        poll_until("operator process /readyz", TIMEOUT, || async {
            match http_get(self.port, "/readyz").await {
                Ok((200, _)) => Ok(()),
                Ok((c, b)) => Err(format!("{c} {b}")),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
        Ok(())
    }

    /// A sample of `/metrics`: the sum of the series named `name` (any labels).
    async fn metric(&self, name: &str) -> Result<f64> {
        let (code, body) = http_get(self.port, "/metrics").await?;
        ensure!(code == 200, "/metrics answered {code}");
        Ok(body
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// The log's length now: where lines written from now on start.
    fn log_offset(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.log)?.len())
    }

    /// The JSON log lines written from `offset` on.
    fn log_since(&self, offset: u64) -> Result<Vec<serde_json::Value>> {
        let mut f = std::fs::File::open(&self.log)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    async fn sigterm(mut self) -> Result<std::process::ExitStatus> {
        let pid = self.child.id().context("no pid")?;
        let st = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        ensure!(st.success(), "kill -TERM failed");
        Ok(tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??)
    }
}

/// The Tenants named in `reconciled` lines of the operator's log
/// (`Tenant.<version>.<group>/<name>.<ns>`), each with the time of its first such line.
fn reconciled(lines: &[serde_json::Value], ns: &str) -> BTreeMap<String, jiff::Timestamp> {
    let suffix = format!(".{ns}");
    let mut out = BTreeMap::new();
    for l in lines.iter().filter(|l| l["message"] == "reconciled") {
        let name = l["tenant"]
            .as_str()
            .and_then(|t| t.rsplit('/').next()?.strip_suffix(&suffix));
        let at = l["timestamp"].as_str().and_then(|t| t.parse().ok());
        if let (Some(name), Some(at)) = (name, at) {
            out.entry(name.to_string()).or_insert(at);
        }
    }
    out
}

fn count_messages(lines: &[serde_json::Value], starts: &str) -> usize {
    lines
        .iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.starts_with(starts)))
        .count()
}

/// Every Tenant of the test Running, Ready and current: name -> (resourceVersion, namespace).
async fn all_ready(
    h: &Harness,
    names: &BTreeSet<String>,
) -> Result<BTreeMap<String, (String, String)>, String> {
    let list = h
        .tenants()
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    let mut waiting = Vec::new();
    for t in &list.items {
        let st = t.status.clone().unwrap_or_default();
        let ready = condition(t, "Ready").is_some_and(|c| c.status == "True");
        if st.phase == Some(Phase::Running)
            && ready
            && st.observed_generation == t.metadata.generation
            && let Some(ns) = st.namespace
        {
            out.insert(t.name_any(), (t.resource_version().unwrap_or_default(), ns));
        } else {
            waiting.push(format!(
                "{}: {:?} {}",
                t.name_any(),
                st.phase,
                conditions(t)
            ));
        }
    }
    let listed: BTreeSet<String> = list.items.iter().map(|t| t.name_any()).collect();
    if &listed != names {
        return Err(format!(
            "{} Tenants listed, {} created",
            listed.len(),
            names.len()
        ));
    }
    if waiting.is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "{} of {} not Running and Ready, e.g. {}",
            waiting.len(),
            names.len(),
            waiting[0]
        ))
    }
}

/// Tenant namespaces per Tenant of the test, by their owner annotation.
async fn namespaces_per_tenant(h: &Harness) -> Result<BTreeMap<String, usize>> {
    let prefix = format!("Tenant/{}/", h.ns);
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for ns in Api::<Namespace>::all(h.admin.clone())
        .list(&ListParams::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER)))
        .await?
    {
        if let Some(owner) = ns.annotations().get(labels::OWNER)
            && let Some(rest) = owner.strip_prefix(&prefix)
        {
            let name = rest.split('/').next().unwrap_or(rest).to_string();
            *per.entry(name).or_default() += 1;
        }
    }
    Ok(per)
}

/// Connections per second of the window starting at `from`.
fn per_second(times: &[Instant], from: Instant, seconds: usize) -> Vec<usize> {
    let mut out = vec![0; seconds];
    for t in times {
        let i = t.saturating_duration_since(from).as_secs() as usize;
        if let Some(n) = out.get_mut(i) {
            *n += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn the_api_server_stopped_for_60_s_and_started_again() -> Result<()> {
    let test_start = Instant::now();
    let h = Harness::new("outage").await?;
    ensure!(
        h.cp.started_here(),
        "this test stops the API server of its plane: run it on a plane of its own (without TENANT_CP_DIR)"
    );
    let (_, api_port, _, _) = operator_kubeconfig(&h)?;
    let proxy = Proxy::start(api_port).await?;
    let kubeconfig = kubeconfig_via(&h, proxy.port)?;
    let log = h.cp.state_dir().join(format!("{}-operator.log", h.ns));
    let op = OperatorProcess::start(&h, &kubeconfig, log)?;
    op.wait_ready().await?;

    // 100 small Tenants, all Running and Ready.
    let mut names = BTreeSet::new();
    for i in 0..TENANTS {
        let t: Tenant = h.tenant(&format!("o{i}"));
        h.create(&t).await?;
        names.insert(t.name_any());
    }
    let created = Instant::now();
    let before = poll_until(
        "every Tenant Running and Ready",
        Duration::from_secs(240),
        || all_ready(&h, &names),
    )
    .await?;
    eprintln!(
        "{TENANTS} Tenants Running and Ready {:?} after their creation",
        created.elapsed()
    );
    // Quiet: no reconcile and no write for 5 s (the last status writes are through).
    poll_until(
        "the operator quiet for 5 s",
        Duration::from_secs(60),
        || async {
            let a = (
                op.metric("tenant_operator_reconciles_total")
                    .await
                    .map_err(|e| e.to_string())?,
                op.metric("tenant_operator_api_writes_total")
                    .await
                    .map_err(|e| e.to_string())?,
            );
            tokio::time::sleep(Duration::from_secs(5)).await;
            let b = (
                op.metric("tenant_operator_reconciles_total")
                    .await
                    .map_err(|e| e.to_string())?,
                op.metric("tenant_operator_api_writes_total")
                    .await
                    .map_err(|e| e.to_string())?,
            );
            if a == b {
                Ok(())
            } else {
                Err(format!("{a:?} -> {b:?}"))
            }
        },
    )
    .await?;
    let per = namespaces_per_tenant(&h).await?;
    ensure!(
        per.len() == TENANTS && per.values().all(|n| *n == 1),
        "one namespace per Tenant before the outage: {per:?}"
    );

    // The outage.
    let watches = proxy.open();
    let reconciles_before = op.metric("tenant_operator_reconciles_total").await?;
    let log_before = op.log_offset()?;
    let since = jiff::Timestamp::now();
    let down = Instant::now();
    // SIGTERM: the API server stops listening at once; its open watches end when it exits
    // (hack/controlplane kills it if it has not after 15 s). Away for OUTAGE from the SIGTERM.
    h.cp.stop_apiserver().await?;
    let stopped = down.elapsed();
    tokio::time::sleep(OUTAGE.saturating_sub(stopped)).await;
    let up_called = Instant::now();
    let log_restart = op.log_offset()?;
    let started_wall = jiff::Timestamp::now();
    h.cp.start_apiserver().await?;
    let ready = Instant::now();
    let ready_wall = jiff::Timestamp::now();
    let outage = ready - down;

    // No hot loop: the connections the operator opened while the API server was away.
    let during = proxy.accepted_between(down, up_called);
    let seconds = (up_called - down).as_secs() as usize + 1;
    let histogram = per_second(&during, down, seconds);
    let peak = histogram.iter().copied().max().unwrap_or(0);
    let last_half: usize = histogram[seconds / 2..].iter().sum();
    eprintln!(
        "outage: apiserver stopped in {stopped:?}, away {:?}, Ready {outage:?} after the stop; \
         {watches} connections open before; {} connection attempts while away, at most {peak} in \
         one second, {last_half} in its last {} s; per second: {histogram:?}",
        up_called - down,
        during.len(),
        seconds - seconds / 2
    );
    // The bounds, from how the operator retries: each of the `watches` open connections is a
    // watch, which retries with kube's watcher backoff (0.8 s doubling to 30 s, each pause
    // lengthened by up to as much again at random), so at most twice in one second (the reconnect
    // when its stream ends, then the first retry), at most 8 times in 60 s and 3 times in any
    // 30 s after its first 10 s; the outage probe looks at most once a second; and the Velero
    // Backup watch, whose list fails (Velero is not installed here) and whose backoff restarts at
    // each list, about once a second. A retry loop without a pause makes hundreds a second.
    let secs = seconds;
    let half = seconds - seconds / 2;
    ensure!(
        peak <= 2 * watches + 5,
        "{peak} connections in one second with {watches} watches: a hot retry loop ({histogram:?})"
    );
    ensure!(
        during.len() <= 8 * watches + 2 * secs + 20,
        "{} connections in {secs} s with {watches} watches: a hot retry loop ({histogram:?})",
        during.len()
    );
    ensure!(
        last_half <= 3 * watches + 2 * half + 10,
        "{last_half} connections in the last {half} s of the outage with {watches} watches: a hot \
         retry loop ({histogram:?})"
    );

    // Every Tenant reconciled after the restart, within the goal: the time of the last one's
    // first `reconciled` line after the restart, from Ready as hack/controlplane saw it (its
    // /readyz poll may see it later than the operator's own look, hence the signed figure).
    let all: BTreeSet<String> = names.clone();
    let first = poll_until(
        "every Tenant reconciled after the restart",
        REVERIFY_GOAL * 3,
        || {
            let seen = op.log_since(log_restart).map(|l| reconciled(&l, &h.ns));
            let all = all.clone();
            async move {
                let seen = seen.map_err(|e| e.to_string())?;
                let missing: Vec<_> = all.iter().filter(|n| !seen.contains_key(*n)).collect();
                if missing.is_empty() {
                    Ok(seen)
                } else {
                    Err(format!(
                        "{} not reconciled yet, e.g. {}",
                        missing.len(),
                        missing[0]
                    ))
                }
            }
        },
    )
    .await?;
    let earliest = first.values().min().copied().context("no reconcile")?;
    let last = first.values().max().copied().context("no reconcile")?;
    let reverified = last.duration_since(ready_wall);
    let reconciles_after = op.metric("tenant_operator_reconciles_total").await?;
    let s = |d: jiff::SignedDuration| d.as_secs_f64();
    eprintln!(
        "re-verified: the API server Ready {:.2} s after its start; the {TENANTS} Tenants \
         reconciled from {:.2} s to {:.2} s after its start, the last {:+.2} s from Ready ({} \
         reconciles since the outage began)",
        s(ready_wall.duration_since(started_wall)),
        s(earliest.duration_since(started_wall)),
        s(last.duration_since(started_wall)),
        s(reverified),
        reconciles_after - reconciles_before
    );
    ensure!(
        reverified <= jiff::SignedDuration::try_from(REVERIFY_GOAL)?,
        "re-verifying {TENANTS} Tenants took {:.2} s from Ready, over the goal of \
         {REVERIFY_GOAL:?}",
        s(reverified)
    );
    let lines = op.log_since(log_before)?;
    let recoveries = count_messages(&lines, "the API server answers again");
    ensure!(
        recoveries == 1,
        "{recoveries} re-checks of every Tenant for one outage"
    );

    // Nothing changed: no write of the operator's since the outage began (no create, no status),
    // every Tenant unchanged (so none left Ready), one namespace each.
    let after = poll_until("every Tenant Running and Ready", TIMEOUT, || {
        all_ready(&h, &names)
    })
    .await?;
    let changed: Vec<_> = before
        .iter()
        .filter(|(name, (rv, _))| after.get(*name).map(|(a, _)| a) != Some(rv))
        .map(|(name, _)| name)
        .collect();
    ensure!(
        changed.is_empty(),
        "Tenants changed across the outage: {changed:?}"
    );
    let mut namespaces: Vec<String> = before.values().map(|(_, ns)| ns.clone()).collect();
    namespaces.push(h.ns.clone());
    let writes = writes_since(h.cp, since, &namespaces, Some(OPERATOR_USER), true)?;
    ensure!(
        writes.is_empty(),
        "the operator wrote after the outage: {writes:#?}"
    );
    let per = namespaces_per_tenant(&h).await?;
    ensure!(
        per.len() == TENANTS && per.values().all(|n| *n == 1),
        "one namespace per Tenant after the outage: {per:?}"
    );

    // The watches resumed: a managed object deleted now comes back (through its kind's watch),
    // and a Tenant edited now is reconciled for its new generation (through the Tenant watch).
    // Each watch reconnects when the operator sees the API server answer again, and a watch that
    // resumes with a resourceVersion the restarted API server no longer has gets "too old
    // resource version" and relists after one short pause: this measures when, from Ready.
    let mut first_two = before.iter();
    let (edited, _) = first_two.next().context("no Tenant")?;
    let (drifted, (_, drift_ns)) = first_two.next().context("no second Tenant")?;
    let policies: Api<NetworkPolicy> = Api::namespaced(h.admin.clone(), drift_ns);
    let deleted_uid = policies.get(DEFAULT_DENY).await?.uid();
    let changes_at = ready.elapsed();
    policies
        .delete(DEFAULT_DENY, &DeleteParams::default())
        .await?;
    h.tenants()
        .patch(
            edited,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"imageTag": "after-the-outage"}})),
        )
        .await?;
    let (repaired, reconciled_edit) = tokio::try_join!(
        wait_recreated(&policies, DEFAULT_DENY, deleted_uid, WATCHES_BACK, ready),
        wait_observed(&h, edited, WATCHES_BACK, ready),
    )?;
    eprintln!(
        "watches resumed: changed {:.2} s after Ready, the deleted NetworkPolicy back {:.2} s \
         and the edited Tenant reconciled {:.2} s after Ready",
        changes_at.as_secs_f64(),
        repaired.as_secs_f64(),
        reconciled_edit.as_secs_f64()
    );
    ensure!(
        repaired <= WATCHES_BACK && reconciled_edit <= WATCHES_BACK,
        "the watches came back after the goal of {WATCHES_BACK:?} from Ready"
    );
    // Still nothing written for the other Tenants, now that the watches are back.
    let others: Vec<String> = before
        .iter()
        .filter(|(name, _)| *name != edited && *name != drifted)
        .map(|(_, (_, ns))| ns.clone())
        .collect();
    let edited_ref = format!("/{edited}");
    let writes: Vec<String> = writes_since(h.cp, since, &others, Some(OPERATOR_USER), true)?
        .into_iter()
        .filter(|w| !w.ends_with(&edited_ref))
        .collect();
    ensure!(
        writes.is_empty(),
        "the operator wrote for unchanged Tenants after the outage: {writes:#?}"
    );

    let status = op.sigterm().await?;
    if !status.success() {
        bail!("the operator ended with {status}");
    }
    eprintln!("test time {:?}", test_start.elapsed());
    Ok(())
}
