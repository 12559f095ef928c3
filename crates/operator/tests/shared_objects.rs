//! The objects every tenant relies on (the ValidatingAdmissionPolicies, their bindings, the tenant
//! ClusterRoles, the finalizer's MutatingAdmissionPolicy) are restored when someone edits or deletes one. A binary of its own: every
//! operator running in a test binary restores them, and another test there measuring an
//! operator's writes would count those.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::*;
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::json;
use tenant_api::labels;
use testenv::poll_until;

/// Whether the ClusterRole grants anything on `resource`.
fn grants(role: &ClusterRole, resource: &str) -> bool {
    role.rules
        .iter()
        .flatten()
        .any(|r| r.resources.iter().flatten().any(|x| x == resource))
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn edited_or_deleted_shared_objects_are_restored() -> Result<()> {
    let h = Harness::new("op-shared").await?;
    let op = h.start_operator().await?;
    op.wait_ready().await?;
    let cluster_roles: Api<ClusterRole> = Api::all(h.admin.clone());
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(h.admin.clone());
    let binding = "tenant-replicas-update";
    let old_uid = bindings.get(binding).await?.uid();

    // The shared tenant-viewer ClusterRole gains a right; a policy binding goes.
    cluster_roles
        .patch(
            "tenant-viewer",
            &PatchParams::default(),
            &Patch::Merge(&json!({"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]})),
        )
        .await?;
    bindings.delete(binding, &DeleteParams::default()).await?;
    // And the binding of the finalizer policy (served from Kubernetes 1.36 on, as here).
    let (map_binding, _) = kube::discovery::pinned_kind(
        &h.admin,
        &GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingAdmissionPolicyBinding",
        ),
    )
    .await?;
    let map_bindings: Api<DynamicObject> = Api::all_with(h.admin.clone(), &map_binding);
    // It goes in a few seconds after start-up, once the API server has the Tenant schema.
    let map_uid = poll_until("the finalizer policy binding applied", TIMEOUT, || {
        let map_bindings = map_bindings.clone();
        async move {
            match map_bindings.get_opt("tenant-finalizer").await {
                Ok(Some(b)) => Ok(b.uid()),
                Ok(None) => Err("not yet".to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await?;
    map_bindings
        .delete("tenant-finalizer", &DeleteParams::default())
        .await?;
    let start = Instant::now();
    poll_until(
        "the ClusterRole and the policy binding restored",
        TIMEOUT,
        || {
            let (cluster_roles, bindings, old_uid) =
                (cluster_roles.clone(), bindings.clone(), old_uid.clone());
            let (map_bindings, map_uid) = (map_bindings.clone(), map_uid.clone());
            async move {
                let m = map_bindings
                    .get_opt("tenant-finalizer")
                    .await
                    .map_err(|e| e.to_string())?;
                if m.is_none_or(|m| m.uid() == map_uid) {
                    return Err("the finalizer policy binding is not back".into());
                }
                let r = cluster_roles
                    .get("tenant-viewer")
                    .await
                    .map_err(|e| e.to_string())?;
                let secrets = grants(&r, "secrets");
                let b = bindings.get_opt(binding).await.map_err(|e| e.to_string())?;
                let restored = b.is_some_and(|b| b.uid() != old_uid);
                if !secrets && restored {
                    Ok(())
                } else {
                    Err(format!(
                        "viewer reads secrets: {secrets}, {binding} restored: {restored}"
                    ))
                }
            }
        },
    )
    .await?;
    eprintln!("shared objects restored in {:?}", start.elapsed());
    // It was this operator's doing (the only one running in this binary).
    let metrics = op.metrics.encode();
    for kind in [
        "ClusterRole",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicyBinding",
    ] {
        let line = format!("tenant_operator_api_writes_total{{kind=\"{kind}\",verb=\"apply\"}}");
        anyhow::ensure!(
            metrics
                .lines()
                .any(|l| l.starts_with(&line) && !l.ends_with(" 0")),
            "no {kind} apply counted:\n{metrics}"
        );
    }
    op.stop().await?;

    // Someone else's ClusterRole of the same name (no operator label): a starting operator does
    // not take it over, and holds Tenants at PolicyReady=False until it is given back.
    let theirs = json!({"metadata": {"labels": {labels::MANAGED_BY: null}},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]});
    cluster_roles
        .patch(
            "tenant-developer",
            &PatchParams::default(),
            &Patch::Merge(&theirs),
        )
        .await?;
    let op = h.start_operator().await?;
    op.wait_ready().await?;
    let t = h.tenant("shared");
    h.create(&t).await?;
    let pending = poll_until("PolicyReady False", TIMEOUT, || {
        let api = h.tenants();
        let name = t.name_any();
        async move {
            let t = api.get(&name).await.map_err(|e| e.to_string())?;
            match condition(&t, "PolicyReady") {
                Some(c) if c.status == "False" => Ok(c.reason.clone()),
                c => Err(format!("{c:?}")),
            }
        }
    })
    .await?;
    anyhow::ensure!(pending == "SharedPoliciesPending", "{pending}");
    stays_for("their ClusterRole", Duration::from_secs(3), || {
        let cluster_roles = cluster_roles.clone();
        async move {
            let r = cluster_roles
                .get("tenant-developer")
                .await
                .map_err(|e| e.to_string())?;
            let nodes = grants(&r, "nodes");
            if nodes && !r.labels().contains_key(labels::MANAGED_BY) {
                Ok(())
            } else {
                Err(format!("taken over: {r:?}"))
            }
        }
    })
    .await?;
    // Given back (labelled as the operator's again): the retry applies it, the Tenant gets Ready.
    cluster_roles
        .patch(
            "tenant-developer",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {labels::MANAGED_BY: labels::MANAGER}}})),
        )
        .await?;
    h.wait_phase(&t.name_any(), tenant_api::Phase::Running)
        .await?;
    let r = cluster_roles.get("tenant-developer").await?;
    anyhow::ensure!(
        !grants(&r, "nodes"),
        "the operator's rules are back: {:?}",
        r.rules
    );
    h.teardown().await?;
    op.stop().await
}
