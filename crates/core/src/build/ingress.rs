//! The Ingress of the tenant's custom domain: `tenant-ingress`, host `customDomain`, one path per
//! published service (`frontend` at `/`, `api` at `/api`, any service at its
//! `serviceSettings.<name>.ingressPath`), TLS from `ingressTlsSecretName`. The ingress class is
//! the operator's `--ingress-class` (unset: the cluster's default class). Without
//! `ingressTlsSecretName`, and with the operator's `--cert-issuer` set, a cert-manager Certificate
//! `tenant-tls` obtains the certificate into the Secret `tenant-tls` the Ingress serves.
//!
//! No Ingress without a custom domain or without a published service. Two Tenants never get an
//! Ingress for the same host: the reconcile refuses the younger one (`DomainConflict`) before
//! anything is built.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use tenant_api::Tenant;

use super::namespace::object_meta;
use super::services::{SERVICE_PORT, ServicePlan};
use super::{BuildContext, BuildError};
use crate::object::Object;
use crate::presets::Effective;

/// The Ingress's name.
pub const INGRESS: &str = "tenant-ingress";
/// The cert-manager Certificate's name, and the name of the TLS Secret it obtains.
pub const CERTIFICATE: &str = "tenant-tls";
pub const CERT_MANAGER_API: &str = "cert-manager.io/v1";

/// `(kind, name)` of an issuer setting `ClusterIssuer/<name>` or `Issuer/<name>`.
pub fn parse_issuer(s: &str) -> Result<(&str, &str), String> {
    match s.split_once('/') {
        Some((kind @ ("ClusterIssuer" | "Issuer"), name))
            if !name.is_empty() && !name.contains('/') =>
        {
            Ok((kind, name))
        }
        _ => Err(format!(
            "{s:?} must be ClusterIssuer/<name> or Issuer/<name>"
        )),
    }
}

/// `(path, service)` of every published service, longest path first (the order an ingress
/// controller matches in anyway; a fixed order keeps the manifest stable).
pub fn routes(plans: &[ServicePlan]) -> Result<Vec<(String, String)>, BuildError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for p in plans {
        let Some(path) = &p.ingress_path else {
            continue;
        };
        if let Some((_, other)) = out.iter().find(|(q, _)| q == path) {
            return Err(BuildError::Invalid {
                field: format!("spec.serviceSettings.{}.ingressPath", p.name),
                message: format!("{path} is already routed to service {other}"),
            });
        }
        out.push((path.clone(), p.name.clone()));
    }
    out.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
    plans: &[ServicePlan],
) -> Result<Vec<Object>, BuildError> {
    let Some(domain) = tenant.spec.custom_domain.as_ref() else {
        return Ok(Vec::new());
    };
    let routes = routes(plans)?;
    if routes.is_empty() {
        return Ok(Vec::new());
    }
    let paths = routes
        .into_iter()
        .map(|(path, service)| HTTPIngressPath {
            path: Some(path),
            path_type: "Prefix".into(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: service,
                    port: Some(ServiceBackendPort {
                        number: Some(SERVICE_PORT),
                        name: None,
                    }),
                }),
                resource: None,
            },
        })
        .collect();
    // TLS: the Tenant's own Secret, else one cert-manager obtains from the platform's issuer
    let mut out = Vec::new();
    let secret =
        match (&tenant.spec.ingress_tls_secret_name, ctx.cert_issuer) {
            (Some(s), _) => Some(s.clone()),
            (None, "") => None,
            (None, issuer) => {
                let (kind, name) = parse_issuer(issuer).map_err(|message| BuildError::Invalid {
                    field: "--cert-issuer".into(),
                    message,
                })?;
                let mut meta = serde_json::to_value(object_meta(tenant, eff, CERTIFICATE))
                    .map_err(|source| crate::object::ObjectError {
                        kind: "Certificate".into(),
                        name: CERTIFICATE.into(),
                        source,
                    })?;
                if let Some(m) = meta.as_object_mut() {
                    m.retain(|_, v| !v.is_null());
                }
                out.push(Object::from_value(serde_json::json!({
                    "apiVersion": CERT_MANAGER_API,
                    "kind": "Certificate",
                    "metadata": meta,
                    "spec": {
                        "secretName": CERTIFICATE,
                        "dnsNames": [domain],
                        "issuerRef": {"group": "cert-manager.io", "kind": kind, "name": name},
                        "privateKey": {"rotationPolicy": "Always"},
                    },
                })));
                Some(CERTIFICATE.to_string())
            }
        };
    let tls = secret.map(|secret| {
        vec![IngressTLS {
            hosts: Some(vec![domain.clone()]),
            secret_name: Some(secret),
        }]
    });
    let ingress = Ingress {
        metadata: object_meta(tenant, eff, INGRESS),
        spec: Some(IngressSpec {
            ingress_class_name: (!ctx.ingress_class.is_empty())
                .then(|| ctx.ingress_class.to_string()),
            rules: Some(vec![IngressRule {
                host: Some(domain.clone()),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            tls,
            default_backend: None,
        }),
        status: None,
    };
    out.push(Object::from_resource(&ingress)?);
    Ok(out)
}
