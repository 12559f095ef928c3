//! The confused deputy: a principal who may patch namespaces but not delete them must not be
//! able to make the operator delete a namespace for it by copying a Tenant's ownership marks
//! onto it. First the admission policies refuse the marks; then, with the policies bypassed (a
//! cluster admin, whom they exempt), the operator's own evidence (the namespace uid its status
//! recorded, the name its spec gives) still deletes only what the Tenant created, reports the
//! tampering, and keeps the rightful Tenant Ready.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tenant_api::{Phase, labels};
use testenv::{poll_until, unique_name};

/// Gives `user` (acting through `client`) the right to read and patch namespaces, and not to
/// delete them.
async fn namespace_patcher(admin: &Client, user: &str, client: &Client) -> Result<()> {
    let name = unique_name("ns-patcher");
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"],
                   "verbs": ["get", "list", "watch", "patch", "update"]}],
    }))?;
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await?;
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }))?;
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await?;
    // The API server's authorizer sees the binding through its own cache: wait until it does,
    // so a refusal below is the admission policies', not RBAC's.
    wait_allowed(client, "patch", "", "namespaces", None).await
}

fn marks(owner: &str, uid: &str) -> serde_json::Value {
    json!({labels::OWNER: owner, labels::OWNER_UID: uid})
}

async fn patch_ns(
    client: &Client,
    name: &str,
    patch: serde_json::Value,
) -> kube::Result<Namespace> {
    Api::<Namespace>::all(client.clone())
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn forged_ownership_marks_neither_pass_admission_nor_make_the_operator_delete() -> Result<()>
{
    let h = Harness::new("op-deputy").await?;
    let op = h.start_operator().await?;
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());

    let victim = h.tenant("victim");
    h.create(&victim).await?;
    let rightful = h.tenant("rightful");
    h.create(&rightful).await?;
    let victim = h.wait_phase(&victim.name_any(), Phase::Running).await?;
    let rightful = h.wait_phase(&rightful.name_any(), Phase::Running).await?;
    let victim_ns = status_namespace(&victim)?;
    let rightful_ns = status_namespace(&rightful)?;
    ensure!(
        victim
            .status
            .as_ref()
            .and_then(|s| s.namespace_uid.as_ref())
            == nsapi.get(&victim_ns).await?.metadata.uid.as_ref(),
        "the status records the namespace's uid"
    );
    let victim_owner = format!("Tenant/{}/{}", h.ns, victim.name_any());
    let victim_uid = victim.uid().context("uid")?;
    let bystander = unique_name("bystander");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": bystander}}))?;
    nsapi.create(&PostParams::default(), &ns).await?;

    // 1. As a namespace patcher: the marks are refused.
    let carol = h.cp.client_as("carol").await?;
    namespace_patcher(&h.admin, "carol", &carol).await?;
    let msg = refused(
        "labelling a namespace as the operator's",
        patch_ns(
            &carol,
            &bystander,
            json!({"metadata": {
                "labels": {labels::MANAGED_BY: labels::MANAGER},
                "annotations": marks(&victim_owner, &victim_uid),
            }}),
        )
        .await,
    )?;
    ensure!(msg.contains("app.kubernetes.io/managed-by"), "{msg}");
    let msg = refused(
        "copying the victim's marks onto another tenant's namespace",
        patch_ns(
            &carol,
            &rightful_ns,
            json!({"metadata": {"annotations": marks(&victim_owner, &victim_uid)}}),
        )
        .await,
    )?;
    ensure!(msg.contains("record which Tenant owns it"), "{msg}");

    // 2. The policies bypassed (a cluster admin is exempt): the same marks, forged.
    patch_ns(
        &h.admin,
        &bystander,
        json!({"metadata": {
            "labels": {labels::MANAGED_BY: labels::MANAGER},
            "annotations": marks(&victim_owner, &victim_uid),
        }}),
    )
    .await?;
    patch_ns(
        &h.admin,
        &rightful_ns,
        json!({"metadata": {"annotations": marks(&victim_owner, &victim_uid)}}),
    )
    .await?;

    // The rightful Tenant keeps its namespace: its status recorded the uid, the operator puts
    // its marks back, and it stays Ready.
    let rightful_owner = format!("Tenant/{}/{}", h.ns, rightful.name_any());
    poll_until("the rightful namespace's marks restored", TIMEOUT, || {
        let (nsapi, name, want) = (nsapi.clone(), rightful_ns.clone(), rightful_owner.clone());
        async move {
            let n = nsapi.get(&name).await.map_err(|e| e.to_string())?;
            match n.annotations().get(labels::OWNER) {
                Some(o) if *o == want => Ok(()),
                other => Err(format!("owner annotation {other:?}")),
            }
        }
    })
    .await?;
    let r = h.get(&rightful.name_any()).await?;
    ensure!(
        condition(&r, "Ready").is_some_and(|c| c.status == "True"),
        "{}",
        conditions(&r)
    );

    // Deleting the victim removes its own namespace, and only that.
    h.delete_and_wait(&victim.name_any()).await?;
    h.wait_namespace_gone(&victim_ns).await?;
    for (what, name) in [("bystander", &bystander), ("rightful", &rightful_ns)] {
        let n = nsapi.get_opt(name).await?;
        ensure!(
            n.as_ref()
                .is_some_and(|n| n.metadata.deletion_timestamp.is_none()),
            "the {what} namespace {name} must survive: {n:?}"
        );
    }
    let r = h.get(&rightful.name_any()).await?;
    ensure!(
        condition(&r, "Ready").is_some_and(|c| c.status == "True"),
        "{}",
        conditions(&r)
    );

    // The tampering is reported on the Tenants.
    let events: Api<Event> = Api::namespaced(h.admin.clone(), &h.ns);
    let reports: Vec<String> = events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("OwnershipTampered"))
        .map(|e| {
            format!(
                "{}: {}",
                e.regarding.and_then(|r| r.name).unwrap_or_default(),
                e.note.unwrap_or_default()
            )
        })
        .collect();
    ensure!(
        reports.iter().any(|r| r.contains(&bystander)),
        "the forged bystander is reported: {reports:#?}"
    );
    ensure!(
        reports.iter().any(|r| r.contains(&rightful_ns)),
        "the rightful namespace's changed marks are reported: {reports:#?}"
    );
    ensure!(op.health.is_ready(), "the operator stays healthy");

    nsapi.delete(&bystander, &Default::default()).await?;
    h.teardown().await?;
    op.stop().await
}

/// A leaked operator token: the API server refuses, outside the tenant namespaces, the writes the
/// operator's rights would otherwise allow (deploy/operator/fence.yaml), while the operator keeps
/// doing its job (every other test here runs it with the fence installed).
#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_leaked_operator_token_cannot_write_outside_the_tenant_namespaces() -> Result<()> {
    let h = Harness::new("op-fence").await?;
    let op = h.start_operator().await?;
    let t = h.tenant("fenced");
    h.create(&t).await?;
    let t = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let tenant_ns = status_namespace(&t)?;
    let token = h.cp.client_as(testenv::OPERATOR_USER).await?;

    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": unique_name("miner")},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }))?;
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": unique_name("stolen")},
        "stringData": {"k": "v"},
    }))?;
    let pods = |ns: &str| Api::<k8s_openapi::api::core::v1::Pod>::namespaced(token.clone(), ns);
    let secrets =
        |ns: &str| Api::<k8s_openapi::api::core::v1::Secret>::namespaced(token.clone(), ns);
    for (what, r) in [
        (
            "a pod in kube-system",
            pods("kube-system")
                .create(&PostParams::default(), &pod)
                .await
                .map(|_| ()),
        ),
        (
            "a pod in the tenant namespace (not a kind the operator manages)",
            pods(&tenant_ns)
                .create(&PostParams::default(), &pod)
                .await
                .map(|_| ()),
        ),
        (
            "a secret in default",
            secrets("default")
                .create(&PostParams::default(), &secret)
                .await
                .map(|_| ()),
        ),
    ] {
        let msg = refused(what, r)?;
        ensure!(msg.contains("tenant-operator-fence"), "{what}: {msg}");
    }
    let plain = unique_name("plain");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": plain}}))?;
    Api::<Namespace>::all(h.admin.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let nsapi: Api<Namespace> = Api::all(token.clone());
    let msg = refused(
        "deleting a namespace that is not a tenant's",
        nsapi.delete(&plain, &Default::default()).await.map(|_| ()),
    )?;
    ensure!(msg.contains("only tenant namespaces"), "{msg}");
    let msg = refused(
        "relabelling kube-system as a tenant namespace",
        patch_ns(
            &token,
            "kube-system",
            json!({"metadata": {"labels": {labels::TENANT_NAMESPACE: "true"}}}),
        )
        .await,
    )?;
    ensure!(msg.contains("only tenant namespaces"), "{msg}");
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": unique_name("escalate")},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }))?;
    let msg = refused(
        "creating a ClusterRole of its own",
        Api::<ClusterRole>::all(token.clone())
            .create(&PostParams::default(), &role)
            .await
            .map(|_| ()),
    )?;
    ensure!(msg.contains("only its tenant ClusterRoles"), "{msg}");
    ensure!(op.health.is_ready(), "the operator stays healthy");
    Api::<Namespace>::all(h.admin.clone())
        .delete(&plain, &Default::default())
        .await?;
    h.teardown().await?;
    op.stop().await
}
