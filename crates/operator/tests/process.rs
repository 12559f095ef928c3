//! The operator as a process (the built binary): kill -9 mid-way and restart converges with no
//! duplicates or leftovers; SIGTERM shuts down cleanly; /livez, /readyz and /metrics answer.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail, ensure};
use common::process::OperatorProcess;
use common::*;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use tenant_api::{Phase, labels};
use tenant_core::build::{self, BuildContext};
use testenv::{OPERATOR_USER, poll_until};

/// `kind/namespace/name` of every object carrying the managed-by label and owned by a Tenant of
/// `tenant_ns`, across the kinds the operator manages.
async fn managed_objects(h: &Harness) -> Result<BTreeSet<String>> {
    let client = &h.admin;
    let mut out = BTreeSet::new();
    let lp = ListParams::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER));
    // Every per-owner kind of the registry; optional kinds only where served.
    for k in tenant_core::registry::with_role(tenant_core::registry::Role::PerOwner) {
        let (api_version, kind) = (k.api_version(), k.kind);
        let ar = match kube::discovery::pinned_kind(
            client,
            &kube::core::GroupVersionKind::gvk(k.group, k.version, kind),
        )
        .await
        {
            Ok((ar, _)) => ar,
            Err(_) if k.optional() => continue,
            Err(e) => return Err(e.into()),
        };
        let api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &ar);
        for o in api.list(&lp).await? {
            let owner = o
                .annotations()
                .get(labels::OWNER)
                .cloned()
                .unwrap_or_default();
            if owner.starts_with(&format!("Tenant/{}/", h.ns))
                && o.metadata.deletion_timestamp.is_none()
            {
                out.insert(format!(
                    "{api_version}/{kind}/{}/{}",
                    o.namespace().unwrap_or_default(),
                    o.name_any()
                ));
            }
        }
    }
    Ok(out)
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn kill_9_mid_way_and_restart_converges_without_duplicates_or_leftovers() -> Result<()> {
    let h = Harness::new("op-crash").await?;
    let log = h.cp.state_dir().join(format!("{}-operator.log", h.ns));
    let op = OperatorProcess::start(&h, &log)?;
    op.wait_ready().await?;
    let (live, _) = op.get("/livez").await?;
    ensure!(live == 200, "/livez answered {live}");

    // Several tenants at once; kill the operator while it is still creating them.
    let mut tenants = Vec::new();
    for file in [
        "customer-shop-1.yaml",
        "acme-corp.yaml",
        "multi-tenant-cluster.yaml",
        "strict-isolation.yaml",
        "single-tenant.yaml",
        "cost-optimized.yaml",
    ] {
        tenants.extend(h.example(file)?);
    }
    for t in &tenants {
        h.create(t).await?;
    }
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());
    let n = tenants.len();
    let seen = poll_until(
        "the operator mid-way (some tenant namespaces, not all tenants Running)",
        TIMEOUT,
        || {
            let (nsapi, api, prefix) = (nsapi.clone(), h.tenants(), format!("Tenant/{}/", h.ns));
            async move {
                let nss = nsapi
                    .list(&Default::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let ours = nss
                    .items
                    .iter()
                    .filter(|ns| {
                        ns.annotations()
                            .get(labels::OWNER)
                            .is_some_and(|o| o.starts_with(&prefix))
                    })
                    .count();
                let running = api
                    .list(&Default::default())
                    .await
                    .map_err(|e| e.to_string())?
                    .items
                    .iter()
                    .filter(|t| t.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running))
                    .count();
                if ours >= 1 {
                    Ok((ours, running))
                } else {
                    Err(format!("{ours} namespaces, {running} Running"))
                }
            }
        },
    )
    .await?;
    op.kill9().await?;
    eprintln!(
        "killed with {} of {n} namespaces created and {} of {n} tenants Running",
        seen.0, seen.1
    );

    let op = OperatorProcess::start(&h, &log)?;
    for t in &tenants {
        h.wait_phase(&t.name_any(), Phase::Running).await?;
    }

    // Exactly the desired objects exist (of the kinds this plane serves): no duplicates, no
    // leftovers.
    let all: Vec<_> = h.tenants().list(&Default::default()).await?.items;
    let mut not_served = Vec::new();
    for k in tenant_core::registry::KINDS.iter().filter(|k| k.optional()) {
        let gvk = kube::core::GroupVersionKind::gvk(k.group, k.version, k.kind);
        if kube::discovery::pinned_kind(&h.admin, &gvk).await.is_err() {
            not_served.push(k.kind);
        }
    }
    let mut expected = BTreeSet::new();
    for t in &all {
        let related: Vec<_> = all.iter().filter(|o| o.uid() != t.uid()).cloned().collect();
        let ctx = BuildContext {
            other_tenants: &related,
            operator_user: OPERATOR_USER,
            ..Default::default()
        };
        let objects = build::tenant_objects(t, &ctx)?;
        for o in objects
            .into_iter()
            .filter(|o| !not_served.contains(&o.kind.as_str()))
        {
            expected.insert(format!(
                "{}/{}/{}/{}",
                o.api_version,
                o.kind,
                o.namespace.unwrap_or_default(),
                o.name
            ));
        }
    }
    let actual = managed_objects(&h).await?;
    let missing: Vec<_> = expected.difference(&actual).collect();
    let extra: Vec<_> = actual.difference(&expected).collect();
    ensure!(
        missing.is_empty() && extra.is_empty(),
        "after restart: missing {missing:#?}, leftovers {extra:#?}"
    );
    let mut per_tenant: BTreeMap<String, usize> = BTreeMap::new();
    for ns in nsapi.list(&Default::default()).await? {
        if let Some(o) = ns
            .annotations()
            .get(labels::OWNER)
            .filter(|o| o.starts_with(&format!("Tenant/{}/", h.ns)))
        {
            *per_tenant.entry(o.clone()).or_default() += 1;
        }
    }
    ensure!(
        per_tenant.len() == n && per_tenant.values().all(|c| *c == 1),
        "one namespace per tenant: {per_tenant:?}"
    );

    // Kill again in the middle of deleting everything; the restarted operator finishes the job.
    for t in &all {
        h.tenants()
            .delete(&t.name_any(), &Default::default())
            .await?;
    }
    op.kill9().await?;
    let op = OperatorProcess::start(&h, &log)?;
    for t in &all {
        h.delete_and_wait(&t.name_any()).await?;
    }
    poll_until(
        "no managed object of the test's tenants left",
        TIMEOUT,
        || async {
            let left = managed_objects(&h).await.map_err(|e| e.to_string())?;
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    )
    .await?;
    let status = op.sigterm().await?;
    ensure!(
        status.success(),
        "SIGTERM should end the operator cleanly, got {status}"
    );
    h.teardown().await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn the_binary_serves_metrics_and_stops_cleanly_on_sigterm() -> Result<()> {
    let h = Harness::new("op-proc").await?;
    let log = h.cp.state_dir().join(format!("{}-operator.log", h.ns));
    let op = OperatorProcess::start(&h, &log)?;
    op.wait_ready().await?;
    let t = h.tenant("proc");
    h.create(&t).await?;
    h.wait_phase(&t.name_any(), Phase::Running).await?;
    let (code, metrics) = op.get("/metrics").await?;
    ensure!(code == 200, "/metrics answered {code}");
    for name in [
        "tenant_operator_reconciles_total{result=\"success\"}",
        "tenant_operator_reconcile_duration_seconds_count",
        "tenant_operator_tenants{phase=\"Running\"} 1",
        "tenant_operator_api_writes_total{kind=\"Namespace\",verb=\"apply\"} 1",
    ] {
        ensure!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    // Its requests name it: the replicas of a Deployment share one user, the audit log tells
    // them apart by their User-Agent.
    let ns_of_tenant = status_namespace(&h.get(&t.name_any()).await?)?;
    let agents: BTreeSet<String> =
        h.cp.audit_events()?
            .iter()
            .filter(|e| e["user"]["username"] == OPERATOR_USER)
            .filter(|e| e["objectRef"]["namespace"] == ns_of_tenant.as_str())
            .filter_map(|e| e["userAgent"].as_str().map(String::from))
            .collect();
    let want = format!("tenant-operator/{} (", env!("CARGO_PKG_VERSION"));
    ensure!(
        !agents.is_empty()
            && agents
                .iter()
                .all(|a| a.starts_with(&want) && a.ends_with(')')),
        "the operator's requests carry User-Agents {agents:?}, not {want}<identity>)"
    );
    h.delete_and_wait(&t.name_any()).await?;
    let status = op.sigterm().await?;
    if !status.success() {
        bail!(
            "exit status {status}; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    h.teardown().await?;
    Ok(())
}
