//! TLS for a custom domain from a real cert-manager (built from its Go module by
//! `hack/components cert-manager`, run outside the cluster against the admin kubeconfig): a
//! Tenant that names no TLS Secret gets a Certificate from the platform's ClusterIssuer
//! (`--cert-issuer`), and the Secret its Ingress serves appears in the tenant namespace.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::Api;
use serde_json::json;
use tenant_api::{ServiceSettings, TenantType};
use testenv::poll_until;

/// The cert-manager controller process, stopped when dropped.
struct CertManager(Child);

impl Drop for CertManager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components: hack/test runs it"]
async fn cert_manager_issues_the_custom_domains_certificate() -> Result<()> {
    let h = Harness::new("tls").await?;
    let dir = testenv::component("cert-manager")?;
    for entry in std::fs::read_dir(dir.join("crds"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            apply_yaml(&h.admin, &std::fs::read_to_string(&path)?, None).await?;
        }
    }
    let log = std::fs::File::create(h.cp.log_path(&format!("cert-manager-{}", h.ns)))?;
    let _cm = CertManager(
        Command::new(dir.join("cert-manager-controller"))
            .arg("--kubeconfig")
            .arg(h.cp.kubeconfig_path("admin"))
            .args(["--cluster-resource-namespace", "kube-system"])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting cert-manager-controller")?,
    );
    let issuer = format!("selfsigned-{}", h.ns);
    apply_value(
        &h.admin,
        &json!({
            "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": issuer},
            "spec": {"selfSigned": {}},
        }),
    )
    .await?;
    let op = h
        .start_operator_with(|c| c.cert_issuer = format!("ClusterIssuer/{issuer}"))
        .await?;
    let domain = format!("{}.example.com", h.ns);
    let (_t, ns) = running_tenant(&h, "tls", |t| {
        t.spec.tenant_type = TenantType::Staging;
        t.spec.custom_domain = Some(domain.clone());
        t.spec.services = Some(vec!["frontend".into()]);
        t.spec.service_settings = Some(BTreeMap::from([(
            "frontend".to_string(),
            ServiceSettings::default(),
        )]));
    })
    .await?;
    let secrets: Api<Secret> = Api::namespaced(h.admin.clone(), &ns);
    let secret = poll_until("the TLS Secret issued", TIMEOUT, || {
        let secrets = secrets.clone();
        async move {
            match secrets
                .get_opt("tenant-tls")
                .await
                .map_err(|e| e.to_string())?
            {
                Some(s) => Ok(s),
                None => Err("not yet".into()),
            }
        }
    })
    .await?;
    ensure!(secret.type_.as_deref() == Some("kubernetes.io/tls"));
    let data = secret.data.unwrap_or_default();
    ensure!(data.contains_key("tls.crt") && data.contains_key("tls.key"));
    let ingress: Ingress = Api::namespaced(h.admin.clone(), &ns)
        .get("tenant-ingress")
        .await?;
    let tls = &ingress.spec.unwrap().tls.unwrap()[0];
    ensure!(tls.secret_name.as_deref() == Some("tenant-tls"));
    ensure!(tls.hosts.as_deref() == Some(&[domain][..]));
    h.teardown().await?;
    op.stop().await
}
