//! A tenant whose spec sets no compute quota, tried by its admin (alice, by token) on the local
//! control plane: strict and standard tenants get the platform's default compute quota (built-in
//! per tenant type, or what the operator's `--default-compute-quota` says), so one tenant cannot
//! take the cluster; permissive tenants get none, and `quota total` reports them as unbounded.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use anyhow::{Result, bail, ensure};
use common::*;
use k8s_openapi::api::core::v1::{Pod, ResourceQuota};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tenant_api::{IsolationLevel, IsolationSpec, Phase, Tenant, TenantType};
use tenant_core::presets::ComputeDefaults;

/// What the platform sets for staging tenants in this test; the other types keep the built-in.
const STAGING: &str = "staging:requests.cpu=3,requests.memory=6Gi";

/// A restricted pod asking for `resources` (`null`: none).
fn pod(name: &str, resources: Value) -> Pod {
    from_json(json!({"metadata": {"name": name}, "spec": restricted_pod_spec(resources)}))
}

fn cpu(requests: &str, limits: &str) -> Value {
    json!({"requests": {"cpu": requests, "memory": "64Mi"}, "limits": {"cpu": limits, "memory": "64Mi"}})
}

/// The API server's refusal (403), naming the quota; anything else fails the test.
fn quota_refusal(what: &str, r: Result<Pod, kube::Error>) -> Result<()> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("exceeded quota") => Ok(()),
        Err(e) => bail!("{what}: expected a quota refusal, got {e}"),
        Ok(_) => bail!("{what}: admitted, but it is beyond the tenant's quota"),
    }
}

async fn tenant_of(
    h: &Harness,
    prefix: &str,
    ty: TenantType,
    level: IsolationLevel,
) -> Result<Tenant> {
    let mut t = h.tenant(prefix);
    t.spec.tenant_type = ty;
    t.spec.owner = Some("alice".into());
    t.spec.isolation = Some(IsolationSpec {
        isolation_level: Some(level),
        ..Default::default()
    });
    h.create(&t).await?;
    h.wait_phase(&t.name_any(), Phase::Running).await
}

fn hard(q: &ResourceQuota, key: &str) -> Option<String> {
    q.spec
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .and_then(|h| h.get(key))
        .map(|v| v.0.clone())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_tenant_without_compute_quota_cannot_take_the_cluster() -> Result<()> {
    let h = Harness::new("esc-quota").await?;
    let op = h
        .start_operator_with(|c| {
            c.compute_defaults.set(STAGING).expect("a valid setting");
        })
        .await?;
    let dev = tenant_of(
        &h,
        "q-dev",
        TenantType::Development,
        IsolationLevel::Standard,
    )
    .await?;
    let stg = tenant_of(&h, "q-stg", TenantType::Staging, IsolationLevel::Strict).await?;
    let open = tenant_of(
        &h,
        "q-open",
        TenantType::Development,
        IsolationLevel::Permissive,
    )
    .await?;
    let alice = h.cp.client_as("alice").await?;

    // The quotas the operator applied: built-in for development, the platform's for staging.
    let quota_of = |ns: &str| Api::<ResourceQuota>::namespaced(h.admin.clone(), ns);
    let dev_ns = status_namespace(&dev)?;
    let q = quota_of(&dev_ns).get("tenant-quota").await?;
    for (k, v) in [
        ("requests.cpu", "2"),
        ("limits.cpu", "4"),
        ("requests.memory", "4Gi"),
        ("limits.memory", "8Gi"),
        ("pods", "50"),
    ] {
        ensure!(
            hard(&q, k).as_deref() == Some(v),
            "development {k}: {:?}",
            q.spec
        );
    }
    let stg_ns = status_namespace(&stg)?;
    let q = quota_of(&stg_ns).get("tenant-quota").await?;
    ensure!(
        hard(&q, "requests.cpu").as_deref() == Some("3"),
        "staging: {:?}",
        q.spec
    );
    ensure!(
        hard(&q, "requests.memory").as_deref() == Some("6Gi"),
        "staging: {:?}",
        q.spec
    );
    ensure!(
        hard(&q, "limits.cpu").is_none(),
        "the platform set no limits.cpu: {:?}",
        q.spec
    );

    // alice cannot ask for more than the quota, in one pod or in several.
    let pods = Api::<Pod>::namespaced(alice.clone(), &dev_ns);
    let pp = PostParams::default();
    quota_refusal(
        "a 3-CPU pod in a 2-CPU development tenant",
        pods.create(&pp, &pod("big", cpu("3", "3"))).await,
    )?;
    pods.create(&pp, &pod("half-1", cpu("1500m", "1500m")))
        .await?;
    quota_refusal(
        "a second 1.5-CPU pod",
        pods.create(&pp, &pod("half-2", cpu("1500m", "1500m")))
            .await,
    )?;
    // A pod that names no resources is admitted with the LimitRange's defaults, so it counts.
    let p = pods.create(&pp, &pod("plain", Value::Null)).await?;
    let r = p
        .spec
        .as_ref()
        .and_then(|s| s.containers[0].resources.clone());
    let requests = r.and_then(|r| r.requests).unwrap_or_default();
    ensure!(
        requests.get("cpu").map(|q| q.0.as_str()) == Some("100m"),
        "the LimitRange defaults the request: {requests:?}"
    );
    let stg_pods = Api::<Pod>::namespaced(alice.clone(), &stg_ns);
    quota_refusal(
        "a 4-CPU pod in a 3-CPU staging tenant",
        stg_pods.create(&pp, &pod("big", cpu("4", "4"))).await,
    )?;

    // ...nor lift it: the quota is the operator's.
    let quotas = Api::<ResourceQuota>::namespaced(alice.clone(), &dev_ns);
    match quotas
        .delete("tenant-quota", &DeleteParams::default())
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => bail!("alice deleting tenant-quota: expected 403, got {other:?}"),
    }
    let lift = json!({"spec": {"hard": {"requests.cpu": "1000"}}});
    match quotas
        .patch(
            "tenant-quota",
            &PatchParams::default(),
            &Patch::Merge(&lift),
        )
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => bail!("alice patching tenant-quota: expected 403, got {other:?}"),
    }

    // The permissive tenant has no compute quota: the documented trade of that preset.
    let open_ns = status_namespace(&open)?;
    if let Some(q) = quota_of(&open_ns).get_opt("tenant-quota").await? {
        ensure!(
            hard(&q, "requests.cpu").is_none(),
            "permissive: {:?}",
            q.spec
        );
    }

    // `kubectl tenant quota total` counts the defaults as the operator enforces them, and names
    // the tenant without one as unbounded.
    let mut defaults = ComputeDefaults::builtin();
    defaults.set(STAGING).expect("a valid setting");
    let tenants = [dev.clone(), stg.clone(), open.clone()];
    let totals =
        tenant_core::totals::calculate_total_quota(&tenants, &Default::default(), &defaults)?;
    let cpu = &totals.totals["requests.cpu"];
    ensure!(
        cpu.total == "5" && cpu.tenants == 2,
        "requests.cpu total: {cpu:?}"
    );
    ensure!(
        cpu.unbounded.len() == 1 && cpu.unbounded[0].starts_with(&open.spec.tenant_id),
        "unbounded: {:?}",
        cpu.unbounded
    );

    // The operator stays healthy, and the tenants Ready.
    for t in [&dev, &stg, &open] {
        h.wait_phase(&t.name_any(), Phase::Running).await?;
    }
    ensure!(
        op.health.is_ready() && !op.handle.is_finished(),
        "the operator must stay up and ready"
    );
    h.teardown().await?;
    op.stop().await
}
