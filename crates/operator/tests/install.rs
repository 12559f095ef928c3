//! The install of docs/operator.md, run as a cluster admin would, with kubectl, on the local
//! control plane: the CRDs, then `kubectl apply -k deploy/operator/`. The apiserver must accept
//! every manifest (the Deployment under the namespace's Pod Security `restricted` level), and the
//! Deployment's two replicas must become available on the fake (kwok) nodes.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use testenv::{ControlPlane, poll_until};

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `kubectl ARGS` as the admin from the repository root; its output, or an error with it.
fn kubectl(cp: &ControlPlane, args: &[&str]) -> Result<String> {
    let out = cp
        .kubectl()
        .args(args)
        .current_dir(repo_root())
        .output()
        .context("running kubectl")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(out.status.success(), "kubectl {args:?} failed:\n{text}");
    Ok(text)
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn the_documented_install_is_accepted_and_the_deployment_becomes_available() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let docs = std::fs::read_to_string(repo_root().join("docs/operator.md"))?;
    let crds = "kubectl apply --server-side -f deploy/crds/";
    let operator = "kubectl apply --server-side -k deploy/operator/";
    for command in [crds, operator] {
        ensure!(
            docs.contains(command),
            "docs/operator.md no longer installs with `{command}`: update this test with it"
        );
    }
    let out = kubectl(cp, &["apply", "--server-side", "-f", "deploy/crds/"])?;
    ensure!(out.contains("tenants.shop.pilab.hu"), "{out}");
    let out = kubectl(cp, &["apply", "--server-side", "-k", "deploy/operator/"])?;
    for object in [
        "namespace/tenant-system",
        "serviceaccount/tenant-operator",
        "clusterrole.rbac.authorization.k8s.io/tenant-operator",
        "deployment.apps/tenant-operator",
        "service/tenant-operator-metrics",
    ] {
        ensure!(out.contains(object), "{object} not applied:\n{out}");
    }
    ensure!(
        !out.to_lowercase().contains("warning"),
        "the install warned (Pod Security?):\n{out}"
    );

    let client = cp.admin_client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "tenant-system");
    poll_until(
        "the operator Deployment available with 2 replicas",
        Duration::from_secs(90),
        || {
            let deployments = deployments.clone();
            async move {
                let d = deployments
                    .get("tenant-operator")
                    .await
                    .map_err(|e| e.to_string())?;
                let status = d.status.unwrap_or_default();
                match status.available_replicas {
                    Some(2) => Ok(()),
                    n => Err(format!(
                        "available {n:?}, conditions {:?}",
                        status.conditions
                    )),
                }
            }
        },
    )
    .await?;
    let pods: Api<Pod> = Api::namespaced(client, "tenant-system");
    let running = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=tenant-operator"))
        .await?;
    ensure!(running.items.len() == 2, "{} pods", running.items.len());

    // The Deployment only proves the manifest; nothing runs the image here. Leave the rest of the
    // install (namespace, RBAC) for the other tests of this plane.
    deployments
        .delete("tenant-operator", &DeleteParams::foreground())
        .await?;
    Ok(())
}
