//! Faults a real cluster has, on the local control plane (docs/operator.md, "Faults"):
//! - a Tenant deleted while the operator is down is cleaned up when it starts;
//! - a tenant namespace held in Terminating by a finalizer the operator does not own is reported
//!   on the Tenant (and once as an Event), looked at every 30 s with no writes in between, and
//!   the Tenant is released as soon as the finalizer goes.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tenant_api::Phase;
use testenv::{OPERATOR_USER, poll_until};

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_tenant_deleted_while_the_operator_is_down_is_cleaned_up_on_start() -> Result<()> {
    let h = Harness::new("op-down").await?;
    let op = h.start_operator().await?;
    let t = h.tenant("down");
    h.create(&t).await?;
    let running = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let ns = status_namespace(&running)?;
    op.stop().await?;

    // Deleted with no operator: the finalizer holds the Tenant, the namespace stays.
    h.tenants()
        .delete(&t.name_any(), &DeleteParams::default())
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = h.get(&t.name_any()).await?;
    ensure!(
        held.metadata.deletion_timestamp.is_some(),
        "the Tenant is not being deleted"
    );
    ensure!(
        h.namespace(&ns).await?.is_some(),
        "{ns} went without the operator"
    );

    let started = Instant::now();
    let op = h.start_operator().await?;
    h.wait_namespace_gone(&ns).await?;
    h.wait_tenant_gone(&t.name_any()).await?;
    eprintln!(
        "a Tenant deleted while the operator was down: cleaned up {:?} after the start",
        started.elapsed()
    );
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_namespace_held_by_a_foreign_finalizer_is_reported_without_a_hot_loop() -> Result<()> {
    const HOLD: &str = "example.com/hold";
    let h = Harness::new("op-stuck").await?;
    let op = h.start_operator().await?;
    let t = h.tenant("stuck");
    h.create(&t).await?;
    let running = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let ns = status_namespace(&running)?;
    // Content the operator does not own, with a finalizer nobody will remove (a controller that
    // is gone, in life): the namespace controller cannot finish deleting the namespace.
    let cms: Api<ConfigMap> = Api::namespaced(h.admin.clone(), &ns);
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "held", "finalizers": [HOLD]},
            "data": {"a": "b"}
        }))?,
    )
    .await?;

    let deleted = Instant::now();
    h.tenants()
        .delete(&t.name_any(), &DeleteParams::default())
        .await?;
    let name = t.name_any();
    let stuck = poll_until(
        "the Tenant reporting its stuck namespace",
        Duration::from_secs(150),
        || async {
            let t = h.get(&name).await.map_err(|e| e.to_string())?;
            match condition(&t, "Ready") {
                Some(c) if c.reason == "NamespaceStuck" => Ok(c.message.clone()),
                _ => Err(conditions(&t)),
            }
        },
    )
    .await?;
    eprintln!("reported {:?} after the delete: {stuck}", deleted.elapsed());
    ensure!(
        stuck.contains(&ns) && stuck.contains(HOLD),
        "the report does not name the namespace and the finalizer: {stuck}"
    );
    ensure!(
        h.get(&name).await?.status.and_then(|s| s.phase) == Some(Phase::Cleaning),
        "the Tenant is not Cleaning"
    );

    // No hot loop: for 40 s, no write at all, and a read of the namespace every 30 s.
    let since = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let mut writes = Vec::new();
    let mut reads = 0;
    for e in audit_events_since(h.cp, since)? {
        if e["user"]["username"] != OPERATOR_USER {
            continue;
        }
        let obj = &e["objectRef"];
        let touches = obj["namespace"] == ns.as_str()
            || (obj["resource"] == "namespaces" && obj["name"] == ns.as_str())
            || (obj["resource"] == "tenants" && obj["name"] == name.as_str());
        if !touches {
            continue;
        }
        match e["verb"].as_str().unwrap_or_default() {
            "get" | "list" | "watch" => reads += 1,
            v => writes.push(format!("{v} {}", obj)),
        }
    }
    eprintln!("while stuck, 40 s: {} writes, {reads} reads", writes.len());
    ensure!(writes.is_empty(), "writes while stuck: {writes:?}");
    ensure!(reads <= 3, "{reads} reads in 40 s while stuck: a hot loop");
    let events: Api<Event> = Api::namespaced(h.admin.clone(), &h.ns);
    let told: Vec<Event> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("NamespaceStuck"))
        .collect();
    ensure!(told.len() == 1, "{} NamespaceStuck Events", told.len());

    // The finalizer goes: the namespace goes, the Tenant is released.
    let released = Instant::now();
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    h.wait_namespace_gone(&ns).await?;
    h.wait_tenant_gone(&name).await?;
    eprintln!(
        "released {:?} after the finalizer was removed",
        released.elapsed()
    );
    h.teardown().await?;
    op.stop().await
}
