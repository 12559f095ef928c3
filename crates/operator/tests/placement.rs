//! Placement across clusters (docs/placement.md): two local control planes, one operator each,
//! with different regions, and the same Tenants applied to both, as one GitOps repository
//! carries them to every cluster. Each Tenant is reconciled where its placement names the
//! cluster's region or name, and nowhere else: there it is `NotPlaced`, with no finalizer, no
//! namespace and no write but its status. Moving a Tenant to the other region leaves what the
//! first cluster made (nothing is deleted on a placement change); deleting the Tenant there
//! cleans it up.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use anyhow::{Context, Result, ensure};
use common::*;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tenant_api::{Phase, Placement, Tenant, condition as c, labels};
use testenv::ControlPlane;

/// A cluster: its plane's harness and the operator running there.
struct Cluster {
    h: Harness,
    _op: RunningOperator,
    name: &'static str,
}

async fn cluster(
    cp: &'static ControlPlane,
    name: &'static str,
    region: &'static str,
) -> Result<Cluster> {
    let h = Harness::on_plane(cp, "place").await?;
    let op = h
        .start_operator_with(|c| {
            c.site = tenant_core::placement::Site {
                region: Some(region.into()),
                cluster: Some(name.into()),
            };
        })
        .await?;
    Ok(Cluster { h, _op: op, name })
}

fn placed(t: &mut Tenant, regions: &[&str], clusters: &[&str]) {
    let list = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
    t.spec.placement = Some(Placement {
        regions: list(regions),
        clusters: list(clusters),
    });
}

/// The Tenant as applied to `c` (same name and spec on every cluster, in that cluster's test
/// namespace).
fn on(c: &Cluster, t: &Tenant) -> Tenant {
    let mut t = t.clone();
    t.metadata.namespace = Some(c.h.ns.clone());
    t
}

/// On `c`, `name` stays NotPlaced: the Ready condition says where it is placed and where this
/// operator runs, it carries no finalizer, and no namespace of its was made.
async fn not_placed_on(c: &Cluster, name: &str, namespace: &str) -> Result<()> {
    let t = c.h.wait_phase(name, Phase::NotPlaced).await?;
    let ready = condition(&t, c::READY).context("no Ready condition")?;
    ensure!(
        ready.status == "False" && ready.reason == "NotPlaced",
        "{}: {}",
        c.name,
        conditions(&t)
    );
    ensure!(
        ready.message.contains(&format!("cluster {}", c.name)),
        "the condition does not name this cluster: {}",
        ready.message
    );
    ensure!(
        !t.finalizers().iter().any(|f| f == labels::FINALIZER),
        "{}: a NotPlaced Tenant got the finalizer",
        c.name
    );
    ensure!(
        c.h.namespace(namespace).await?.is_none(),
        "{}: namespace {namespace} was made for a Tenant placed elsewhere",
        c.name
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs two local control planes: hack/test runs it"]
async fn each_cluster_reconciles_the_tenants_placed_on_it_and_leaves_the_others_alone() -> Result<()>
{
    // cluster eu-1 (region eu) on the shared plane, cluster us-1 (region us) on a plane of its own
    let shared = ControlPlane::get().await?;
    let policy = std::path::PathBuf::from(repo_path("hack/audit-policy.yaml"));
    let own: &'static testenv::OwnPlane = Box::leak(Box::new(
        ControlPlane::start_with_audit_policy(&policy).await?,
    ));
    let eu = cluster(shared, "eu-1", "eu").await?;
    let us = cluster(own, "us-1", "us").await?;

    // The same set on both: one per region, one by cluster name, one everywhere.
    let template = eu.h.tenant("placed");
    let id = |suffix: &str| format!("{}-{suffix}", template.name_any());
    let mut set: BTreeMap<String, Tenant> = BTreeMap::new();
    for (suffix, regions, clusters) in [
        ("eu", &["eu"][..], &[][..]),
        ("us", &["us"][..], &[][..]),
        ("us1", &[][..], &["us-1"][..]),
        ("all", &[][..], &[][..]),
    ] {
        let name = id(suffix);
        let mut t = Tenant::new(
            &name,
            tenant_api::TenantSpec::new(&name, tenant_api::TenantType::Development),
        );
        if !regions.is_empty() || !clusters.is_empty() {
            placed(&mut t, regions, clusters);
        }
        set.insert(suffix.to_string(), t);
    }
    for c in [&eu, &us] {
        for t in set.values() {
            c.h.create(&on(c, t)).await?;
        }
    }
    let namespace = |suffix: &str| format!("tenant-{}-development", id(suffix));

    let expect: [(&Cluster, &[&str], &[&str]); 2] = [
        (&eu, &["eu", "all"], &["us", "us1"]),
        (&us, &["us", "us1", "all"], &["eu"]),
    ];
    for (c, here, elsewhere) in expect {
        for s in here {
            let t = c.h.wait_phase(&id(s), Phase::Running).await?;
            ensure!(
                status_namespace(&t)? == namespace(s),
                "{}: {}",
                c.name,
                conditions(&t)
            );
            ensure!(c.h.namespace(&namespace(s)).await?.is_some());
        }
        for s in elsewhere {
            not_placed_on(c, &id(s), &namespace(s)).await?;
        }
    }
    // Left alone: in the last seconds the operator wrote nothing about the unplaced Tenants
    // (their status was written once, when they became NotPlaced).
    let since = jiff::Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    for (c, _, elsewhere) in expect {
        let namespaces: Vec<String> = elsewhere.iter().map(|s| namespace(s)).collect();
        let writes = operator_writes_since(c.h.cp, since, &namespaces)?;
        ensure!(
            writes.is_empty(),
            "{}: writes for Tenants placed elsewhere: {writes:?}",
            c.name
        );
    }
    eprintln!("eu-1 runs eu and all; us-1 runs us, us1 and all; each reports the rest NotPlaced");

    // Moving `eu` to region us: us-1 takes it up; eu-1 leaves it alone and keeps what it made.
    let patch = json!({"spec": {"placement": {"regions": ["us"]}}});
    for c in [&eu, &us] {
        c.h.tenants()
            .patch(&id("eu"), &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    us.h.wait_phase(&id("eu"), Phase::Running).await?;
    let left = eu.h.wait_phase(&id("eu"), Phase::NotPlaced).await?;
    ensure!(
        status_namespace(&left)? == namespace("eu"),
        "eu-1 forgot the namespace it made: {}",
        conditions(&left)
    );
    ensure!(
        eu.h.namespace(&namespace("eu")).await?.is_some(),
        "eu-1 deleted the namespace of a Tenant that moved away"
    );
    let why = condition(&left, c::READY).map(|c| c.message.clone());
    ensure!(
        why.as_deref().is_some_and(|m| m.contains("are kept")),
        "the status does not say what is kept: {why:?}"
    );
    // Deleting it on eu-1 (the GitOps tool pruning it there) cleans up what eu-1 made.
    eu.h.delete_and_wait(&id("eu")).await?;
    eu.h.wait_namespace_gone(&namespace("eu")).await?;
    // A Tenant never placed on a cluster goes there at once: it never had the finalizer.
    eu.h.tenants()
        .delete(&id("us"), &Default::default())
        .await?;
    eu.h.wait_tenant_gone(&id("us")).await?;
    Ok(())
}
