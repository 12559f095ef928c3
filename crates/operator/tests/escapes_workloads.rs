//! Escapes through workloads and Services, tried by a tenant admin (alice, by token) on the local
//! control plane: the cluster's critical priority classes (preempting other tenants), other
//! priority classes the tenant was not given, and node ports taken through a LoadBalancer where
//! the isolation level forbids NodePorts.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tenant_api::{IsolationLevel, IsolationSpec, Phase, Tenant};
use testenv::unique_name;

/// The platform's default PriorityClass every operator of this binary is told about, so that
/// the test that makes it the cluster's `globalDefault` does not change what the others see.
const PLATFORM_DEFAULT: &str = "escapes-platform-default";
const CRITICAL: [&str; 2] = ["system-node-critical", "system-cluster-critical"];

/// Asserts that the refusal message names every one of `needles`.
fn names(what: &str, message: &str, needles: &[&str]) -> Result<()> {
    for n in needles {
        ensure!(
            message.contains(n),
            "{what}: the refusal should name {n:?}: {message}"
        );
    }
    Ok(())
}

/// A running Tenant owned by alice at `level`, with `f` applied; returns its namespace.
async fn alices_tenant(
    h: &Harness,
    prefix: &str,
    level: IsolationLevel,
    f: impl FnOnce(&mut IsolationSpec),
) -> Result<String> {
    let mut t: Tenant = h.tenant(prefix);
    t.spec.owner = Some("alice".into());
    let mut isolation = IsolationSpec {
        isolation_level: Some(level),
        ..Default::default()
    };
    f(&mut isolation);
    t.spec.isolation = Some(isolation);
    h.create(&t).await?;
    let t = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let ns = status_namespace(&t)?;
    // alice acts next: her refusals must be the admission rules', not RBAC's lag.
    let alice = h.cp.client_as("alice").await?;
    wait_allowed(&alice, "create", "", "pods", Some(&ns)).await?;
    Ok(ns)
}

/// A restricted pod spec with small requests, naming `priority_class`.
fn pod_spec(priority_class: Option<&str>) -> Value {
    let mut spec = restricted_pod_spec(json!({
        "requests": {"cpu": "50m", "memory": "32Mi"},
        "limits": {"cpu": "50m", "memory": "32Mi"}
    }));
    if let Some(c) = priority_class {
        spec["priorityClassName"] = json!(c);
    }
    spec
}

fn pod(name: &str, priority_class: Option<&str>) -> Pod {
    from_json(json!({"metadata": {"name": name}, "spec": pod_spec(priority_class)}))
}

fn deployment(name: &str, priority_class: Option<&str>) -> Deployment {
    from_json(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(priority_class)}
        }
    }))
}

fn service(name: &str, kind: &str, extra: Value) -> Service {
    let mut spec = json!({"type": kind, "selector": {"app": name}, "ports": [{"port": 80}]});
    if let (Some(s), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        s.extend(extra);
    }
    from_json(json!({"metadata": {"name": name}, "spec": spec}))
}

/// Creates (or keeps) a PriorityClass as the cluster admin.
async fn priority_class(
    admin: &Client,
    name: &str,
    value: i32,
    global_default: bool,
) -> Result<()> {
    let pc: PriorityClass = from_json(json!({
        "metadata": {"name": name},
        "value": value,
        "globalDefault": global_default,
        "description": "escapes_workloads test"
    }));
    match Api::<PriorityClass>::all(admin.clone())
        .create(&PostParams::default(), &pc)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating PriorityClass {name}")),
    }
}

async fn operator(h: &Harness) -> Result<RunningOperator> {
    h.start_operator_with(|c| c.default_priority_class = PLATFORM_DEFAULT.into())
        .await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_tenant_admin_cannot_take_a_priority_class_it_was_not_given() -> Result<()> {
    let h = Harness::new("esc-prio").await?;
    let op = operator(&h).await?;
    let high = unique_name("tenant-high");
    priority_class(&h.admin, &high, 1000, false).await?;

    // The platform cannot list a critical class for a tenant either: the CRD refuses it.
    let mut t = h.tenant("crit");
    t.spec.isolation = Some(IsolationSpec {
        allowed_priority_classes: Some(vec!["system-node-critical".into()]),
        ..Default::default()
    });
    let m = refused(
        "a Tenant allowing system-node-critical",
        h.tenants().create(&PostParams::default(), &t).await,
    )?;
    names("the Tenant", &m, &["allowedPriorityClasses", "reserved"])?;

    let std_ns = alices_tenant(&h, "prio-std", IsolationLevel::Standard, |_| {}).await?;
    let strict_ns = alices_tenant(&h, "prio-strict", IsolationLevel::Strict, |i| {
        i.allowed_priority_classes = Some(vec![high.clone()])
    })
    .await?;
    let alice = h.cp.client_as("alice").await?;

    for ns in [&std_ns, &strict_ns] {
        let pods: Api<Pod> = Api::namespaced(alice.clone(), ns);
        let deployments: Api<Deployment> = Api::namespaced(alice.clone(), ns);
        for class in CRITICAL {
            let m = refused(
                &format!("a pod at {class} in {ns}"),
                pods.create(&PostParams::default(), &pod("critical", Some(class)))
                    .await,
            )?;
            names(
                "pod",
                &m,
                &[
                    &format!("spec.priorityClassName {class} is reserved"),
                    "isolation.allowedPriorityClasses",
                ],
            )?;
            let m = refused(
                &format!("a Deployment at {class} in {ns}"),
                deployments
                    .create(&PostParams::default(), &deployment("critical", Some(class)))
                    .await,
            )?;
            names(
                "Deployment",
                &m,
                &[&format!(
                    "spec.template.spec.priorityClassName {class} is reserved"
                )],
            )?;
        }
        // Positive control: no class is the cluster's default priority.
        pods.create(&PostParams::default(), &pod("plain", None))
            .await
            .with_context(|| format!("a pod without a priority class in {ns}"))?;
    }

    // The strict tenant was given the class: pods and templates may name it, and the pod gets
    // the class's priority.
    let strict_pods: Api<Pod> = Api::namespaced(alice.clone(), &strict_ns);
    let p = strict_pods
        .create(&PostParams::default(), &pod("high", Some(&high)))
        .await
        .context("a pod at the allowed class")?;
    ensure!(
        p.spec.as_ref().and_then(|s| s.priority) == Some(1000),
        "the pod should run at the class's priority: {:?}",
        p.spec.and_then(|s| s.priority)
    );
    Api::<Deployment>::namespaced(alice.clone(), &strict_ns)
        .create(&PostParams::default(), &deployment("high", Some(&high)))
        .await
        .context("a Deployment at the allowed class")?;
    // The standard tenant was not.
    let m = refused(
        "a pod at a class the standard tenant was not given",
        Api::<Pod>::namespaced(alice.clone(), &std_ns)
            .create(&PostParams::default(), &pod("high", Some(&high)))
            .await,
    )?;
    names(
        "pod",
        &m,
        &[
            &format!("spec.priorityClassName {high} is not allowed in this tenant"),
            &format!("the platform default {PLATFORM_DEFAULT} is allowed too"),
        ],
    )?;
    let m = refused(
        "a Deployment at a class the standard tenant was not given",
        Api::<Deployment>::namespaced(alice.clone(), &std_ns)
            .create(&PostParams::default(), &deployment("high", Some(&high)))
            .await,
    )?;
    names(
        "Deployment",
        &m,
        &[&format!(
            "spec.template.spec.priorityClassName {high} is not allowed"
        )],
    )?;

    h.teardown().await?;
    Api::<PriorityClass>::all(h.admin.clone())
        .delete(&high, &DeleteParams::default())
        .await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn the_platform_default_priority_class_is_every_tenants() -> Result<()> {
    // The cluster's globalDefault class is written into every pod that names no class. With the
    // operator told about it, tenants' pods get it; without, a pod created directly is refused
    // (with a message saying why) while workloads, whose templates name no class, still run.
    let told = Harness::new("esc-default").await?;
    let op_told = operator(&told).await?;
    let untold = Harness::new("esc-nodefault").await?;
    let op_untold = untold.start_operator().await?;
    let told_ns = alices_tenant(&told, "dflt", IsolationLevel::Standard, |_| {}).await?;
    let untold_ns = alices_tenant(&untold, "nodflt", IsolationLevel::Standard, |_| {}).await?;
    priority_class(&told.admin, PLATFORM_DEFAULT, 100, true).await?;
    let alice = told.cp.client_as("alice").await?;

    let p = Api::<Pod>::namespaced(alice.clone(), &told_ns)
        .create(&PostParams::default(), &pod("plain", None))
        .await
        .context("a pod without a class, the platform default named")?;
    ensure!(
        p.spec
            .as_ref()
            .and_then(|s| s.priority_class_name.as_deref())
            == Some(PLATFORM_DEFAULT),
        "the API server should have given the pod the global default: {:?}",
        p.spec.and_then(|s| s.priority_class_name)
    );
    let m = refused(
        "a pod without a class, the platform default not named",
        Api::<Pod>::namespaced(alice.clone(), &untold_ns)
            .create(&PostParams::default(), &pod("plain", None))
            .await,
    )?;
    names(
        "pod",
        &m,
        &[
            &format!("spec.priorityClassName {PLATFORM_DEFAULT} is not allowed"),
            "globalDefault",
            "--default-priority-class",
        ],
    )?;
    Api::<Deployment>::namespaced(alice.clone(), &untold_ns)
        .create(&PostParams::default(), &deployment("plain", None))
        .await
        .context("a Deployment without a class")?;

    let result = async {
        told.teardown().await?;
        untold.teardown().await
    }
    .await;
    Api::<PriorityClass>::all(told.admin.clone())
        .delete(PLATFORM_DEFAULT, &DeleteParams::default())
        .await?;
    result?;
    op_told.stop().await?;
    op_untold.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn load_balancers_take_no_node_ports_where_node_ports_are_forbidden() -> Result<()> {
    let h = Harness::new("esc-svc").await?;
    let op = operator(&h).await?;
    let std_ns = alices_tenant(&h, "svc-std", IsolationLevel::Standard, |_| {}).await?;
    let strict_ns = alices_tenant(&h, "svc-strict", IsolationLevel::Strict, |_| {}).await?;
    let alice = h.cp.client_as("alice").await?;
    let std_svcs: Api<Service> = Api::namespaced(alice.clone(), &std_ns);
    let strict_svcs: Api<Service> = Api::namespaced(alice.clone(), &strict_ns);
    let without_node_ports = json!({"allocateLoadBalancerNodePorts": false});

    // Standard: a load balancer without node ports passes the policy and the quota
    // (services.nodeports: 0), and holds no node port.
    let lb = std_svcs
        .create(
            &PostParams::default(),
            &service("lb", "LoadBalancer", without_node_ports.clone()),
        )
        .await
        .context("a LoadBalancer without node ports in the standard tenant")?;
    let taken: Vec<i32> = lb
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| p.node_port)
        .collect();
    ensure!(
        taken.is_empty(),
        "the load balancer took node ports {taken:?}"
    );
    // ...but a default one (node ports allocated) is refused by the policy, with the fix.
    let m = refused(
        "a default LoadBalancer in the standard tenant",
        std_svcs
            .create(
                &PostParams::default(),
                &service("lb-default", "LoadBalancer", json!({})),
            )
            .await,
    )?;
    names(
        "LoadBalancer",
        &m,
        &[
            "spec.allocateLoadBalancerNodePorts: false",
            "isolation.allowNodePorts",
        ],
    )?;
    let m = refused(
        "a LoadBalancer naming a node port in the standard tenant",
        std_svcs
            .create(
                &PostParams::default(),
                &service(
                    "lb-port",
                    "LoadBalancer",
                    json!({"allocateLoadBalancerNodePorts": false, "ports": [{"port": 80, "nodePort": 30999}]}),
                ),
            )
            .await,
    )?;
    names("LoadBalancer", &m, &["spec.ports[*].nodePort (30999)"])?;
    let m = refused(
        "a NodePort Service in the standard tenant",
        std_svcs
            .create(
                &PostParams::default(),
                &service("np", "NodePort", json!({})),
            )
            .await,
    )?;
    names("NodePort", &m, &["spec.type NodePort is not allowed"])?;
    // Turning the admitted load balancer into one with node ports is refused too.
    let m = refused(
        "re-enabling node ports on the load balancer",
        std_svcs
            .patch(
                "lb",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({"spec": {"allocateLoadBalancerNodePorts": true}})),
            )
            .await,
    )?;
    names(
        "LoadBalancer",
        &m,
        &["allocateLoadBalancerNodePorts: false"],
    )?;

    // Strict: neither.
    let m = refused(
        "a LoadBalancer in the strict tenant",
        strict_svcs
            .create(
                &PostParams::default(),
                &service("lb", "LoadBalancer", without_node_ports),
            )
            .await,
    )?;
    names(
        "LoadBalancer",
        &m,
        &["spec.type LoadBalancer is not allowed"],
    )?;
    let m = refused(
        "a NodePort Service in the strict tenant",
        strict_svcs
            .create(
                &PostParams::default(),
                &service("np", "NodePort", json!({})),
            )
            .await,
    )?;
    names("NodePort", &m, &["spec.type NodePort is not allowed"])?;

    h.teardown().await?;
    op.stop().await
}
