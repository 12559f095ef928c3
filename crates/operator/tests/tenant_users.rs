//! What a tenant admin can and cannot do in the namespace the operator made, acting as token
//! users of the local control plane: alice (group team-a) and bob (group team-b).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tenant_api::{IsolationLevel, IsolationSpec, RbacSpec, TenantPolicy, labels};
use testenv::poll_until;

fn pod(name: &str, image: &str, extra: Value) -> Pod {
    from_json(json!({"metadata": {"name": name}, "spec": pod_spec(image, extra)}))
}

/// A pod spec that passes Pod Security "restricted" and the strict admission rules.
fn pod_spec(image: &str, extra: Value) -> Value {
    let mut spec = json!({
        "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "app",
            "image": image,
            "imagePullPolicy": "Always",
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "appArmorProfile": {"type": "RuntimeDefault"}
            },
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
        }]
    });
    merge(&mut spec, extra);
    spec
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_tenant_admin_can_deploy_but_not_escape() -> Result<()> {
    let h = Harness::new("op-users").await?;
    let op = h.start_operator().await?;
    let (_, alice_ns) =
        running_tenant(&h, "alice", |t| t.spec.owner = Some("alice".into())).await?;
    let (_, bob_ns) = running_tenant(&h, "bob", |t| {
        t.spec.rbac = Some(RbacSpec {
            admin_groups: Some(vec!["team-b".into()]),
            ..Default::default()
        })
    })
    .await?;
    let alice: Client = h.cp.client_as("alice").await?;
    wait_allowed(&alice, "create", "apps", "deployments", Some(&alice_ns)).await?;

    // Deploys a workload in its namespace; kwok runs the pod.
    let deployments: Api<Deployment> = Api::namespaced(alice.clone(), &alice_ns);
    let d: Deployment = from_json(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec("registry.k8s.io/pause:3.10", json!({}))}
        }
    }));
    deployments
        .create(&PostParams::default(), &d)
        .await
        .context("alice creates a Deployment")?;
    poll_until("alice's Deployment available", TIMEOUT, || {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("web").await.map_err(|e| e.to_string())?;
            let available = d
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0);
            if available >= 1 {
                Ok(())
            } else {
                Err(format!("status {:?}", d.status))
            }
        }
    })
    .await?;

    // Cannot read or write another tenant's namespace.
    let bob_pods: Api<Pod> = Api::namespaced(alice.clone(), &bob_ns);
    refused(
        "alice lists pods in bob's namespace",
        bob_pods.list(&Default::default()).await,
    )?;
    refused(
        "alice creates a pod in bob's namespace",
        bob_pods
            .create(
                &PostParams::default(),
                &pod("intruder", "registry.k8s.io/pause:3.10", json!({})),
            )
            .await,
    )?;

    // Cannot edit or delete the guardrails.
    let merge_patch = |v: Value| Patch::Merge(v);
    let rq: Api<ResourceQuota> = Api::namespaced(alice.clone(), &alice_ns);
    let qname = Api::<ResourceQuota>::namespaced(h.admin.clone(), &alice_ns)
        .list(&Default::default())
        .await?
        .items[0]
        .name_any();
    refused(
        "alice raises the quota",
        rq.patch(
            &qname,
            &PatchParams::default(),
            &merge_patch(json!({"spec": {"hard": {"pods": "100000"}}})),
        )
        .await,
    )?;
    refused(
        "alice deletes the quota",
        rq.delete(&qname, &DeleteParams::default()).await,
    )?;
    let lr: Api<LimitRange> = Api::namespaced(alice.clone(), &alice_ns);
    for l in Api::<LimitRange>::namespaced(h.admin.clone(), &alice_ns)
        .list(&Default::default())
        .await?
    {
        refused(
            "alice deletes the limit range",
            lr.delete(&l.name_any(), &DeleteParams::default()).await,
        )?;
    }
    let own_lr: LimitRange = from_json(
        json!({"metadata": {"name": "mine"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "64"}}]}}),
    );
    refused(
        "alice adds a limit range of her own",
        lr.create(&PostParams::default(), &own_lr).await,
    )?;
    let np: Api<NetworkPolicy> = Api::namespaced(alice.clone(), &alice_ns);
    for p in Api::<NetworkPolicy>::namespaced(h.admin.clone(), &alice_ns)
        .list(&Default::default())
        .await?
    {
        refused(
            "alice deletes a network policy",
            np.delete(&p.name_any(), &DeleteParams::default()).await,
        )?;
    }
    let allow_all: NetworkPolicy = from_json(
        json!({"metadata": {"name": "allow-all"}, "spec": {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}}),
    );
    refused(
        "alice adds an allow-all network policy",
        np.create(&PostParams::default(), &allow_all).await,
    )?;
    let tp: Api<TenantPolicy> = Api::namespaced(alice.clone(), &alice_ns);
    refused(
        "alice edits the TenantPolicy",
        tp.patch(
            "tenant-policy",
            &PatchParams::default(),
            &merge_patch(json!({"spec": {"allowHostPath": true}})),
        )
        .await,
    )?;
    refused(
        "alice deletes the TenantPolicy",
        tp.delete("tenant-policy", &DeleteParams::default()).await,
    )?;
    let nsapi: Api<Namespace> = Api::all(alice.clone());
    refused(
        "alice relabels her namespace",
        nsapi
            .patch(&alice_ns, &PatchParams::default(), &merge_patch(json!({"metadata": {"labels": {labels::TENANT_ID: "other", labels::PSA_ENFORCE: "privileged"}}})))
            .await,
    )?;
    refused(
        "alice deletes her namespace",
        nsapi.delete(&alice_ns, &DeleteParams::default()).await,
    )?;

    // Cannot bind itself to a cluster role it was not given, nor grant itself more than it has.
    let rbs: Api<RoleBinding> = Api::namespaced(alice.clone(), &alice_ns);
    for cr in ["cluster-admin", "admin", "edit"] {
        let rb: RoleBinding = from_json(json!({
            "metadata": {"name": format!("me-{cr}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cr},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]
        }));
        let msg = refused(
            &format!("alice binds herself to ClusterRole {cr}"),
            rbs.create(&PostParams::default(), &rb).await,
        )?;
        eprintln!("bind {cr}: {msg}");
    }
    let roles: Api<Role> = Api::namespaced(alice.clone(), &alice_ns);
    let greedy: Role = from_json(json!({
        "metadata": {"name": "greedy"},
        "rules": [{"apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["update", "delete"]}]
    }));
    refused(
        "alice creates a Role writing quotas",
        roles.create(&PostParams::default(), &greedy).await,
    )?;
    // bob (via group team-b) can work in his namespace but not in alice's.
    let bob = h.cp.client_as("bob").await?;
    Api::<Pod>::namespaced(bob.clone(), &bob_ns)
        .list(&Default::default())
        .await
        .context("bob lists his pods")?;
    refused(
        "bob lists alice's pods",
        Api::<Pod>::namespaced(bob, &alice_ns)
            .list(&Default::default())
            .await,
    )?;

    // The tenant roles are shared ClusterRoles: alice cannot change them for everyone.
    let cluster_roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(alice.clone());
    refused(
        "alice edits the shared ClusterRole tenant-admin",
        cluster_roles
            .patch(
                "tenant-admin",
                &PatchParams::default(),
                &merge_patch(json!({"rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]})),
            )
            .await,
    )?;

    // Positive control: binding a teammate to the tenant-viewer ClusterRole in her namespace is
    // fine (the tenant roles are meant to be bound by tenant admins), and grants nothing beyond
    // that namespace.
    let ok: RoleBinding = from_json(json!({
        "metadata": {"name": "teammate-viewer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tenant-viewer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "eve"}]
    }));
    rbs.create(&PostParams::default(), &ok)
        .await
        .context("alice binds eve to tenant-viewer")?;
    let eve = h.cp.client_as("eve").await?;
    poll_until("eve can read alice's pods", TIMEOUT, || {
        let pods: Api<Pod> = Api::namespaced(eve.clone(), &alice_ns);
        async move {
            pods.list(&Default::default())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    refused(
        "eve, a viewer in alice's namespace, lists bob's pods",
        Api::<Pod>::namespaced(eve.clone(), &bob_ns)
            .list(&Default::default())
            .await,
    )?;
    refused(
        "eve, a viewer, reads alice's secrets",
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(eve, &alice_ns)
            .list(&Default::default())
            .await,
    )?;

    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn strict_isolation_rejects_privileged_hostpath_foreign_images_and_nodeports() -> Result<()> {
    let h = Harness::new("op-strict").await?;
    let op = h.start_operator().await?;
    let (_, ns) = running_tenant(&h, "strict", |t| {
        t.spec.rbac = Some(RbacSpec {
            admin_groups: Some(vec!["team-a".into()]),
            ..Default::default()
        });
        t.spec.isolation = Some(IsolationSpec {
            isolation_level: Some(IsolationLevel::Strict),
            allowed_registries: Some(vec!["registry.example.com".into()]),
            ..Default::default()
        });
    })
    .await?;
    // alice is in team-a, the Tenant's admin group: her refusals below must be the admission
    // rules', so wait until RBAC lets her create pods at all.
    let alice = h.cp.client_as("alice").await?;
    wait_allowed(&alice, "create", "", "pods", Some(&ns)).await?;
    let pods: Api<Pod> = Api::namespaced(alice.clone(), &ns);
    let good = "registry.example.com/app:1";

    // Positive control: a compliant pod from the allowed registry is admitted (server dry run).
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    pods.create(&dry, &pod("ok", good, json!({})))
        .await
        .context("a compliant pod must be admitted")?;

    let privileged = pod(
        "privileged",
        good,
        json!({"containers": [{"name": "app", "image": good, "imagePullPolicy": "Always",
        "securityContext": {"privileged": true, "appArmorProfile": {"type": "RuntimeDefault"}}}]}),
    );
    let m = refused(
        "privileged pod",
        pods.create(&PostParams::default(), &privileged).await,
    )?;
    eprintln!("privileged: {m}");
    let host_path = pod(
        "hostpath",
        good,
        json!({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
    );
    let m = refused(
        "hostPath pod",
        pods.create(&PostParams::default(), &host_path).await,
    )?;
    eprintln!("hostPath: {m}");
    let foreign = pod("foreign", "docker.io/library/nginx:1.27", json!({}));
    let m = refused(
        "image from a registry not allowed",
        pods.create(&PostParams::default(), &foreign).await,
    )?;
    ensure!(
        m.to_lowercase().contains("registr"),
        "the refusal should name the registry rule: {m}"
    );
    // `kubectl debug` adds an ephemeral container through the pods/ephemeralcontainers
    // subresource: its image is checked too. The tenant roles do not grant the subresource, so a
    // cluster admin grants it to carol here (system:masters itself is exempt, as break-glass).
    pods.create(&PostParams::default(), &pod("debuggee", good, json!({})))
        .await
        .context("a compliant pod")?;
    let debugger: Role = from_json(json!({
        "metadata": {"name": "debugger"},
        "rules": [{"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["get", "patch", "update"]}]
    }));
    Api::<Role>::namespaced(h.admin.clone(), &ns)
        .create(&PostParams::default(), &debugger)
        .await?;
    let binding: RoleBinding = from_json(json!({
        "metadata": {"name": "carol-debugger"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "debugger"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}]
    }));
    Api::<RoleBinding>::namespaced(h.admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await?;
    let carol = h.cp.client_as("carol").await?;
    wait_allowed(&carol, "patch", "", "pods/ephemeralcontainers", Some(&ns)).await?;
    let carol_pods: Api<Pod> = Api::namespaced(carol, &ns);
    let debug = |image: &str| {
        Patch::Strategic(json!({"spec": {"ephemeralContainers": [{
            "name": format!("debug-{}", image.len()), "image": image, "imagePullPolicy": "Always",
            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"},
                "appArmorProfile": {"type": "RuntimeDefault"}}
        }]}}))
    };
    let m = refused(
        "ephemeral container from a registry not allowed",
        carol_pods
            .patch_ephemeral_containers(
                "debuggee",
                &PatchParams::default(),
                &debug("docker.io/library/busybox:1.37"),
            )
            .await,
    )?;
    ensure!(
        m.contains("debug-30") && m.to_lowercase().contains("registr"),
        "the refusal should name the container and the registry rule: {m}"
    );
    carol_pods
        .patch_ephemeral_containers(
            "debuggee",
            &PatchParams::default(),
            &debug("registry.example.com/debug:1"),
        )
        .await
        .context("an ephemeral container from the allowed registry")?;
    let svc: Service = from_json(
        json!({"metadata": {"name": "np"}, "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]}}),
    );
    let m = refused(
        "NodePort service",
        Api::<Service>::namespaced(alice, &ns)
            .create(&PostParams::default(), &svc)
            .await,
    )?;
    eprintln!("NodePort: {m}");
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn cross_tenant_read_access_only_when_granted() -> Result<()> {
    let h = Harness::new("op-cross").await?;
    let op = h.start_operator().await?;
    let (a, _) = running_tenant(&h, "team-a", |t| {
        t.spec.rbac = Some(RbacSpec {
            admin_groups: Some(vec!["team-a".into()]),
            ..Default::default()
        })
    })
    .await?;
    let a_id = a.spec.tenant_id.clone();
    let (b, b_ns) = running_tenant(&h, "team-c", |t| {
        t.spec.rbac = Some(RbacSpec {
            admin_groups: Some(vec!["team-c".into()]),
            allow_cross_tenant_access: Some(true),
            allowed_tenants: Some(vec![a_id.clone()]),
            ..Default::default()
        })
    })
    .await?;
    let alice = h.cp.client_as("alice").await?;
    let pods: Api<Pod> = Api::namespaced(alice.clone(), &b_ns);
    // Polls until alice's list of pods in team-c's namespace is allowed (or forbidden).
    let access = |what: &'static str, allowed: bool| {
        let pods = pods.clone();
        poll_until(what, TIMEOUT, move || {
            let pods = pods.clone();
            async move {
                match pods.list(&Default::default()).await {
                    Ok(_) if allowed => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 403 && !allowed => Ok(()),
                    other => Err(format!("{:?}", other.map(|l| l.items.len()))),
                }
            }
        })
    };
    access("alice (team-a) may read team-c's namespace", true).await?;
    refused(
        "alice writes in team-c's namespace",
        pods.create(
            &PostParams::default(),
            &pod("w", "registry.k8s.io/pause:3.10", json!({})),
        )
        .await,
    )?;
    let patch = |name: String, spec: serde_json::Value| {
        let tenants = h.tenants();
        async move {
            tenants
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "spec": spec })),
                )
                .await
        }
    };
    // The grant follows the granted Tenant: when team-a's admin group changes, team-c's binding
    // is re-rendered (team-c itself did not change) and alice's group loses the access.
    patch(
        a.name_any(),
        json!({"rbac": {"adminGroups": ["team-a-renamed"]}}),
    )
    .await?;
    access("access follows team-a's admin groups", false).await?;
    patch(a.name_any(), json!({"rbac": {"adminGroups": ["team-a"]}})).await?;
    access("access back with team-a's group", true).await?;
    // Revoking the grant removes the binding (pruned) and the access.
    patch(
        b.name_any(),
        json!({"rbac": {"allowCrossTenantAccess": false}}),
    )
    .await?;
    access("access revoked", false).await?;
    h.teardown().await?;
    op.stop().await
}
