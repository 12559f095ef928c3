//! `tenant-bench --request-costs N`: what one request of each kind the operator model makes costs
//! the API server, in CPU, on an otherwise idle local control plane.
//!
//! Each kind of request is sent N times, one after the other, and the CPU the kube-apiserver and
//! etcd processes used meanwhile (from /proc, less their idle rate measured first) is divided by
//! N. Between kinds the plane is left alone for a few seconds, so asynchronous work one kind
//! causes (the namespace's default ServiceAccount, quota status) is not charged to the next.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tenant_api::{Tenant, labels};
use tenant_core::build::{self, BuildContext};
use tenant_core::status::{Outcome, Progress, desired_status};
use testenv::{ControlPlane, OPERATOR_USER};

use crate::{BENCH_NS, Resources, disown, ensure_namespace, tenant_named};

/// CPU seconds of the apiserver and etcd together.
fn plane_seconds(cp: &ControlPlane) -> f64 {
    crate::plane_cpu(cp)
        .iter()
        .filter(|(k, _)| k.as_str() != "kube-controller-manager")
        .map(|(_, v)| v)
        .sum()
}

struct Meter<'a> {
    cp: &'a ControlPlane,
    /// Idle CPU seconds per second of the apiserver and etcd.
    idle: f64,
    rows: Vec<(String, f64, f64)>,
}

impl Meter<'_> {
    async fn settle() {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    /// Runs `f(i)` for i in 0..n and records the CPU and wall time per call.
    async fn measure<F, Fut>(&mut self, what: &str, n: usize, mut f: F) -> Result<()>
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        Self::settle().await;
        let (c0, t0) = (plane_seconds(self.cp), Instant::now());
        for i in 0..n {
            f(i).await.with_context(|| format!("{what} #{i}"))?;
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = (plane_seconds(self.cp) - c0 - self.idle * wall).max(0.0);
        let (cpu_ms, wall_ms) = (cpu * 1000.0 / n as f64, wall * 1000.0 / n as f64);
        eprintln!("bench: {what}: {cpu_ms:.1} ms CPU, {wall_ms:.1} ms wall per request");
        self.rows.push((what.to_string(), cpu_ms, wall_ms));
        Ok(())
    }
}

/// The status the operator writes for `outcome` (the very function it uses).
fn status_patch(t: &Tenant, outcome: &Outcome) -> Value {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    json!({
        "apiVersion": Tenant::api_version(&()),
        "kind": Tenant::kind(&()),
        "status": desired_status(t, None, outcome, &now),
    })
}

pub async fn request_costs(
    cp: &ControlPlane,
    admin: &Client,
    template: &Tenant,
    n: usize,
) -> Result<()> {
    let operator = cp
        .client_as(OPERATOR_USER)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure_namespace(admin, BENCH_NS).await?;
    let res = Resources {
        client: admin.clone(),
        cache: Default::default(),
    };
    let ctx = BuildContext::default();
    let pp = PatchParams::apply("tenant-bench-bare").force();
    // Without the finalizer policy first: the Tenant creates and finalizer patches below are
    // what a cluster without MutatingAdmissionPolicy pays; the policy's own cost is measured last.
    let (finalizer_policy, shared): (Vec<_>, Vec<_>) = build::shared_objects(&ctx)?
        .into_iter()
        .partition(build::finalizer::is_policy_object);
    for obj in shared {
        res.api(&obj)
            .await?
            .patch(&obj.name, &pp, &Patch::Apply(&obj.manifest))
            .await?;
    }

    Meter::settle().await;
    let (c0, t0) = (plane_seconds(cp), Instant::now());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = (plane_seconds(cp) - c0) / t0.elapsed().as_secs_f64();
    let mut m = Meter {
        cp,
        idle,
        rows: Vec::new(),
    };

    let sample = build::tenant_objects(&tenant_named(template, "c-0", BENCH_NS), &ctx)?;
    let not_served = res.not_served(&sample).await;
    let served = |o: &tenant_core::Object| !not_served.contains(&o.kind);
    let objects_per_tenant = sample.iter().filter(|o| served(o)).count();
    m.measure(
        &format!("the {objects_per_tenant} objects of one tenant, bare client (admin)"),
        n,
        |i| {
            let (res, pp, ctx, served) = (&res, &pp, &ctx, &served);
            let t = tenant_named(template, &format!("costs-bare-{i}"), BENCH_NS);
            async move {
                let mut objects = build::tenant_objects(&t, ctx)?;
                objects.retain(|o| served(o));
                for obj in &mut objects {
                    disown(obj);
                    res.api(obj)
                        .await?
                        .patch(&obj.name, pp, &Patch::Apply(&obj.manifest))
                        .await?;
                }
                Ok(())
            }
        },
    )
    .await?;

    let tenants: Api<Tenant> = Api::namespaced(admin.clone(), BENCH_NS);
    let as_operator: Api<Tenant> = Api::namespaced(operator.clone(), BENCH_NS);
    let name = |i: usize| format!("costs-{i}");
    m.measure("Tenant create (the user)", n, |i| {
        let (tenants, t) = (tenants.clone(), tenant_named(template, &name(i), BENCH_NS));
        async move {
            tenants.create(&PostParams::default(), &t).await?;
            Ok(())
        }
    })
    .await?;
    m.measure(
        "Tenant finalizer (merge patch; clusters without the policy)",
        n,
        |i| {
            let (api, name) = (as_operator.clone(), name(i));
            async move {
                let patch = json!({"metadata": {"finalizers": [labels::FINALIZER]}});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                Ok(())
            }
        },
    )
    .await?;
    let live = tenants.get(&name(0)).await?;
    let ns = tenant_core::naming::namespace_name(&live.spec);
    let initializing = Outcome::Initializing {
        namespace: ns.clone(),
    };
    let applied = |quota: Value| {
        let objects = build::tenant_objects(&live, &ctx).unwrap_or_default();
        let mut kinds = std::collections::BTreeMap::new();
        let mut skipped = std::collections::BTreeMap::new();
        for o in &objects {
            let count = if served(o) { &mut kinds } else { &mut skipped };
            *count.entry(o.kind.clone()).or_insert(0usize) += 1;
        }
        Outcome::Applied(Box::new(Progress {
            namespace: ns.clone(),
            namespace_phase: Some("Active".into()),
            namespace_uid: None,
            kinds,
            skipped,
            denied: Default::default(),
            quota: Some(quota),
            active: true,
            budget_hibernated: false,
            shared_policies: true,
            services: Vec::new(),
            deployed_at: None,
            pending_rollout: None,
            asleep_until: None,
            data: Vec::new(),
            backup: None,
            scheduled_restore: None,
        }))
    };
    let hard = json!({"limits.cpu": "2", "limits.memory": "4Gi", "requests.storage": "20Gi", "services.nodeports": "0"});
    for (what, outcome) in [
        (
            "Tenant status apply: Initialization (only where the CRD lacks its status default)",
            initializing,
        ),
        (
            "Tenant status apply: Provisioning",
            applied(json!({"spec": {"hard": hard}})),
        ),
        (
            "Tenant status apply: Running",
            applied(json!({"spec": {"hard": hard}, "status": {"hard": hard, "used": {}}})),
        ),
    ] {
        m.measure(what, n, |i| {
            let (api, name) = (as_operator.clone(), name(i));
            let patch = status_patch(&live, &outcome);
            async move {
                api.patch_status(
                    &name,
                    &PatchParams::apply(labels::FIELD_MANAGER).force(),
                    &Patch::Apply(&patch),
                )
                .await?;
                Ok(())
            }
        })
        .await?;
    }
    let events: Api<DynamicObject> = Api::namespaced_with(
        operator.clone(),
        BENCH_NS,
        &kube::api::ApiResource::erase::<k8s_openapi::api::events::v1::Event>(&()),
    );
    m.measure("Event create (operator)", n, |i| {
        let (events, name) = (events.clone(), name(i));
        async move {
            let ev: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"generateName": "costs-"},
                "eventTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(k8s_openapi::jiff::Timestamp::now()),
                "reportingController": labels::MANAGER, "reportingInstance": "bench",
                "action": "Apply", "reason": "Created", "type": "Normal",
                "note": "created Namespace, TenantPolicy, ResourceQuota, LimitRange, 5 NetworkPolicies",
                "regarding": {"apiVersion": Tenant::api_version(&()), "kind": "Tenant", "namespace": BENCH_NS, "name": name},
            }))?;
            events.create(&PostParams::default(), &ev).await?;
            Ok(())
        }
    })
    .await?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(operator);
    m.measure("Namespace GET (operator; the claim check)", n, |i| {
        let (api, name) = (namespaces.clone(), format!("tenant-absent-{i}"));
        async move {
            api.get_opt(&name).await?;
            Ok(())
        }
    })
    .await?;

    for obj in &finalizer_policy {
        res.api(obj)
            .await?
            .patch(&obj.name, &pp, &Patch::Apply(&obj.manifest))
            .await?;
    }
    m.measure(
        "Tenant create, finalizer added by the MutatingAdmissionPolicy",
        n,
        |i| {
            let t = tenant_named(template, &format!("costs-map-{i}"), BENCH_NS);
            let tenants = tenants.clone();
            async move {
                let created = tenants.create(&PostParams::default(), &t).await?;
                if !created.finalizers().iter().any(|f| f == labels::FINALIZER) {
                    anyhow::bail!("the finalizer policy did not add {}", labels::FINALIZER);
                }
                Ok(())
            }
        },
    )
    .await?;

    println!("## tenant-bench --request-costs {n}\n");
    println!(
        "API server + etcd CPU per request on an idle local control plane (idle rate {:.0} ms/s subtracted), {n} requests each, one at a time.\n",
        idle * 1000.0
    );
    println!("| request | CPU per request | wall per request |");
    println!("|---|---|---|");
    for (what, cpu, wall) in &m.rows {
        println!("| {what} | {cpu:.1} ms | {wall:.1} ms |");
    }
    Ok(())
}
