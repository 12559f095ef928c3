//! The namespace name and the tenant's own services: names, settings, routes, environment.

use super::super::{Ctx, names};
use crate::naming;
use std::collections::BTreeMap;
use tenant_api::TenantSpec;

/// Path under customDomain a service is routed at, None when it stays internal.
pub(crate) fn ingress_path(spec: &TenantSpec, svc: &str) -> Option<String> {
    let set = spec
        .service_settings
        .as_ref()
        .and_then(|m| m.get(svc))
        .and_then(|s| s.ingress_path.clone());
    match set {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(p),
        None => match svc {
            "frontend" => Some("/".into()),
            "api" => Some("/api".into()),
            _ => None,
        },
    }
}

/// Environment variables the operator itself sets on every service.
const OPERATOR_ENV: [&str; 3] = ["TENANT_FEATURES", "LOG_LEVEL", "LOG_FORMAT"];

pub(crate) fn run(spec: &TenantSpec, ctx: &mut Ctx) {
    namespace_name(spec, ctx);
    let services = spec.services.clone().unwrap_or_default();
    let settings = spec.service_settings.clone().unwrap_or_default();
    ctx.check(
        "services.names",
        "spec.services",
        "every service name is an RFC 1035 label (a valid Service name)",
        |g| {
            for (i, s) in services.iter().enumerate() {
                // CEL already checks the DNS-label shape; a Service additionally needs a leading letter.
                if s.starts_with(|c: char| c.is_ascii_digit())
                    && let Some(e) = names::dns1035_label_error(s)
                {
                    g.fail(format!("spec.services[{i}]"), format!("{s:?} {e}"));
                }
            }
        },
    );
    ctx.check(
        "services.settingsKnown",
        "spec.serviceSettings",
        "every serviceSettings key is a listed service",
        |g| {
            for key in settings.keys() {
                if !services.contains(key) {
                    g.fail(
                        format!("spec.serviceSettings.{key}"),
                        format!("{key:?} is not listed in spec.services: the operator deploys no such service, so these settings would be ignored"),
                    );
                }
            }
        },
    );
    ctx.check(
        "services.ingressPaths",
        "spec.serviceSettings",
        "ingress paths are routable and unique",
        |g| {
            if spec.custom_domain.is_none() {
                for (svc, s) in &settings {
                    if s.ingress_path.as_deref().is_some_and(|p| !p.is_empty()) {
                        g.warn(
                            format!("spec.serviceSettings.{svc}.ingressPath"),
                            "is set but spec.customDomain is not: there is no Ingress, so the service stays internal",
                        );
                    }
                }
                return;
            }
            let mut seen: BTreeMap<String, &str> = BTreeMap::new();
            for svc in &services {
                let Some(path) = ingress_path(spec, svc) else { continue };
                if let Some(other) = seen.get(&path) {
                    let field = if settings.get(svc).and_then(|s| s.ingress_path.as_ref()).is_some() {
                        format!("spec.serviceSettings.{svc}.ingressPath")
                    } else {
                        format!("spec.serviceSettings.{other}.ingressPath")
                    };
                    g.fail(
                        field,
                        format!("services {other:?} and {svc:?} are both routed at {path:?}: the Ingress cannot send one path to two backends"),
                    );
                } else {
                    seen.insert(path, svc);
                }
            }
            if !services.is_empty() && seen.is_empty() {
                g.warn(
                    "spec.customDomain",
                    "is set but no service is routed to it (only frontend and api are by default; set serviceSettings.<service>.ingressPath)",
                );
            }
        },
    );
    ctx.check(
        "services.env",
        "spec.serviceSettings",
        "environment variable names are valid and do not shadow the operator's",
        |g| {
            for (svc, s) in &settings {
                for key in s.env.iter().flat_map(|e| e.keys()) {
                    let f = format!("spec.serviceSettings.{svc}.env[{key}]");
                    if let Some(e) = names::env_var_name_error(key) {
                        g.fail(&f, format!("{key:?} {e}"));
                    } else if OPERATOR_ENV.contains(&key.as_str()) || key.starts_with("FEATURE_") {
                        g.warn(
                            &f,
                            format!("{key:?} is set by the operator (from monitoring / tenantConfig.features); set it there instead"),
                        );
                    }
                }
            }
        },
    );
}

fn namespace_name(spec: &TenantSpec, ctx: &mut Ctx) {
    let name = naming::namespace_name(spec);
    let cfg = spec.namespace_config.clone().unwrap_or_default();
    let field = if cfg.name.is_some() {
        "spec.namespaceConfig.name"
    } else {
        "spec.namespaceConfig"
    };
    ctx.check(
        "namespace.name",
        field,
        format!("namespace {name:?} is a DNS label of at most 63 characters"),
        |g| {
            let Some(err) = names::dns_label_error(&name) else { return };
            let parts = if cfg.name.is_some() {
                "namespaceConfig.name overrides pattern, prefix and suffix".to_string()
            } else {
                let pattern = cfg.pattern.as_deref().unwrap_or(naming::DEFAULT_PATTERN);
                let env = naming::environment(spec);
                let body = pattern
                    .replace("{tenantId}", &spec.tenant_id)
                    .replace("{environment}", &env)
                    .replace("{tenantType}", spec.tenant_type.as_str());
                let mut p = Vec::new();
                if let Some(prefix) = cfg.prefix.as_deref().filter(|s| !s.is_empty()) {
                    p.push(format!("prefix {prefix:?} + '-' ({} characters)", prefix.len() + 1));
                }
                p.push(format!(
                    "pattern {pattern:?} -> {body:?} ({} characters; tenantId {} and environment {})",
                    body.len(),
                    spec.tenant_id.len(),
                    env.len()
                ));
                if let Some(suffix) = cfg.suffix.as_deref().filter(|s| !s.is_empty()) {
                    p.push(format!("'-' + suffix {suffix:?} ({} characters)", suffix.len() + 1));
                }
                p.join(", ")
            };
            let what = if name.len() > names::DNS_LABEL_MAX {
                format!(
                    "is {} characters; a namespace name is a DNS label of at most {}",
                    name.len(),
                    names::DNS_LABEL_MAX
                )
            } else {
                err
            };
            g.fail(
                field,
                format!(
                    "the namespace name {name:?} {what}; it is made of {parts} (set a shorter pattern, prefix or suffix, or namespaceConfig.name)"
                ),
            );
        },
    );
}
