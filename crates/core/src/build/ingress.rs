//! The Ingress of the tenant's custom domain: `tenant-ingress`, host `customDomain`, one path per
//! published service (`frontend` at `/`, `api` at `/api`, any service at its
//! `serviceSettings.<name>.ingressPath`), TLS from `ingressTlsSecretName`. The ingress class is
//! the operator's `--ingress-class` (unset: the cluster's default class).
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
    let tls = tenant.spec.ingress_tls_secret_name.as_ref().map(|secret| {
        vec![IngressTLS {
            hosts: Some(vec![domain.clone()]),
            secret_name: Some(secret.clone()),
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
    Ok(vec![Object::from_resource(&ingress)?])
}
