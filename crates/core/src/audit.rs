//! The kube-apiserver audit policy (`audit.k8s.io/v1` `Policy`) that audits each tenant's
//! namespace at the tenant's effective `auditLevel` (`kubectl tenant audit-policy`).
//!
//! An audit policy is cluster-wide and read by the API server at start-up
//! (`--audit-policy-file`), so the operator cannot apply it; the platform generates it from the
//! Tenants and hands it to the API server. Its rules are first-match, a request that matches no
//! rule is not logged, and a rule's `namespaces` matches namespaced requests only. The order
//! built here (each rule's namespaces sorted):
//!
//! 1. the namespaces of audited tenants at level `None`: `None`, credentials included;
//! 2. the [`CREDENTIALS`] in every other audited tenant namespace at `Metadata`;
//! 3. one rule per level (`RequestResponse`, `Request`, `Metadata`): the namespaces of the
//!    audited tenants at that level, everything in them;
//! 4. the [`CREDENTIALS`] anywhere else at the catch-all level, but never above `Metadata`;
//! 5. health and version probes at `None` (they would flood the log at any other level);
//! 6. everything else at the catch-all level (default `Metadata`: a platform keeps auditing
//!    who did what outside the tenants' namespaces).
//!
//! Rules are grouped by level rather than written per tenant: the same first-match result with
//! at most five tenant rules, however many tenants (a thousand tenants would otherwise be two
//! thousand rules). No request body of a Secret, a token or a Tenant's plaintext password is
//! ever logged, whatever a tenant or the platform asks for.

use crate::presets::Effective;
use serde::Serialize;
use tenant_api::{AuditLevel, Tenant};

/// The catch-all level when the platform names none: who did what to which object, without
/// bodies. `None` would silently end the platform's own auditing outside the tenants.
pub const DEFAULT_LEVEL: AuditLevel = AuditLevel::Metadata;

/// The most detail a request carrying credentials is ever logged at: `Metadata` records who
/// touched which object, never its body.
pub const CREDENTIALS_MAX: AuditLevel = AuditLevel::Metadata;

/// Resources whose request or response bodies carry credentials in this product, by API group:
/// Secrets (the tenant's `tenant-connections`, registry pull secrets), TokenRequests
/// (`serviceaccounts/token`: the response is a token), TokenReviews (the request is a token), and
/// the Tenant and PRStack objects themselves (`mongoPassword`, `redisPassword` and data-store
/// URLs may hold passwords in plain text). ConfigMaps are not here: the operator puts no
/// credentials in them (`tenant-config` holds identity, features and log settings).
pub const CREDENTIALS: &[(&str, &[&str])] = &[
    ("", &["secrets", "serviceaccounts/token"]),
    ("authentication.k8s.io", &["tokenreviews"]),
    (tenant_api::GROUP, &["tenants", "prstacks"]),
];

/// Non-resource URLs of health and version probes, not logged at all.
pub const PROBES: [&str; 4] = ["/healthz*", "/livez*", "/readyz*", "/version"];

/// An `audit.k8s.io/v1` `Policy`, with the fields this module writes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub omit_stages: Vec<Stage>,
    /// Drops `metadata.managedFields` from logged bodies (noise, no audit value).
    pub omit_managed_fields: bool,
    pub rules: Vec<PolicyRule>,
}

/// An audit stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

/// One rule: requests matching every non-empty field are logged at `level`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Serialized as Kubernetes spells it (`None`, `Metadata`, `Request`, `RequestResponse`).
    pub level: AuditLevel,
    /// Namespaces the rule matches (namespaced requests only); empty: every namespace and
    /// cluster-scoped requests too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Resources the rule matches; empty: all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<GroupResources>,
    /// Non-resource URL paths (`*` only as the final step).
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

/// Resources of one API group (`""` is the core group).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupResources {
    pub group: String,
    pub resources: Vec<String>,
}

impl PolicyRule {
    /// A rule matching every request, at `level`.
    pub fn all(level: AuditLevel) -> PolicyRule {
        PolicyRule {
            level,
            namespaces: Vec::new(),
            resources: Vec::new(),
            non_resource_urls: Vec::new(),
        }
    }
}

/// Why no policy could be built.
#[derive(Debug, thiserror::Error)]
pub enum AuditPolicyError {
    #[error(
        "Tenant {tenant}: namespace {namespace:?} is not a DNS label (at most 63 lower-case letters, digits and '-'), so no audit rule can name it"
    )]
    Namespace { tenant: String, namespace: String },
}

impl AuditPolicyError {
    /// A short, bounded category for metrics and messages.
    pub fn category(&self) -> &'static str {
        match self {
            AuditPolicyError::Namespace { .. } => "invalid-namespace",
        }
    }
}

/// Parses a level as Kubernetes spells it (`None`, `Metadata`, `Request`, `RequestResponse`;
/// any case).
pub fn parse_level(s: &str) -> Result<AuditLevel, String> {
    [
        AuditLevel::None,
        AuditLevel::Metadata,
        AuditLevel::Request,
        AuditLevel::RequestResponse,
    ]
    .into_iter()
    .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    .ok_or_else(|| format!("{s:?}: expected None, Metadata, Request or RequestResponse"))
}

/// One audited namespace and its level.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Audited {
    namespace: String,
    level: AuditLevel,
}

/// The policy for these Tenants, with `default_level` for every request no tenant rule matches.
/// Tenants with `apiAudit` off (after presets) get no rules of their own: the catch-all applies
/// in their namespaces. Two Tenants naming one namespace (a claim conflict the operator
/// refuses) give that namespace the more detailed level.
pub fn policy(tenants: &[Tenant], default_level: AuditLevel) -> Result<Policy, AuditPolicyError> {
    let mut audited: Vec<Audited> = Vec::new();
    for t in tenants {
        let eff = Effective::of(t);
        if !is_dns_label(&eff.namespace) {
            return Err(AuditPolicyError::Namespace {
                tenant: format!(
                    "{}/{}",
                    t.metadata.namespace.as_deref().unwrap_or("default"),
                    t.metadata.name.as_deref().unwrap_or("<no name>")
                ),
                namespace: eff.namespace,
            });
        }
        if eff.isolation.api_audit {
            audited.push(Audited {
                namespace: eff.namespace,
                level: eff.isolation.audit_level,
            });
        }
    }
    // by namespace, the most detailed level first; then one entry per namespace
    audited.sort_by(|a, b| {
        a.namespace
            .cmp(&b.namespace)
            .then_with(|| b.level.cmp(&a.level))
    });
    audited.dedup_by(|later, first| later.namespace == first.namespace);

    let in_level = |pick: &dyn Fn(AuditLevel) -> bool| -> Vec<String> {
        audited
            .iter()
            .filter(|a| pick(a.level))
            .map(|a| a.namespace.clone())
            .collect()
    };
    let mut rules = Vec::new();
    // Tenants at None first: nothing of theirs is logged, credentials included.
    let silent = in_level(&|l| l == AuditLevel::None);
    if !silent.is_empty() {
        rules.push(PolicyRule {
            namespaces: silent,
            ..PolicyRule::all(AuditLevel::None)
        });
    }
    // Then credentials in every other audited namespace, before the rules that log bodies.
    let logged = in_level(&|l| l > AuditLevel::None);
    if !logged.is_empty() {
        rules.push(PolicyRule {
            namespaces: logged,
            resources: credentials(),
            ..PolicyRule::all(CREDENTIALS_MAX)
        });
    }
    for level in [
        AuditLevel::RequestResponse,
        AuditLevel::Request,
        AuditLevel::Metadata,
    ] {
        let namespaces = in_level(&|l| l == level);
        if !namespaces.is_empty() {
            rules.push(PolicyRule {
                namespaces,
                ..PolicyRule::all(level)
            });
        }
    }
    rules.push(PolicyRule {
        resources: credentials(),
        ..PolicyRule::all(default_level.min(CREDENTIALS_MAX))
    });
    if default_level != AuditLevel::None {
        rules.push(PolicyRule {
            non_resource_urls: PROBES.iter().map(|u| u.to_string()).collect(),
            ..PolicyRule::all(AuditLevel::None)
        });
    }
    rules.push(PolicyRule::all(default_level));
    Ok(Policy {
        api_version: "audit.k8s.io/v1",
        kind: "Policy",
        omit_stages: vec![Stage::RequestReceived],
        omit_managed_fields: true,
        rules,
    })
}

fn credentials() -> Vec<GroupResources> {
    CREDENTIALS
        .iter()
        .map(|(group, resources)| GroupResources {
            group: group.to_string(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
        })
        .collect()
}

/// RFC 1123 label: what a namespace name is.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant(name: &str, isolation: serde_json::Value) -> Tenant {
        serde_json::from_value(json!({
            "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "Tenant",
            "metadata": {"name": name, "namespace": "tenants"},
            "spec": {"tenantId": name, "tenantType": "production", "isolation": isolation},
        }))
        .unwrap()
    }

    /// A request as the policy checker sees it.
    struct Req<'a> {
        namespace: &'a str,
        group: &'a str,
        resource: &'a str,
        subresource: &'a str,
        url: &'a str,
    }

    fn res<'a>(namespace: &'a str, group: &'a str, resource: &'a str) -> Req<'a> {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Req {
            namespace,
            group,
            resource,
            subresource,
            url: "",
        }
    }

    fn url(url: &str) -> Req<'_> {
        Req {
            namespace: "",
            group: "",
            resource: "",
            subresource: "",
            url,
        }
    }

    /// The first-match evaluation of kube-apiserver's policy checker
    /// (k8s.io/apiserver/pkg/audit/policy/checker.go), for the fields this module writes.
    fn level_of(p: &Policy, r: &Req) -> &'static str {
        level_of_rules(p, r).as_str()
    }

    fn level_of_rules(p: &Policy, r: &Req) -> AuditLevel {
        let is_resource = r.url.is_empty();
        let combined = if r.subresource.is_empty() {
            r.resource.to_string()
        } else {
            format!("{}/{}", r.resource, r.subresource)
        };
        for rule in &p.rules {
            let matches = if !rule.namespaces.is_empty() || !rule.resources.is_empty() {
                is_resource
                    && (rule.namespaces.is_empty()
                        || rule.namespaces.iter().any(|n| n == r.namespace))
                    && (rule.resources.is_empty()
                        || rule
                            .resources
                            .iter()
                            .any(|g| g.group == r.group && g.resources.contains(&combined)))
            } else if !rule.non_resource_urls.is_empty() {
                !is_resource
                    && rule
                        .non_resource_urls
                        .iter()
                        .any(|u| match u.strip_suffix('*') {
                            Some(prefix) => r.url.starts_with(prefix),
                            None => r.url == u,
                        })
            } else {
                true
            };
            if matches {
                return rule.level;
            }
        }
        AuditLevel::None
    }

    #[test]
    fn audited_tenant_gets_its_level_and_secrets_stay_at_metadata() {
        let p = policy(
            &[
                tenant(
                    "a",
                    json!({"apiAudit": true, "auditLevel": "RequestResponse"}),
                ),
                tenant("b", json!({"apiAudit": false})),
            ],
            DEFAULT_LEVEL,
        )
        .unwrap();
        let (a, b) = ("tenant-a-production", "tenant-b-production");
        assert_eq!(level_of(&p, &res(a, "", "configmaps")), "RequestResponse");
        assert_eq!(
            level_of(&p, &res(a, "apps", "deployments")),
            "RequestResponse"
        );
        assert_eq!(level_of(&p, &res(a, "", "pods/log")), "RequestResponse");
        assert_eq!(level_of(&p, &res(a, "", "secrets")), "Metadata");
        assert_eq!(
            level_of(&p, &res(a, "", "serviceaccounts/token")),
            "Metadata"
        );
        assert_eq!(
            level_of(&p, &res(a, "shop.pilab.hu", "tenants")),
            "Metadata"
        );
        // the unaudited tenant and the rest of the cluster: the catch-all
        assert_eq!(level_of(&p, &res(b, "", "configmaps")), "Metadata");
        assert_eq!(level_of(&p, &res(b, "", "secrets")), "Metadata");
        assert_eq!(level_of(&p, &res("", "", "namespaces")), "Metadata");
        assert_eq!(level_of(&p, &url("/api/v1")), "Metadata");
        assert_eq!(level_of(&p, &url("/readyz")), "None");
        assert_eq!(level_of(&p, &url("/livez/ping")), "None");
    }

    #[test]
    fn credentials_are_never_logged_above_metadata() {
        let levels = ["None", "Metadata", "Request", "RequestResponse"];
        let tenants: Vec<Tenant> = levels
            .iter()
            .map(|l| {
                tenant(
                    &l.to_ascii_lowercase(),
                    json!({"apiAudit": true, "auditLevel": l}),
                )
            })
            .collect();
        for default in levels {
            let p = policy(&tenants, parse_level(default).unwrap()).unwrap();
            for ns in [
                "tenant-none-production",
                "tenant-requestresponse-production",
                "tenant-request-production",
                "kube-system",
                "",
            ] {
                for (group, resources) in CREDENTIALS {
                    for r in *resources {
                        let got = level_of(&p, &res(ns, group, r));
                        assert!(
                            got == "None" || got == "Metadata",
                            "{group}/{r} in {ns:?} at {got} (catch-all {default})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_tenant_at_none_logs_nothing_in_its_namespace_even_secrets() {
        let p = policy(
            &[tenant("q", json!({"apiAudit": true, "auditLevel": "None"}))],
            AuditLevel::RequestResponse,
        )
        .unwrap();
        let ns = "tenant-q-production";
        assert_eq!(level_of(&p, &res(ns, "", "secrets")), "None");
        assert_eq!(level_of(&p, &res(ns, "", "configmaps")), "None");
        assert_eq!(
            level_of(&p, &res("other", "", "configmaps")),
            "RequestResponse"
        );
        assert_eq!(level_of(&p, &res("other", "", "secrets")), "Metadata");
    }

    #[test]
    fn presets_count() {
        // no isolation section: standard, audited at Metadata; permissive: not audited
        let p = policy(
            &[
                tenant("std", json!({})),
                tenant("strict", json!({"isolationLevel": "strict"})),
                tenant("perm", json!({"isolationLevel": "permissive"})),
            ],
            AuditLevel::None,
        )
        .unwrap();
        let namespaces: Vec<&[String]> = p
            .rules
            .iter()
            .filter(|r| !r.namespaces.is_empty())
            .map(|r| r.namespaces.as_slice())
            .collect();
        let (std, strict) = (
            "tenant-std-production".to_string(),
            "tenant-strict-production".to_string(),
        );
        assert_eq!(
            namespaces,
            [
                &[std.clone(), strict.clone()][..],
                &[strict][..],
                &[std][..]
            ]
        );
        assert_eq!(
            level_of(&p, &res("tenant-std-production", "", "pods")),
            "Metadata"
        );
        assert_eq!(
            level_of(&p, &res("tenant-strict-production", "", "pods")),
            "RequestResponse"
        );
        assert_eq!(
            level_of(&p, &res("tenant-perm-production", "", "pods")),
            "None"
        );
        // a None catch-all needs no probe rule
        assert!(p.rules.iter().all(|r| r.non_resource_urls.is_empty()));
    }

    #[test]
    fn rules_are_sorted_by_namespace_whatever_the_input_order() {
        let a = tenant("alpha", json!({}));
        let z = tenant("zulu", json!({}));
        let p1 = policy(&[z.clone(), a.clone()], DEFAULT_LEVEL).unwrap();
        let p2 = policy(&[a, z], DEFAULT_LEVEL).unwrap();
        assert_eq!(p1, p2);
        let both = ["tenant-alpha-production", "tenant-zulu-production"];
        assert_eq!(p1.rules[0].namespaces, both);
        assert_eq!(p1.rules[1].namespaces, both);
    }

    #[test]
    fn many_tenants_still_give_at_most_five_tenant_rules() {
        let tenants: Vec<Tenant> = (0..1000)
            .map(|i| {
                let level = ["None", "Metadata", "Request", "RequestResponse"][i % 4];
                tenant(
                    &format!("t{i}"),
                    json!({"apiAudit": true, "auditLevel": level}),
                )
            })
            .collect();
        let p = policy(&tenants, DEFAULT_LEVEL).unwrap();
        assert_eq!(p.rules.len(), 5 + 3);
        assert_eq!(
            level_of(&p, &res("tenant-t3-production", "", "pods")),
            "RequestResponse"
        );
        assert_eq!(
            level_of(&p, &res("tenant-t3-production", "", "secrets")),
            "Metadata"
        );
        assert_eq!(
            level_of(&p, &res("tenant-t4-production", "", "secrets")),
            "None"
        );
    }

    #[test]
    fn one_namespace_twice_keeps_the_more_detailed_level() {
        let mut low = tenant("x", json!({"auditLevel": "Metadata"}));
        low.metadata.name = Some("x-low".into());
        let high = tenant("x", json!({"auditLevel": "Request"}));
        let p = policy(&[low, high], DEFAULT_LEVEL).unwrap();
        assert_eq!(p.rules[1].namespaces, ["tenant-x-production"]);
        assert_eq!(p.rules[1].level, AuditLevel::Request);
        assert_eq!(p.rules.len(), 2 + 3);
        assert_eq!(
            level_of(&p, &res("tenant-x-production", "", "pods")),
            "Request"
        );
    }

    #[test]
    fn the_policy_has_the_kubernetes_shape() {
        let p = policy(&[tenant("a", json!({}))], DEFAULT_LEVEL).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(v["kind"], "Policy");
        assert_eq!(v["omitStages"], json!(["RequestReceived"]));
        assert_eq!(v["omitManagedFields"], true);
        assert_eq!(
            v["rules"][0],
            json!({
                "level": "Metadata",
                "namespaces": ["tenant-a-production"],
                "resources": [
                    {"group": "", "resources": ["secrets", "serviceaccounts/token"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                    {"group": "shop.pilab.hu", "resources": ["tenants", "prstacks"]},
                ],
            })
        );
        assert_eq!(
            v["rules"][1],
            json!({"level": "Metadata", "namespaces": ["tenant-a-production"]})
        );
        assert_eq!(
            v["rules"][3],
            json!({"level": "None", "nonResourceURLs": PROBES})
        );
        assert_eq!(v["rules"][4], json!({"level": "Metadata"}));
    }

    #[test]
    fn a_namespace_unfit_for_a_policy_is_an_error() {
        let t: Tenant = serde_json::from_value(json!({
            "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "Tenant",
            "metadata": {"name": "bad", "namespace": "tenants"},
            "spec": {"tenantId": "bad", "tenantType": "production",
                     "namespaceConfig": {"name": "Bad_NS\n- level: None"}},
        }))
        .unwrap();
        let e = policy(&[t], DEFAULT_LEVEL).unwrap_err();
        assert_eq!(e.category(), "invalid-namespace");
        assert!(e.to_string().contains("tenants/bad"), "{e}");
        for bad in ["", "-a", "a-", "A", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
        assert!(is_dns_label(&"a".repeat(63)) && is_dns_label("a-0"));
    }

    #[test]
    fn levels_parse_in_any_case() {
        assert_eq!(
            parse_level("requestresponse"),
            Ok(AuditLevel::RequestResponse)
        );
        assert_eq!(parse_level("None"), Ok(AuditLevel::None));
        assert!(parse_level("Verbose").is_err());
    }
}
