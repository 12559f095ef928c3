//! Network escapes (issue 11, items 4 and 7), as tenant users by token: `allowFromPods` no
//! longer admits labelled pods of every namespace, and DNS egress goes to the cluster DNS only.
//!
//! The local control plane has no network dataplane (no CNI, kwok pods), so these tests assert
//! on what the API server stores: the peers of the NetworkPolicies the operator applied, matched
//! against the labels the namespaces really carry, and that tenant users can neither change the
//! policies nor relabel namespaces into (or out of) their peers.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tenant_api::{IsolationSpec, NetworkPolicySpec, Phase, PodsInNamespaces, labels};

const FROM_PODS: &str = "tenant-allow-from-pods";
const DNS: &str = "tenant-allow-dns";
const PROMETHEUS: (&str, &str) = ("app.kubernetes.io/name", "prometheus");

/// A policy's spec as JSON, read as the admin.
async fn policy(h: &Harness, ns: &str, name: &str) -> Result<Value> {
    let p = Api::<NetworkPolicy>::namespaced(h.admin.clone(), ns)
        .get(name)
        .await
        .with_context(|| format!("NetworkPolicy {ns}/{name}"))?;
    Ok(serde_json::to_value(p.spec)?)
}

/// Whether a LabelSelector (as JSON) selects an object with `labels`; `{}` selects everything.
fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let by_label = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let by_expression = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let value = e["key"].as_str().and_then(|k| labels.get(k));
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str() {
                Some("In") => value.is_some_and(|v| values.contains(&v.as_str())),
                Some("NotIn") => value.is_none_or(|v| !values.contains(&v.as_str())),
                Some("Exists") => value.is_some(),
                Some("DoesNotExist") => value.is_none(),
                other => panic!("unknown selector operator {other:?}"),
            }
        });
    by_label && by_expression
}

/// Whether an ingress peer admits a pod with `pod_labels` in a namespace with `ns_labels`
/// (for a NetworkPolicy in the namespace `own`, whose name label `ns_labels` may lack).
fn peer_admits(
    peer: &Value,
    own: &str,
    ns_labels: &BTreeMap<String, String>,
    pod_labels: &BTreeMap<String, String>,
) -> bool {
    let namespace_ok = match peer.get("namespaceSelector") {
        Some(sel) => selects(sel, ns_labels),
        // no namespaceSelector: the policy's own namespace only
        None => ns_labels.get(labels::NAMESPACE_NAME).map(String::as_str) == Some(own),
    };
    let pod_ok = peer
        .get("podSelector")
        .is_none_or(|sel| selects(sel, pod_labels));
    peer.get("ipBlock").is_none() && namespace_ok && pod_ok
}

/// Every ingress peer of a policy spec.
fn ingress_peers(spec: &Value) -> Vec<Value> {
    spec["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["from"].as_array().cloned().unwrap_or_default())
        .collect()
}

async fn namespace_labels(client: &Client, name: &str) -> Result<BTreeMap<String, String>> {
    let ns = Api::<Namespace>::all(client.clone()).get(name).await?;
    Ok(ns.metadata.labels.unwrap_or_default())
}

fn prometheus_labels() -> BTreeMap<String, String> {
    BTreeMap::from([(PROMETHEUS.0.to_string(), PROMETHEUS.1.to_string())])
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn pod_selectors_admit_only_the_namespaces_they_name() -> Result<()> {
    let h = Harness::new("op-net-pods").await?;
    let op = h.start_operator().await?;
    // The platform's monitoring namespace (no tenant's), named for allowFromPodsInNamespaces.
    let monitoring = testenv::unique_name("monitoring");
    let mon: Namespace = serde_json::from_value(json!({"metadata": {"name": monitoring}}))?;
    Api::<Namespace>::all(h.admin.clone())
        .create(&PostParams::default(), &mon)
        .await?;

    let (alice_t, alice_ns) = running_tenant(&h, "alice", |t| {
        t.spec.owner = Some("alice".into());
        t.spec.network_policy = Some(NetworkPolicySpec {
            // only the listed pods, so the same-tenant rule does not hide what allowFromPods admits
            allow_from_same_tenant: Some(false),
            allow_from_pods: Some(vec![prometheus_labels()]),
            allow_from_pods_in_namespaces: Some(vec![PodsInNamespaces {
                namespaces: vec![monitoring.clone()],
                pod_labels: prometheus_labels(),
            }]),
            ..Default::default()
        });
    })
    .await?;
    let (bob_t, bob_ns) = running_tenant(&h, "bob", |t| t.spec.owner = Some("bob".into())).await?;
    let alice_id = alice_t.spec.tenant_id.clone();
    let alice = h.cp.client_as("alice").await?;
    let bob = h.cp.client_as("bob").await?;

    // What the operator applied: no pod selector without a namespace scope.
    let spec = policy(&h, &alice_ns, FROM_PODS).await?;
    let peers = ingress_peers(&spec);
    ensure!(peers.len() == 2, "two peers expected: {spec}");
    for peer in &peers {
        let ns_sel = &peer["namespaceSelector"];
        ensure!(
            ns_sel.get("matchLabels").is_some() || ns_sel.get("matchExpressions").is_some(),
            "a pod selector paired with every namespace: {peer}"
        );
    }
    ensure!(
        peers[0]["namespaceSelector"]["matchLabels"]
            == json!({labels::TENANT_ID: alice_id, labels::TENANT_NAMESPACE: "true"}),
        "allowFromPods is scoped to alice's namespaces: {}",
        peers[0]
    );
    ensure!(
        peers[1]["namespaceSelector"]["matchExpressions"]
            == json!([{"key": labels::NAMESPACE_NAME, "operator": "In", "values": [monitoring]}]),
        "allowFromPodsInNamespaces is scoped to the named namespace: {}",
        peers[1]
    );

    // bob may label his own pods like Prometheus (positive control: the labels are his to set)...
    let bob_pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "fake-prometheus", "labels": {PROMETHEUS.0: PROMETHEUS.1}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
            "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true,
                "runAsUser": 1000, "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"}},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                          "limits": {"cpu": "10m", "memory": "16Mi"}}}]}
    }))?;
    Api::<Pod>::namespaced(bob.clone(), &bob_ns)
        .create(&PostParams::default(), &bob_pod)
        .await
        .context("bob creates a pod labelled like Prometheus in his namespace")?;
    // ...but no peer admits a pod of his namespace, whatever its labels; the monitoring
    // namespace's Prometheus and alice's own labelled pods are admitted.
    let admits = |ns_labels: &BTreeMap<String, String>| {
        peers
            .iter()
            .any(|p| peer_admits(p, &alice_ns, ns_labels, &prometheus_labels()))
    };
    let bob_labels = namespace_labels(&h.admin, &bob_ns).await?;
    ensure!(
        !admits(&bob_labels),
        "bob's labelled pods are admitted into alice's namespace: {spec}, bob's namespace {bob_labels:?}"
    );
    let mon_labels = namespace_labels(&h.admin, &monitoring).await?;
    ensure!(
        admits(&mon_labels),
        "the monitoring namespace's Prometheus is not admitted: {spec}, {mon_labels:?}"
    );
    let alice_labels = namespace_labels(&h.admin, &alice_ns).await?;
    ensure!(
        admits(&alice_labels),
        "alice's own labelled pods are not admitted: {spec}, {alice_labels:?}"
    );

    // alice cannot widen the rule, replace it, or add her own.
    let np: Api<NetworkPolicy> = Api::namespaced(alice.clone(), &alice_ns);
    let widened = json!({"spec": {"ingress": [{"from": [{"namespaceSelector": {},
        "podSelector": {"matchLabels": {PROMETHEUS.0: PROMETHEUS.1}}}]}]}});
    refused(
        "alice widens tenant-allow-from-pods to every namespace",
        np.patch(
            FROM_PODS,
            &PatchParams::default(),
            &Patch::Merge(widened.clone()),
        )
        .await,
    )?;
    refused(
        "alice deletes tenant-allow-from-pods",
        np.delete(FROM_PODS, &DeleteParams::default()).await,
    )?;
    let own: NetworkPolicy = serde_json::from_value(json!({
        "metadata": {"name": "from-any-prometheus"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": widened["spec"]["ingress"]}
    }))?;
    refused(
        "alice adds a policy admitting labelled pods of every namespace",
        np.create(&PostParams::default(), &own).await,
    )?;

    // Nobody relabels a namespace into or out of a tenant's peers: alice not her own...
    let namespaces_as = |c: &Client| Api::<Namespace>::all(c.clone());
    let relabel = |id: &str| Patch::Merge(json!({"metadata": {"labels": {labels::TENANT_ID: id}}}));
    refused(
        "alice relabels her namespace's tenant-id",
        namespaces_as(&alice)
            .patch(
                &alice_ns,
                &PatchParams::default(),
                &relabel(&bob_t.spec.tenant_id),
            )
            .await,
    )?;
    refused(
        "alice drops her namespace's tenant-namespace label",
        namespaces_as(&alice)
            .patch(
                &alice_ns,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {labels::TENANT_NAMESPACE: null}}})),
            )
            .await,
    )?;
    // ...nor bob his into alice's tenant.
    refused(
        "bob relabels his namespace into alice's tenant",
        namespaces_as(&bob)
            .patch(&bob_ns, &PatchParams::default(), &relabel(&alice_id))
            .await,
    )?;
    // The namespace policy holds even for a principal whom RBAC lets patch namespaces: carol,
    // a cluster-wide namespace patcher (not exempt), cannot label the monitoring namespace, or
    // bob's, into alice's tenant either.
    grant_namespace_patch(&h, "carol").await?;
    let patcher = h.cp.client_as("carol").await?;
    for ns in [&bob_ns, &monitoring] {
        let m = refused(
            &format!("carol, a namespace patcher, labels {ns} into alice's tenant"),
            namespaces_as(&patcher)
                .patch(
                    ns,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": {
                    labels::TENANT_ID: alice_id, labels::TENANT_NAMESPACE: "true"}}})),
                )
                .await,
        )?;
        eprintln!("carol on {ns}: {m}");
    }

    // Nothing changed: the stored policy, the namespaces' labels, and the operator is healthy.
    ensure!(
        policy(&h, &alice_ns, FROM_PODS).await? == spec,
        "tenant-allow-from-pods changed"
    );
    ensure!(namespace_labels(&h.admin, &alice_ns).await? == alice_labels);
    ensure!(namespace_labels(&h.admin, &bob_ns).await? == bob_labels);
    ensure!(namespace_labels(&h.admin, &monitoring).await? == mon_labels);
    h.wait_phase(&alice_t.name_any(), Phase::Running).await?;
    op.wait_ready().await?;

    h.teardown().await?;
    let _ = Api::<Namespace>::all(h.admin.clone())
        .delete(&monitoring, &DeleteParams::default())
        .await;
    op.stop().await
}

/// A ClusterRole and binding that let `user` get and patch every namespace.
async fn grant_namespace_patch(h: &Harness, user: &str) -> Result<()> {
    let name = testenv::unique_name("ns-patch");
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "patch"]}]
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    });
    apply_value(&h.admin, &role).await?;
    apply_value(&h.admin, &binding).await?;
    let client = h.cp.client_as(user).await?;
    testenv::poll_until("the namespace grant is in force", TIMEOUT, || {
        let api = Api::<Namespace>::all(client.clone());
        let ns = h.ns.clone();
        async move { api.get(&ns).await.map(|_| ()).map_err(|e| e.to_string()) }
    })
    .await?;
    Ok(())
}

fn cluster_dns() -> Value {
    json!([{"namespaceSelector": {"matchLabels": {labels::NAMESPACE_NAME: "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}])
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn dns_egress_goes_to_the_cluster_dns_only() -> Result<()> {
    let h = Harness::new("op-net-dns").await?;
    let op = h.start_operator().await?;
    // A standard Tenant (the default level), and one that opens DNS explicitly.
    let (standard, ns) = running_tenant(&h, "dns", |t| t.spec.owner = Some("alice".into())).await?;
    ensure!(
        standard.status.as_ref().and_then(|s| s.isolation_level)
            == Some(tenant_api::IsolationLevel::Standard),
        "expected a standard tenant"
    );
    let (_, open_ns) = running_tenant(&h, "dns-open", |t| {
        t.spec.isolation = Some(IsolationSpec {
            dns_isolation: Some(false),
            ..Default::default()
        })
    })
    .await?;

    let spec = policy(&h, &ns, DNS).await?;
    ensure!(
        spec["egress"].as_array().map(Vec::len) == Some(1),
        "one DNS egress rule: {spec}"
    );
    ensure!(
        spec["egress"][0]["to"] == cluster_dns(),
        "DNS egress of a standard tenant goes to the cluster DNS only: {spec}"
    );
    ensure!(
        spec["egress"][0]["ports"]
            == json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]),
        "{spec}"
    );
    let kube_system = namespace_labels(&h.admin, "kube-system").await?;
    ensure!(
        selects(
            &spec["egress"][0]["to"][0]["namespaceSelector"],
            &kube_system
        ),
        "kube-system's labels {kube_system:?} do not match the DNS peer"
    );
    // Only an explicit dnsIsolation: false opens port 53 to every destination.
    let open = policy(&h, &open_ns, DNS).await?;
    ensure!(
        open["egress"][0].get("to").is_none(),
        "dnsIsolation: false opens DNS: {open}"
    );

    // The tenant admin cannot open it herself.
    let alice = h.cp.client_as("alice").await?;
    let np: Api<NetworkPolicy> = Api::namespaced(alice.clone(), &ns);
    refused(
        "alice opens DNS to every destination",
        np.patch(
            DNS,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"egress": [{"ports": [{"protocol": "UDP", "port": 53}]}]}}),
            ),
        )
        .await,
    )?;
    let own: NetworkPolicy = serde_json::from_value(json!({
        "metadata": {"name": "dns-anywhere"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                 "egress": [{"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}
    }))?;
    refused(
        "alice adds her own DNS policy",
        np.create(&PostParams::default(), &own).await,
    )?;
    ensure!(
        policy(&h, &ns, DNS).await? == spec,
        "tenant-allow-dns changed"
    );
    h.wait_phase(&standard.name_any(), Phase::Running).await?;
    op.wait_ready().await?;

    h.teardown().await?;
    op.stop().await
}
