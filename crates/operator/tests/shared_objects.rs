//! The objects every tenant relies on (the ValidatingAdmissionPolicies, their bindings, the tenant
//! ClusterRoles) are restored when someone edits or deletes one. A binary of its own: every
//! operator running in a test binary restores them, and another test there measuring an
//! operator's writes would count those.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Instant;

use anyhow::Result;
use common::*;
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use testenv::poll_until;

#[tokio::test]
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
    let start = Instant::now();
    poll_until(
        "the ClusterRole and the policy binding restored",
        TIMEOUT,
        || {
            let (cluster_roles, bindings, old_uid) =
                (cluster_roles.clone(), bindings.clone(), old_uid.clone());
            async move {
                let r = cluster_roles
                    .get("tenant-viewer")
                    .await
                    .map_err(|e| e.to_string())?;
                let secrets = r
                    .rules
                    .iter()
                    .flatten()
                    .any(|r| r.resources.iter().flatten().any(|x| x == "secrets"));
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
    for kind in ["ClusterRole", "ValidatingAdmissionPolicyBinding"] {
        let line = format!("tenant_operator_api_writes_total{{kind=\"{kind}\",verb=\"apply\"}}");
        anyhow::ensure!(
            metrics
                .lines()
                .any(|l| l.starts_with(&line) && !l.ends_with(" 0")),
            "no {kind} apply counted:\n{metrics}"
        );
    }
    h.teardown().await?;
    op.stop().await
}
