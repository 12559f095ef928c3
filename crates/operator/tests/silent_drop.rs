//! The network between the operator and the API server dies silently: every connection open at
//! that moment stops carrying anything, in both directions, and none is closed (a node, NAT
//! entry or load balancer gone without a reset). New connections work. The operator (the built
//! binary, reaching the API server through a proxy of the test's) must notice by itself: a drift
//! made right after the cut is repaired, and a Tenant edited then is reconciled, within
//! [`GOAL`]. Without deadlines of its own it would wait on the dead watches for five minutes
//! and on a request sent over a dead pooled connection forever.
//!
//! A test binary of its own: its operator is a process, and it waits minutes.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use common::process::OperatorProcess;
use common::proxy::{Proxy, kubeconfig_via, operator_kubeconfig};
use common::*;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

/// A watch lasts 60 s on the API server and is taken for dead 5 s after that; the repair then
/// may meet dead pooled connections, each failing after the 30 s request deadline.
const GOAL: Duration = Duration::from_secs(150);
const DEFAULT_DENY: &str = "tenant-default-deny";

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn connections_that_die_silently_are_noticed_and_replaced() -> Result<()> {
    let h = Harness::new("silent-drop").await?;
    let (_, api_port, _, _) = operator_kubeconfig(&h)?;
    let proxy = Proxy::start(api_port).await?;
    let kubeconfig = kubeconfig_via(&h, proxy.port)?;
    let log = h.cp.state_dir().join(format!("{}-operator.log", h.ns));
    let op = OperatorProcess::start_via(&h, &log, &kubeconfig, &[])?;
    op.wait_readyz(|b| b == "ok").await?;

    let (_, drift_ns) = running_tenant(&h, "drift", |_| {}).await?;
    let (edited, _) = running_tenant(&h, "edit", |_| {}).await?;
    let edited = edited.name_any();
    // Let the last status writes and their watch events through.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let cut = proxy.cut_silently();
    let cut_at = Instant::now();
    eprintln!("cut {cut} open connections silently");
    ensure!(cut > 0, "the operator had no connection open");
    let policies: Api<NetworkPolicy> = Api::namespaced(h.admin.clone(), &drift_ns);
    let deleted_uid = policies.get(DEFAULT_DENY).await?.uid();
    policies
        .delete(DEFAULT_DENY, &DeleteParams::default())
        .await?;
    h.tenants()
        .patch(
            &edited,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"imageTag": "after-the-cut"}})),
        )
        .await?;
    let (repaired, reconciled) = tokio::try_join!(
        wait_recreated(&policies, DEFAULT_DENY, deleted_uid, GOAL, cut_at),
        wait_observed(&h, &edited, GOAL, cut_at),
    )?;
    eprintln!(
        "after the cut: the deleted NetworkPolicy back in {:.1} s, the edited Tenant reconciled \
         in {:.1} s; {} connections held dead, {} open now",
        repaired.as_secs_f64(),
        reconciled.as_secs_f64(),
        proxy.held(),
        proxy.open()
    );
    // Still serving, never restarted.
    op.wait_readyz(|b| b == "ok").await?;
    let status = op.sigterm().await.context("stopping the operator")?;
    ensure!(status.success(), "the operator ended with {status}");
    Ok(())
}
