//! Isolation settings: registries (and the tenant's own images against them), dedicated nodes,
//! CPU pinning, storage classes, and overrides that weaken the preset.

use super::super::quantities::Quantities;
use super::super::{Ctx, Group, names};
use crate::build::policy::priority_class_error;
use crate::presets::{self, Effective, Isolation};
use tenant_api::{IsolationLevel, IsolationSpec, TenantSpec};

/// An image reference split into repository (`host[:port]/path`), tag and digest.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Image {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    !c.is_empty()
        && b.first()
            .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
        && b.last()
            .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
        && c.chars()
            .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, '.' | '_' | '-'))
}

fn host_ok(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    host_ok && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Whether the first component of a repository names a registry host (docker's rule).
fn is_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// Parses `[host[:port]/]path[:tag][@digest]`.
pub(crate) fn parse_image(s: &str) -> Result<Image, String> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            let (alg, hex) = d
                .split_once(':')
                .ok_or("the digest must be algorithm:hex")?;
            if alg.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "digest {d:?} is not algorithm:hex (e.g. sha256:<64 hex digits>)"
                ));
            }
            (r, Some(d.to_string()))
        }
        None => (s, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(format!("tag {t:?} is not a valid image tag"));
        }
    }
    let mut comps = repo.split('/').peekable();
    let first = comps.peek().copied().unwrap_or_default();
    let rest_ok = if is_host(first) && repo.contains('/') {
        comps.next();
        host_ok(first) && comps.all(path_component_ok)
    } else {
        comps.all(path_component_ok)
    };
    if repo.is_empty() || !rest_ok {
        return Err(format!(
            "{repo:?} is not an image repository: lower-case path components separated by '/', optionally after a registry host"
        ));
    }
    Ok(Image {
        repository: repo.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

/// An image as the admission policy qualifies it (build/policy/workloads.rs): `nginx:1` is
/// `docker.io/library/nginx:1`, `bitnami/redis` is `docker.io/bitnami/redis`, and Docker Hub's
/// `index.docker.io` alias is `docker.io`.
fn qualified(image: &str) -> String {
    let Some((first, rest)) = image.split_once('/') else {
        return format!("docker.io/library/{image}");
    };
    if !is_host(first) {
        return format!("docker.io/{image}");
    }
    if first == "docker.io" || first == "index.docker.io" {
        return if rest.contains('/') {
            format!("docker.io/{rest}")
        } else {
            format!("docker.io/library/{rest}")
        };
    }
    image.to_string()
}

/// A registry entry as the admission policy compares it: trimmed, no trailing '/', and
/// `index.docker.io` spelled `docker.io`.
fn entry_prefix(entry: &str) -> String {
    let p = entry.trim().trim_end_matches('/');
    match p.strip_prefix("index.docker.io") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("docker.io{rest}"),
        _ => p.to_string(),
    }
}

/// Whether a registry entry admits an image, exactly as the admission policy decides: whole path
/// segments; an entry naming a repository also matches that repository's tags and digests; a bare
/// host does not match the same host on another port.
pub(crate) fn registry_matches(entry: &str, image: &str) -> bool {
    let (r, p) = (qualified(image), entry_prefix(entry));
    r == p
        || r.starts_with(&format!("{p}/"))
        || (p.contains('/') && (r.starts_with(&format!("{p}:")) || r.starts_with(&format!("{p}@"))))
}

/// Whether entry `outer` covers everything entry `inner` names (for shadowed allow entries).
fn entry_covers(outer: &str, inner: &str) -> bool {
    let (o, i) = (entry_prefix(outer), entry_prefix(inner));
    i == o || i.starts_with(&format!("{o}/"))
}

/// Why an allowed/blocked registry entry can never match an image the way it was meant to.
fn registry_entry_error(e: &str) -> Option<String> {
    if e.contains("://") {
        return Some("must not have a scheme (write ghcr.io/org, not https://ghcr.io/org)".into());
    }
    if e.contains('*') || e.chars().any(char::is_whitespace) {
        return Some("must be a registry host or host/path prefix (no wildcard, no spaces)".into());
    }
    let host = e.split('/').next().unwrap_or_default();
    if !host_ok(host) || host.chars().any(|c| c.is_ascii_uppercase()) {
        return Some(
            "must start with a lower-case registry host such as ghcr.io or registry.example.com:5000"
                .into(),
        );
    }
    if e.split('/')
        .skip(1)
        .any(|c| c.chars().any(|x| x.is_ascii_uppercase()))
    {
        return Some("image paths are lower-case, so an upper-case path never matches".into());
    }
    None
}

/// `{imageRepository or default}/{service}:{imageTag}`, or the service's explicit image.
pub(crate) fn service_images(spec: &TenantSpec) -> Vec<(String, String, String)> {
    let repo = spec
        .image_repository
        .as_deref()
        .unwrap_or(presets::DEFAULT_IMAGE_REPOSITORY);
    let tag = spec.image_tag.as_deref().unwrap_or("latest");
    spec.services
        .iter()
        .flatten()
        .map(|svc| {
            let explicit = spec
                .service_settings
                .as_ref()
                .and_then(|m| m.get(svc))
                .and_then(|s| s.image.clone());
            match explicit {
                Some(image) => (
                    svc.clone(),
                    image,
                    format!("spec.serviceSettings.{svc}.image"),
                ),
                None => (
                    svc.clone(),
                    format!("{repo}/{svc}:{tag}"),
                    if spec.image_repository.is_some() {
                        "spec.imageRepository".to_string()
                    } else {
                        "spec.services".to_string()
                    },
                ),
            }
        })
        .collect()
}

pub(crate) fn run(spec: &TenantSpec, eff: &Effective, q: &Quantities, ctx: &mut Ctx) {
    let iso = &eff.isolation;
    let raw = spec.isolation.clone().unwrap_or_default();
    ctx.check(
        "services.images",
        "spec.serviceSettings",
        "explicit service images are valid image references",
        |g| {
            for (svc, s) in spec.service_settings.iter().flatten() {
                if let Some(image) = &s.image
                    && let Err(e) = parse_image(image)
                {
                    g.fail(format!("spec.serviceSettings.{svc}.image"), e);
                }
            }
        },
    );
    ctx.check(
        "isolation.registries",
        "spec.isolation",
        "registry entries are well-formed and allowed/blocked do not overlap",
        |g| {
            for (list, entries) in [
                ("allowedRegistries", &iso.allowed_registries),
                ("blockedRegistries", &iso.blocked_registries),
            ] {
                for (i, e) in entries.iter().enumerate() {
                    if let Some(err) = registry_entry_error(e) {
                        g.fail(format!("spec.isolation.{list}[{i}]"), format!("{e:?} {err}"));
                    }
                }
            }
            for (i, a) in iso.allowed_registries.iter().enumerate() {
                if let Some(b) = iso.blocked_registries.iter().find(|b| *b == a) {
                    g.fail(
                        format!("spec.isolation.allowedRegistries[{i}]"),
                        format!("{a:?} is also in blockedRegistries ({b:?}): a registry cannot be both allowed and blocked"),
                    );
                } else if let Some(b) = iso.blocked_registries.iter().find(|b| entry_covers(b, a)) {
                    g.warn(
                        format!("spec.isolation.allowedRegistries[{i}]"),
                        format!("{a:?} lies under the blocked {b:?}, so it never allows anything"),
                    );
                }
            }
        },
    );
    ctx.check(
        "isolation.ownImagesAllowed",
        "spec.services",
        "the tenant's own service images pass its registry rules",
        |g| {
            for (svc, image, field) in service_images(spec) {
                if parse_image(&image).is_err() {
                    continue; // services.images reports it
                }
                let repo = image.as_str();
                if let Some(b) = iso.blocked_registries.iter().find(|b| registry_matches(b, repo)) {
                    g.fail(
                        &field,
                        format!("service {svc:?} runs {image:?}, which blockedRegistries entry {b:?} refuses: the guardrails would reject the tenant's own service"),
                    );
                } else if !iso.allowed_registries.is_empty()
                    && !iso.allowed_registries.iter().any(|a| registry_matches(a, repo))
                {
                    g.fail(
                        &field,
                        format!(
                            "service {svc:?} runs {image:?}, which is in none of allowedRegistries [{}]: the guardrails would reject the tenant's own service",
                            iso.allowed_registries.join(", ")
                        ),
                    );
                }
            }
        },
    );
    ctx.check(
        "isolation.strictRegistries",
        "spec.isolation.allowedRegistries",
        "a strict tenant names its allowed registries",
        |g| {
            if iso.level == IsolationLevel::Strict && iso.allowed_registries.is_empty() {
                g.warn(
                    "spec.isolation.allowedRegistries",
                    "isolationLevel strict without allowedRegistries: images from any registry not blocked are allowed",
                );
            }
        },
    );
    ctx.check(
        "isolation.dedicatedNodeLabel",
        "spec.isolation.dedicatedNodeLabel",
        "the dedicated node label is a valid label key",
        |g| {
            if let Some(e) = names::qualified_name_error(&iso.dedicated_node_label) {
                g.fail(
                    "spec.isolation.dedicatedNodeLabel",
                    format!(
                        "{:?} is not a valid label key: {e}",
                        iso.dedicated_node_label
                    ),
                );
            }
            if raw.dedicated_node_label.is_some() && !iso.dedicated_nodes {
                g.warn(
                    "spec.isolation.dedicatedNodeLabel",
                    "is set but dedicatedNodes is off, so no node selection rule uses it",
                );
            }
        },
    );
    ctx.check(
        "isolation.cpuPinning",
        "spec.isolation.cpuPinning",
        "CPU defaults and service CPUs are whole CPUs when cpuPinning is on",
        |g| {
            if !iso.cpu_pinning {
                return;
            }
            let whole = |v: &super::super::quantities::Q| v.q.as_f64().fract() == 0.0;
            for f in ["spec.limits.podCpuRequest", "spec.limits.burstCpu"] {
                if let Some(v) = q.get(f)
                    && !whole(v) {
                        g.fail(f, format!("{:?} is not a whole number of CPUs: with cpuPinning every container must request whole CPUs", v.raw));
                    }
            }
            if let (Some(b), Some(r)) = (q.get("spec.limits.burstCpu"), q.get("spec.limits.podCpuRequest"))
                && b.q != r.q {
                    g.fail(&b.field, format!("must equal {} with cpuPinning (CPU limits equal requests)", r.cite()));
                }
            if spec.limits.as_ref().and_then(|l| l.allow_bursting) == Some(true) {
                g.warn("spec.limits.allowBursting", "is true but cpuPinning pins CPU limits to requests");
            }
            for svc in spec.service_settings.iter().flat_map(|m| m.keys()) {
                let req = q.get(&format!("spec.serviceSettings.{svc}.cpuRequest"));
                let lim = q.get(&format!("spec.serviceSettings.{svc}.cpuLimit"));
                for v in [req, lim].into_iter().flatten() {
                    if !whole(v) {
                        g.fail(&v.field, format!("{:?} is not a whole number of CPUs: the cpuPinning rule would reject the operator's own pods", v.raw));
                    }
                }
                if let (Some(r), Some(l)) = (req, lim)
                    && r.q != l.q {
                        g.fail(&l.field, format!("must equal {} with cpuPinning (CPU limits equal requests)", r.cite()));
                    }
            }
        },
    );
    ctx.check(
        "isolation.storageClasses",
        "spec.isolation.allowedStorageClasses",
        "storage classes agree with storageIsolation",
        |g| {
            for (i, c) in iso.allowed_storage_classes.iter().enumerate() {
                if let Some(e) = names::dns_subdomain_error(c) {
                    g.fail(format!("spec.isolation.allowedStorageClasses[{i}]"), format!("{c:?} is not a StorageClass name: {e}"));
                }
            }
            if iso.storage_isolation && iso.allowed_storage_classes.is_empty() {
                g.warn(
                    "spec.isolation.allowedStorageClasses",
                    "storageIsolation is on but no storage class is allowed: no PersistentVolumeClaim can be created",
                );
            }
            if !iso.storage_isolation && !iso.allowed_storage_classes.is_empty() {
                g.warn(
                    "spec.isolation.allowedStorageClasses",
                    "is set but storageIsolation is off, so any storage class may be used",
                );
            }
        },
    );
    ctx.check(
        "isolation.priorityClasses",
        "spec.isolation.allowedPriorityClasses",
        "allowed priority classes are PriorityClass names outside the reserved system- ones",
        |g| {
            for (i, c) in iso.allowed_priority_classes.iter().enumerate() {
                if let Some(e) = priority_class_error(c) {
                    g.fail(format!("spec.isolation.allowedPriorityClasses[{i}]"), e);
                }
            }
        },
    );
    ctx.check(
        "isolation.weakerThanPreset",
        "spec.isolation",
        "no override weakens the isolation level's preset",
        |g| weaker_than_preset(&raw, iso, g),
    );
    ctx.check(
        "isolation.auditLevel",
        "spec.isolation.auditLevel",
        "auditLevel is used",
        |g| {
            if raw.audit_level.is_some() && !iso.api_audit {
                g.warn(
                    "spec.isolation.auditLevel",
                    "is set but apiAudit is off, so it is not used: the namespace gets no audit rule of its own (kubectl tenant audit-policy) and is audited at the policy's catch-all level",
                );
            }
        },
    );
    let quota = spec.quota.clone().unwrap_or_default();
    ctx.check(
        "isolation.serviceTypeQuota",
        "spec.quota",
        "NodePort and LoadBalancer quotas agree with what isolation allows",
        |g| {
            let explicit = |f: fn(&IsolationSpec) -> Option<bool>| {
                spec.isolation.as_ref().and_then(f) == Some(true)
            };
            for (n, allowed, explicitly, field, what, flag) in [
                (quota.node_port_quota, iso.allow_node_ports, explicit(|s| s.allow_node_ports), "nodePortQuota", "NodePort", "allowNodePorts"),
                (quota.load_balancer_quota, iso.allow_load_balancers, explicit(|s| s.allow_load_balancers), "loadBalancerQuota", "LoadBalancer", "allowLoadBalancers"),
            ] {
                match n {
                    Some(n) if n > 0 && !allowed => g.warn(
                        format!("spec.quota.{field}"),
                        format!("{n} {what} services are budgeted but isolation forbids {what} services ({flag} is off): admission refuses them anyway"),
                    ),
                    Some(0) if explicitly => g.warn(
                        format!("spec.quota.{field}"),
                        format!("is 0 although isolation.{flag} is true: no {what} service fits in the quota"),
                    ),
                    _ => {}
                }
            }
        },
    );
}

fn weaker_than_preset(raw: &IsolationSpec, eff: &Isolation, g: &mut Group) {
    let preset = Isolation::preset(eff.level);
    let level = eff.level.as_str();
    if raw.pod_security_policy.is_some() && eff.pod_security < preset.pod_security {
        g.warn(
            "spec.isolation.podSecurityPolicy",
            format!(
                "{} is weaker than the {level} preset's {} (informational)",
                eff.pod_security.as_str(),
                preset.pod_security.as_str()
            ),
        );
    }
    // (field, set explicitly, preset value, effective value, true is the safe value)
    let flags = [
        (
            "networkIsolation",
            raw.network_isolation.is_some(),
            preset.network_isolation,
            eff.network_isolation,
            true,
        ),
        (
            "dnsIsolation",
            raw.dns_isolation.is_some(),
            preset.dns_isolation,
            eff.dns_isolation,
            true,
        ),
        (
            "storageIsolation",
            raw.storage_isolation.is_some(),
            preset.storage_isolation,
            eff.storage_isolation,
            true,
        ),
        (
            "pvAccessControl",
            raw.pv_access_control.is_some(),
            preset.pv_access_control,
            eff.pv_access_control,
            true,
        ),
        (
            "appArmor",
            raw.app_armor.is_some(),
            preset.app_armor,
            eff.app_armor,
            true,
        ),
        (
            "selinux",
            raw.selinux.is_some(),
            preset.selinux,
            eff.selinux,
            true,
        ),
        (
            "secretsEncryption",
            raw.secrets_encryption.is_some(),
            preset.secrets_encryption,
            eff.secrets_encryption,
            true,
        ),
        (
            "encryptionAtRest",
            raw.encryption_at_rest.is_some(),
            preset.encryption_at_rest,
            eff.encryption_at_rest,
            true,
        ),
        (
            "apiAudit",
            raw.api_audit.is_some(),
            preset.api_audit,
            eff.api_audit,
            true,
        ),
        (
            "imageVerification",
            raw.image_verification.is_some(),
            preset.image_verification,
            eff.image_verification,
            true,
        ),
        (
            "requireImagePullPolicyAlways",
            raw.require_image_pull_policy_always.is_some(),
            preset.require_image_pull_policy_always,
            eff.require_image_pull_policy_always,
            true,
        ),
        (
            "allowNodePorts",
            raw.allow_node_ports.is_some(),
            preset.allow_node_ports,
            eff.allow_node_ports,
            false,
        ),
        (
            "allowLoadBalancers",
            raw.allow_load_balancers.is_some(),
            preset.allow_load_balancers,
            eff.allow_load_balancers,
            false,
        ),
        (
            "allowHostNamespaces",
            raw.allow_host_namespaces.is_some(),
            preset.allow_host_namespaces,
            eff.allow_host_namespaces,
            false,
        ),
        (
            "allowHostPath",
            raw.allow_host_path.is_some(),
            preset.allow_host_path,
            eff.allow_host_path,
            false,
        ),
    ];
    for (field, set, preset_v, v, safe) in flags {
        if set && preset_v == safe && v != safe {
            g.warn(
                format!("spec.isolation.{field}"),
                format!("{v} weakens the {level} preset ({preset_v}) (informational)"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let i = parse_image("ghcr.io/pilab-hu/pishop/api:v1.2.3").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.repository, "ghcr.io/pilab-hu/pishop/api");
        assert_eq!(i.tag.as_deref(), Some("v1.2.3"));
        let i = parse_image("registry.example.com:5000/team/app").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.repository, "registry.example.com:5000/team/app");
        assert!(i.tag.is_none());
        assert!(
            parse_image(
                "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            )
            .is_ok()
        );
        assert!(parse_image("Ghcr.io/Org/App:1").is_err());
        assert!(parse_image("ghcr.io/org/app:").is_err());
        assert!(parse_image("").is_err());
    }

    #[test]
    fn registry_prefixes_match_like_the_admission_policy() {
        assert!(registry_matches("ghcr.io", "ghcr.io/org/app:1"));
        assert!(registry_matches("ghcr.io/org", "ghcr.io/org/app"));
        assert!(registry_matches("ghcr.io/org/", "ghcr.io/org/app"));
        assert!(!registry_matches("ghcr.io/org", "ghcr.io/organisation/app"));
        assert!(!registry_matches("ghcr.i", "ghcr.io/org/app"));
        assert!(registry_matches("ghcr.io/org/app", "ghcr.io/org/app:1"));
        assert!(registry_matches(
            "ghcr.io/org/app",
            "ghcr.io/org/app@sha256:00"
        ));
        assert!(!registry_matches("registry.local", "registry.local:5000/x"));
        assert!(registry_matches("docker.io", "nginx:1.27"));
        assert!(registry_matches("docker.io/library", "nginx"));
        assert!(registry_matches("docker.io/library", "docker.io/nginx"));
        assert!(registry_matches("index.docker.io/bitnami", "bitnami/redis"));
        assert!(!registry_matches("docker.io/library", "bitnami/redis"));
        assert!(entry_covers("docker.io", "docker.io/acme"));
        assert!(!entry_covers("docker.io/acme", "docker.io"));
    }

    #[test]
    fn registry_entries() {
        assert!(registry_entry_error("ghcr.io/org").is_none());
        assert!(registry_entry_error("registry.local:5000").is_none());
        assert!(registry_entry_error("ghcr.io/org/app:1").is_none());
        assert!(registry_entry_error("https://ghcr.io").is_some());
        assert!(registry_entry_error("ghcr.io/*").is_some());
        assert!(registry_entry_error("ghcr.io/Org").is_some());
    }
}
