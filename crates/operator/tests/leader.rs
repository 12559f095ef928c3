//! Opt-in leader election on a Lease: one leader reconciles, a standby writes nothing, a clean
//! stop hands over at once, a dead leader is replaced after the lease expires, and a leader that
//! finds someone else holding its lease, or cannot renew it, stops with an error (so its
//! Deployment restarts it).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tenant_api::Phase;
use testenv::poll_until;

const LEASE_SECONDS: u64 = 3;

async fn elector(h: &Harness) -> Result<RunningOperator> {
    let ns = h.ns.clone();
    h.start_operator_with(move |c| {
        c.leader_elect = true;
        c.lease_namespace = ns;
        c.lease_name = "tenant-operator".into();
        c.lease_duration = Duration::from_secs(LEASE_SECONDS);
        c.lease_renew = Duration::from_millis(500);
    })
    .await
}

async fn holder(h: &Harness) -> Result<Option<String>> {
    let leases: Api<Lease> = Api::namespaced(h.admin.clone(), &h.ns);
    Ok(leases
        .get_opt("tenant-operator")
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity))
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn one_leader_a_silent_standby_and_takeover() -> Result<()> {
    let h = Harness::new("op-leader").await?;
    lease_rbac(&h).await?;
    let first = elector(&h).await?;
    first.wait_ready().await?;
    let second = elector(&h).await?;
    poll_until("second replica standing by", TIMEOUT, || {
        let s = second.health.clone();
        async move {
            if s.is_standby() && !s.is_ready() {
                Ok(())
            } else {
                Err("not standing by".into())
            }
        }
    })
    .await?;

    let t = h.tenant("led");
    h.create(&t).await?;
    h.wait_phase(&t.name_any(), Phase::Running).await?;
    ensure!(
        second.metrics.writes_total() == 0,
        "the standby wrote:\n{}",
        second.metrics.encode()
    );
    ensure!(
        second.metrics.reconciles_total() == 0,
        "the standby reconciled"
    );
    let leader_before = holder(&h).await?.context("a holder")?;

    // A clean stop releases the lease: the standby takes over well before it would expire.
    let stopped_at = Instant::now();
    first.stop().await?;
    second.wait_ready().await?;
    let handover = stopped_at.elapsed();
    let leader_after = holder(&h).await?.context("a holder")?;
    ensure!(leader_after != leader_before, "the lease changed hands");
    eprintln!("handover after a clean stop: {handover:?}");
    ensure!(
        handover < Duration::from_secs(LEASE_SECONDS),
        "release should hand over before expiry, took {handover:?}"
    );
    // The new leader reconciles: a spec change is picked up.
    h.tenants()
        .patch(
            &t.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"displayName": "led by the second"}})),
        )
        .await?;
    h.wait_phase(&t.name_any(), Phase::Running).await?;

    // A leader that dies without releasing is replaced once the lease expires.
    let third = elector(&h).await?;
    second.handle.abort();
    let died_at = Instant::now();
    third.wait_ready().await?;
    let takeover = died_at.elapsed();
    eprintln!("takeover after a crash: {takeover:?}");
    ensure!(
        takeover >= Duration::from_secs(LEASE_SECONDS - 1),
        "took over before the lease could expire ({takeover:?})"
    );

    // Someone else grabs the lease: the leader notices and stops with an error.
    let leases: Api<Lease> = Api::namespaced(h.admin.clone(), &h.ns);
    // MicroTime serializes the way the API server parses (exactly six fractional digits).
    let now = serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        jiff::Timestamp::now(),
    ))?;
    leases
        .patch(
            "tenant-operator",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": "intruder", "renewTime": now, "leaseDurationSeconds": 60}})),
        )
        .await?;
    let result = tokio::time::timeout(Duration::from_secs(30), third.handle)
        .await
        .context("the leader did not stop")??;
    ensure!(
        matches!(result, Err(tenant_operator::Error::LeaseLost(_))),
        "expected LeaseLost, got {result:?}"
    );

    // Clean up with a fresh leader (the intruder's lease is stolen back only after it expires,
    // so hand it over explicitly).
    leases
        .patch(
            "tenant-operator",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": null}})),
        )
        .await?;
    let last = elector(&h).await?;
    last.wait_ready().await?;

    // A leader that cannot renew (its Lease rights revoked here; an unreachable API server in
    // life) stops at its renew deadline, before the lease could expire for a standby.
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(h.admin.clone(), &h.ns);
    bindings
        .delete(
            "tenant-operator-leader-election",
            &kube::api::DeleteParams::default(),
        )
        .await?;
    let revoked_at = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), last.handle)
        .await
        .context("the leader did not stop")??;
    let stopped_after = revoked_at.elapsed();
    eprintln!("a leader unable to renew stopped after {stopped_after:?}");
    ensure!(
        matches!(result, Err(tenant_operator::Error::LeaseLost(_))),
        "expected LeaseLost, got {result:?}"
    );
    ensure!(
        stopped_after < Duration::from_secs(LEASE_SECONDS),
        "stopped only after {stopped_after:?}, when a standby may already lead"
    );

    let cleaner = h.start_operator().await?;
    h.teardown().await?;
    cleaner.stop().await
}
