//! The operator's RBAC for one managed kind revoked while it runs (docs/operator.md, "Faults"):
//! the NetworkPolicy rule is taken out of its ClusterRole. That concern reports
//! `NetworkIsolated=False, Forbidden` (and Ready with it); the other concerns keep working (a
//! quota change is applied meanwhile); the denied kind is retried after 30 s, doubling, not in a
//! loop; and putting the rule back recovers without a restart.
//!
//! A test binary of its own: the ClusterRole is shared by every operator on the plane.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tenant_api::{Phase, condition as c};
use testenv::{OPERATOR_USER, poll_until};

const ROLE: &str = "tenant-operator";

fn cond_of(t: &tenant_api::Tenant, type_: &str) -> (String, String) {
    condition(t, type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
        .unwrap_or_default()
}

/// The operator's requests on NetworkPolicies since `since`: (writes, all).
fn policy_requests(h: &Harness, since: jiff::Timestamp) -> Result<(usize, usize)> {
    let mut writes = 0;
    let mut all = 0;
    for e in audit_events_since(h.cp, since)? {
        if e["user"]["username"] != OPERATOR_USER
            || e["objectRef"]["resource"] != "networkpolicies"
            || e["stage"] != "ResponseComplete"
        {
            continue;
        }
        all += 1;
        if matches!(
            e["verb"].as_str(),
            Some("create" | "patch" | "update" | "delete")
        ) {
            writes += 1;
        }
    }
    Ok((writes, all))
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn one_kind_denied_fails_its_concern_only_backs_off_and_recovers_when_granted_again()
-> Result<()> {
    let h = Harness::new("rbac-revoked").await?;
    let op = h.start_operator().await?;
    let t = h.tenant("denied");
    h.create(&t).await?;
    let name = t.name_any();
    let running = h.wait_phase(&name, Phase::Running).await?;
    let ns = status_namespace(&running)?;
    let policies: Api<NetworkPolicy> = Api::namespaced(h.admin.clone(), &ns);
    let before = policies.list(&ListParams::default()).await?.items.len();
    ensure!(before > 0, "the tenant has no NetworkPolicies to lose");

    // Revoke: the ClusterRole loses its NetworkPolicy rule.
    let roles: Api<ClusterRole> = Api::all(h.admin.clone());
    let granted = roles.get(ROLE).await?;
    let mut revoked = granted.clone();
    revoked.metadata.managed_fields = None;
    let rules = revoked
        .rules
        .as_mut()
        .context("the ClusterRole has no rules")?;
    let n = rules.len();
    rules.retain(|r| {
        !r.resources
            .iter()
            .flatten()
            .any(|res| res == "networkpolicies")
    });
    ensure!(
        rules.len() == n - 1,
        "no single NetworkPolicy rule in {ROLE}"
    );
    roles
        .replace(ROLE, &PostParams::default(), &revoked)
        .await?;

    // Drift the operator must repair and may not: a policy deleted.
    let since = jiff::Timestamp::now();
    let started = Instant::now();
    let victim = policies.list(&ListParams::default()).await?.items[0].name_any();
    policies.delete(&victim, &DeleteParams::default()).await?;
    let denied = poll_until("NetworkIsolated=False Forbidden", TIMEOUT, || async {
        let t = h.get(&name).await.map_err(|e| e.to_string())?;
        match cond_of(&t, c::NETWORK_ISOLATED) {
            (s, r) if s == "False" && r == "Forbidden" => Ok(t),
            _ => Err(conditions(&t)),
        }
    })
    .await?;
    let reported = started.elapsed();
    ensure!(
        cond_of(&denied, c::READY) == ("False".into(), "Forbidden".into()),
        "Ready does not say Forbidden: {}",
        conditions(&denied)
    );
    for other in [c::NAMESPACE_READY, c::QUOTA_READY, c::RBAC_READY] {
        ensure!(
            cond_of(&denied, other).0 == "True",
            "{other} fell with NetworkPolicy: {}",
            conditions(&denied)
        );
    }

    // The others keep working: a quota change is applied while NetworkPolicies are denied.
    h.tenants()
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"quota": {"podQuota": 7}}})),
        )
        .await?;
    let quotas: Api<ResourceQuota> = Api::namespaced(h.admin.clone(), &ns);
    poll_until("the quota change applied", TIMEOUT, || async {
        let q = quotas
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let pods = q
            .items
            .iter()
            .filter_map(|q| q.spec.as_ref()?.hard.as_ref()?.get("pods"))
            .map(|p| p.0.clone())
            .collect::<Vec<_>>();
        if pods.iter().any(|p| p == "7") {
            Ok(())
        } else {
            Err(format!("pods quota {pods:?}"))
        }
    })
    .await?;

    // No hot loop: over 40 s the denied kind is tried at the drift, the quota change and the
    // 30 s retry; a loop would show tens.
    tokio::time::sleep(Duration::from_secs(40)).await;
    let (writes, all) = policy_requests(&h, since)?;
    eprintln!(
        "denied: reported after {:.1} s; in {:.0} s, {writes} NetworkPolicy writes tried, {all} NetworkPolicy requests in all",
        reported.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    ensure!(
        (1..=6).contains(&writes),
        "{writes} NetworkPolicy writes tried while denied"
    );
    ensure!(
        !op.handle.is_finished(),
        "the operator stopped while denied"
    );

    // Granted again: recovered by the backoff's next look, without a restart.
    let regranted = std::time::Instant::now();
    let mut back = granted.clone();
    back.metadata.managed_fields = None;
    back.metadata.resource_version = None;
    roles.replace(ROLE, &PostParams::default(), &back).await?;
    let recovered = poll_until(
        "NetworkIsolated=True again",
        Duration::from_secs(150),
        || async {
            let t = h.get(&name).await.map_err(|e| e.to_string())?;
            let live = policies
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            match (
                cond_of(&t, c::NETWORK_ISOLATED).0.as_str(),
                t.status.as_ref().and_then(|s| s.phase),
            ) {
                ("True", Some(Phase::Running)) if live == before => Ok(t),
                _ => Err(format!("{live}/{before} policies; {}", conditions(&t))),
            }
        },
    )
    .await?;
    eprintln!(
        "granted again: Running with {before} NetworkPolicies {:.1} s later",
        regranted.elapsed().as_secs_f64()
    );
    ensure!(cond_of(&recovered, c::READY).0 == "True");
    ensure!(!op.handle.is_finished(), "the operator restarted");
    op.stop().await?;
    Ok(())
}
