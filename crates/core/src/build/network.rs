//! NetworkPolicies (`networkPolicy`), rendered only when the
//! effective `network_isolation` is on. Everything is denied by `tenant-default-deny`; each
//! further policy allows one kind of traffic and is left out when it would allow nothing:
//!
//! | policy | allows |
//! |---|---|
//! | `tenant-allow-same-tenant` | in from / out to every namespace of the same tenantId |
//! | `tenant-allow-dns` | out to port 53 (UDP+TCP) of the cluster DNS and `allowedDnsCIDRs` |
//! | `tenant-allow-ingress-controller` | in from `ingressControllerNamespaces` (when `ingressEnabled`) |
//! | `tenant-allow-from-namespaces` | in from `allowFromNamespaces` |
//! | `tenant-allow-from-pods` | in from pods matching an `allowFromPods` label set in the tenant's own namespaces, and from `allowFromPodsInNamespaces` |
//! | `tenant-allow-to-namespaces` | out to `allowToNamespaces` |
//! | `tenant-allow-external` | out to `allowedExternalCIDRs` (when `allowToExternal`) |
//!
//! Decisions:
//! - "Same tenant" selects namespaces carrying both `shop.pilab.hu/tenant-id={tenantId}` and
//!   `shop.pilab.hu/tenant-namespace=true`, i.e. namespaces the operator made for that tenant.
//! - `egressEnabled: false` renders no egress allow rule at all (same tenant and DNS included):
//!   only the default deny applies to egress.
//! - DNS: with `dnsIsolation` (every preset's default) only to kube-system pods labelled
//!   `k8s-app=kube-dns` and to `allowedDnsCIDRs` (named on purpose, e.g. a node-local cache at
//!   169.254.20.10/32, so kept as is); with `dnsIsolation: false` to any destination on port 53,
//!   which lets a pod tunnel through any resolver outside the cluster.
//! - Pod selectors are always paired with a namespace selector nobody but the operator and the
//!   API server can satisfy at will: an `allowFromPods` label set with the same-tenant namespaces
//!   (the labels the namespace admission policy protects), an `allowFromPodsInNamespaces` entry
//!   with the namespaces' names (`kubernetes.io/metadata.name`, set by the API server). A pod
//!   selector with `namespaceSelector: {}` would admit any pod of any namespace carrying the
//!   labels, and every tenant can label its own pods.
//! - `allowedPorts` / `blockedPorts` (TCP) limit only the rules the spec lists, which cross the
//!   tenant boundary but for `allowFromPods` (ingress controller, from/to namespaces, from pods
//!   in both forms, external), never same-tenant or DNS.
//!   The allowed set (`allowedPorts`, or all ports) minus `blockedPorts` is rendered as TCP port
//!   ranges (`port` + `endPort`); with only `blockedPorts`, UDP stays fully open since the block
//!   list is TCP. If nothing is left, the boundary-crossing rules are left out (an empty port
//!   list would mean *all* ports).
//! - An external CIDR that contains private or link-local ranges gets them as `except`
//!   (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16; fc00::/7, fe80::/10): most
//!   CNIs match pod and node IPs with ipBlocks, so `0.0.0.0/0` would otherwise allow every pod of
//!   every tenant (and the cloud metadata endpoint). A CIDR inside a private range was named on
//!   purpose and is kept as is.

use crate::build::namespace::object_meta;
use crate::build::{BuildContext, BuildError};
use crate::object::Object;
use crate::presets::Effective;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::net::IpAddr;
use tenant_api::{Tenant, labels};

pub const DEFAULT_DENY: &str = "tenant-default-deny";
pub const ALLOW_SAME_TENANT: &str = "tenant-allow-same-tenant";
pub const ALLOW_DNS: &str = "tenant-allow-dns";
pub const ALLOW_INGRESS_CONTROLLER: &str = "tenant-allow-ingress-controller";
pub const ALLOW_FROM_NAMESPACES: &str = "tenant-allow-from-namespaces";
pub const ALLOW_FROM_PODS: &str = "tenant-allow-from-pods";
pub const ALLOW_TO_NAMESPACES: &str = "tenant-allow-to-namespaces";
pub const ALLOW_EXTERNAL: &str = "tenant-allow-external";

/// Ranges excluded from a broader external CIDR (see the module docs).
pub const PRIVATE_V4: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
];
pub const PRIVATE_V6: [&str; 2] = ["fc00::/7", "fe80::/10"];

const INGRESS: &str = "Ingress";
const EGRESS: &str = "Egress";
const MAX_PORT: i32 = 65535;

/// A parsed CIDR: network address (host bits cleared) and prefix length.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cidr {
    addr: u128,
    prefix: u32,
    v6: bool,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = s.split_once('/')?;
        let prefix: u32 = prefix.parse().ok()?;
        let (addr, v6, bits) = match ip.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => (u128::from(u32::from(a)), false, 32),
            IpAddr::V6(a) => (u128::from(a), true, 128),
        };
        if prefix > bits {
            return None;
        }
        let host_bits = bits - prefix;
        let mask = if host_bits >= 128 {
            0
        } else {
            !0u128 << host_bits
        };
        Some(Cidr {
            addr: addr & mask,
            prefix,
            v6,
        })
    }

    /// Whether `other` lies inside `self` and is strictly smaller.
    fn strictly_contains(&self, other: &Cidr) -> bool {
        if self.v6 != other.v6 || other.prefix <= self.prefix {
            return false;
        }
        let bits = if self.v6 { 128 } else { 32 };
        let host_bits = bits - self.prefix;
        let mask = if host_bits >= 128 {
            0
        } else {
            !0u128 << host_bits
        };
        other.addr & mask == self.addr
    }
}

/// The private and link-local ranges strictly inside `cidr` (its `except` list).
fn private_exceptions(cidr: &Cidr) -> Vec<String> {
    let ranges: &[&str] = if cidr.v6 { &PRIVATE_V6 } else { &PRIVATE_V4 };
    ranges
        .iter()
        .filter(|r| Cidr::parse(r).is_some_and(|p| cidr.strictly_contains(&p)))
        .map(|r| r.to_string())
        .collect()
}

/// Inclusive port ranges of `allowed` (all ports when empty) minus `blocked`, merged.
pub fn port_ranges(allowed: &[i32], blocked: &[i32]) -> Vec<(i32, i32)> {
    let mut allowed: Vec<i32> = if allowed.is_empty() {
        (1..=MAX_PORT).collect()
    } else {
        allowed.to_vec()
    };
    allowed.sort_unstable();
    allowed.dedup();
    let mut ranges: Vec<(i32, i32)> = Vec::new();
    for p in allowed.into_iter().filter(|p| !blocked.contains(p)) {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => ranges.push((p, p)),
        }
    }
    ranges
}

/// The ports of the boundary-crossing rules: `None` for all ports, `Some(empty)` for none.
fn boundary_ports(allowed: &[i32], blocked: &[i32]) -> Option<Vec<NetworkPolicyPort>> {
    if allowed.is_empty() && blocked.is_empty() {
        return None;
    }
    let mut ports: Vec<NetworkPolicyPort> = port_ranges(allowed, blocked)
        .into_iter()
        .map(|(start, end)| NetworkPolicyPort {
            protocol: Some("TCP".into()),
            port: Some(IntOrString::Int(start)),
            end_port: (end > start).then_some(end),
        })
        .collect();
    if allowed.is_empty() && !ports.is_empty() {
        // blockedPorts are TCP ports: UDP stays open
        ports.push(NetworkPolicyPort {
            protocol: Some("UDP".into()),
            ..Default::default()
        });
    }
    Some(ports)
}

fn invalid(field: String, message: String) -> BuildError {
    BuildError::Invalid { field, message }
}

fn check_ports(field: &str, ports: &[i32]) -> Result<(), BuildError> {
    match ports.iter().position(|p| !(1..=MAX_PORT).contains(p)) {
        Some(i) => Err(invalid(
            format!("spec.networkPolicy.{field}[{i}]"),
            format!("{} is not a port number 1-65535", ports[i]),
        )),
        None => Ok(()),
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

fn match_labels(pairs: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(pairs),
        match_expressions: None,
    }
}

/// Namespaces by name (the `kubernetes.io/metadata.name` label the apiserver sets).
fn namespaces_named(names: &[String]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: labels::NAMESPACE_NAME.into(),
                operator: "In".into(),
                values: Some(sorted(names)),
            }]),
        }),
        ..Default::default()
    }
}

/// The namespaces the operator made for `tenant_id` (labels the admission policies protect).
fn same_tenant_namespaces(tenant_id: &str) -> LabelSelector {
    match_labels(BTreeMap::from([
        (labels::TENANT_ID.to_string(), tenant_id.to_string()),
        (labels::TENANT_NAMESPACE.to_string(), "true".to_string()),
    ]))
}

fn same_tenant(tenant_id: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(same_tenant_namespaces(tenant_id)),
        ..Default::default()
    }
}

/// The kube-system pods of the cluster DNS (CoreDNS and kube-dns both carry `k8s-app=kube-dns`).
fn cluster_dns() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(match_labels(BTreeMap::from([(
            labels::NAMESPACE_NAME.to_string(),
            "kube-system".to_string(),
        )]))),
        pod_selector: Some(match_labels(BTreeMap::from([(
            "k8s-app".to_string(),
            "kube-dns".to_string(),
        )]))),
        ip_block: None,
    }
}

/// Pods carrying every label of `set` in the tenant's own namespaces.
fn own_pods(tenant_id: &str, set: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(same_tenant_namespaces(tenant_id)),
        pod_selector: Some(match_labels(set)),
        ip_block: None,
    }
}

/// Pods carrying every label of `set` in the namespaces `names` names.
fn pods_in_namespaces(names: &[String], set: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(match_labels(set)),
        ..namespaces_named(names)
    }
}

/// The CIDRs of `field` as ipBlock peers, sorted, or the error naming the bad entry.
fn cidr_peers(
    field: &str,
    cidrs: &[String],
    except: fn(&Cidr) -> Vec<String>,
) -> Result<Vec<NetworkPolicyPeer>, BuildError> {
    let mut peers = Vec::new();
    for (i, c) in cidrs.iter().enumerate() {
        let parsed = Cidr::parse(c).ok_or_else(|| {
            invalid(
                format!("spec.networkPolicy.{field}[{i}]"),
                format!("{c:?} is not a CIDR"),
            )
        })?;
        let except = except(&parsed);
        peers.push(NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: c.clone(),
                except: (!except.is_empty()).then_some(except),
            }),
            ..Default::default()
        });
    }
    let cidr = |p: &NetworkPolicyPeer| p.ip_block.as_ref().map(|b| b.cidr.clone());
    peers.sort_by_key(cidr);
    peers.dedup();
    Ok(peers)
}

fn ingress(
    from: Vec<NetworkPolicyPeer>,
    ports: Option<Vec<NetworkPolicyPort>>,
) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(from),
        ports,
    }
}

fn egress(
    to: Option<Vec<NetworkPolicyPeer>>,
    ports: Option<Vec<NetworkPolicyPort>>,
) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule { to, ports }
}

type Rules = (
    &'static str,
    Vec<NetworkPolicyIngressRule>,
    Vec<NetworkPolicyEgressRule>,
);

/// The allow policies' rules, in order; a policy whose rule lists are both empty is dropped.
/// `crossing` holds the ports of the boundary-crossing rules (`None`: all ports).
fn allow_rules(
    eff: &Effective,
    crossing: Option<Vec<NetworkPolicyPort>>,
) -> Result<Vec<Rules>, BuildError> {
    let n = &eff.network;
    let egress_on = n.egress_enabled;
    let mut rules: Vec<Rules> = Vec::new();

    rules.push((
        ALLOW_SAME_TENANT,
        n.allow_from_same_tenant
            .then(|| ingress(vec![same_tenant(&eff.tenant_id)], None))
            .into_iter()
            .collect(),
        (egress_on && n.allow_to_same_tenant)
            .then(|| egress(Some(vec![same_tenant(&eff.tenant_id)]), None))
            .into_iter()
            .collect(),
    ));

    let dns_ports = vec![
        NetworkPolicyPort {
            protocol: Some("UDP".into()),
            port: Some(IntOrString::Int(53)),
            end_port: None,
        },
        NetworkPolicyPort {
            protocol: Some("TCP".into()),
            port: Some(IntOrString::Int(53)),
            end_port: None,
        },
    ];
    // Checked even when no DNS rule is rendered, so bad input never passes silently.
    let dns_blocks = cidr_peers("allowedDnsCIDRs", &n.allowed_dns_cidrs, |_| Vec::new())?;
    let dns_to = n.dns_isolation.then(|| {
        let mut to = vec![cluster_dns()];
        to.extend(dns_blocks);
        to
    });
    rules.push((
        ALLOW_DNS,
        vec![],
        (egress_on && n.allow_to_dns)
            .then(|| egress(dns_to, Some(dns_ports)))
            .into_iter()
            .collect(),
    ));

    // Checked even when no boundary rule is rendered, so bad input never passes silently.
    if let Some(i) = n.allow_from_pods.iter().position(BTreeMap::is_empty) {
        return Err(invalid(
            format!("spec.networkPolicy.allowFromPods[{i}]"),
            "an empty label set would select every pod of the tenant's namespaces".into(),
        ));
    }
    for (i, p) in n.allow_from_pods_in_namespaces.iter().enumerate() {
        let field = |sub: &str| format!("spec.networkPolicy.allowFromPodsInNamespaces[{i}].{sub}");
        if p.namespaces.is_empty() {
            return Err(invalid(field("namespaces"), "names no namespace".into()));
        }
        if p.pod_labels.is_empty() {
            return Err(invalid(
                field("podLabels"),
                "an empty label set would select every pod of the namespaces (allowFromNamespaces says that)".into(),
            ));
        }
    }
    let blocks = cidr_peers(
        "allowedExternalCIDRs",
        &n.allowed_external_cidrs,
        private_exceptions,
    )?;

    if crossing.as_ref().is_some_and(Vec::is_empty) {
        // every port is blocked: nothing crosses the tenant boundary
        return Ok(rules);
    }

    let controllers =
        (n.ingress_enabled && !n.ingress_controller_namespaces.is_empty()).then(|| {
            ingress(
                vec![namespaces_named(&n.ingress_controller_namespaces)],
                crossing.clone(),
            )
        });
    rules.push((
        ALLOW_INGRESS_CONTROLLER,
        controllers.into_iter().collect(),
        vec![],
    ));

    let from_ns = (!n.allow_from_namespaces.is_empty()).then(|| {
        ingress(
            vec![namespaces_named(&n.allow_from_namespaces)],
            crossing.clone(),
        )
    });
    rules.push((ALLOW_FROM_NAMESPACES, from_ns.into_iter().collect(), vec![]));

    let mut pod_sets = n.allow_from_pods.clone();
    pod_sets.sort();
    pod_sets.dedup();
    let mut in_namespaces: Vec<(Vec<String>, BTreeMap<String, String>)> = n
        .allow_from_pods_in_namespaces
        .iter()
        .map(|p| (sorted(&p.namespaces), p.pod_labels.clone()))
        .collect();
    in_namespaces.sort();
    in_namespaces.dedup();
    let peers: Vec<NetworkPolicyPeer> = pod_sets
        .into_iter()
        .map(|set| own_pods(&eff.tenant_id, set))
        .chain(
            in_namespaces
                .into_iter()
                .map(|(names, set)| pods_in_namespaces(&names, set)),
        )
        .collect();
    let from_pods = (!peers.is_empty()).then(|| ingress(peers, crossing.clone()));
    rules.push((ALLOW_FROM_PODS, from_pods.into_iter().collect(), vec![]));

    let to_ns = (egress_on && !n.allow_to_namespaces.is_empty()).then(|| {
        egress(
            Some(vec![namespaces_named(&n.allow_to_namespaces)]),
            crossing.clone(),
        )
    });
    rules.push((ALLOW_TO_NAMESPACES, vec![], to_ns.into_iter().collect()));

    let external = (egress_on && n.allow_to_external && !blocks.is_empty())
        .then(|| egress(Some(blocks), crossing.clone()));
    rules.push((ALLOW_EXTERNAL, vec![], external.into_iter().collect()));

    Ok(rules)
}

/// The typed NetworkPolicies, in a fixed order (see the module docs); empty when network
/// isolation is off.
pub fn network_policies(
    tenant: &Tenant,
    eff: &Effective,
) -> Result<Vec<NetworkPolicy>, BuildError> {
    let n = &eff.network;
    if !n.isolated {
        return Ok(Vec::new());
    }
    check_ports("allowedPorts", &n.allowed_ports)?;
    check_ports("blockedPorts", &n.blocked_ports)?;
    // None: all ports; Some(empty): nothing crosses the boundary.
    let crossing = boundary_ports(&n.allowed_ports, &n.blocked_ports);

    let policy = |name: &str,
                  ingress: Vec<NetworkPolicyIngressRule>,
                  egress: Vec<NetworkPolicyEgressRule>,
                  types: Vec<&str>| NetworkPolicy {
        metadata: object_meta(tenant, eff, name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(types.into_iter().map(str::to_string).collect()),
            ingress: (!ingress.is_empty()).then_some(ingress),
            egress: (!egress.is_empty()).then_some(egress),
        }),
    };
    let mut out = vec![policy(DEFAULT_DENY, vec![], vec![], vec![INGRESS, EGRESS])];
    for (name, ing, eg) in allow_rules(eff, crossing)? {
        // policyTypes: exactly the directions the policy has rules for
        let mut types = Vec::new();
        if !ing.is_empty() {
            types.push(INGRESS);
        }
        if !eg.is_empty() {
            types.push(EGRESS);
        }
        if !types.is_empty() {
            out.push(policy(name, ing, eg, types));
        }
    }
    Ok(out)
}

/// The tenant's NetworkPolicies (none when network isolation is off).
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    _ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    network_policies(tenant, eff)?
        .iter()
        .map(|p| Object::from_resource(p).map_err(BuildError::from))
        .collect()
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tenant_api::{
        IsolationLevel, IsolationSpec, NetworkPolicySpec as NetSpec, TenantSpec, TenantType,
    };

    fn tenant(level: IsolationLevel, net: NetSpec) -> Tenant {
        let mut spec = TenantSpec::new("acme", TenantType::Production);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(level),
            ..Default::default()
        });
        spec.network_policy = Some(net);
        let mut t = Tenant::new("acme", spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    fn render(t: &Tenant) -> BTreeMap<String, Value> {
        build(t, &Effective::of(t), &BuildContext::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|o| (o.name, o.manifest))
            .collect()
    }

    fn names(t: &Tenant) -> Vec<String> {
        build(t, &Effective::of(t), &BuildContext::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|o| o.name)
            .collect()
    }

    #[test]
    fn strict_preset_denies_by_default() {
        let t = tenant(IsolationLevel::Strict, NetSpec::default());
        // strict: no external egress by default, no ingress without a customDomain
        assert_eq!(names(&t), vec![DEFAULT_DENY, ALLOW_SAME_TENANT, ALLOW_DNS]);
        let p = render(&t);
        let deny = &p[DEFAULT_DENY];
        assert_eq!(deny["kind"], "NetworkPolicy");
        assert_eq!(deny["metadata"]["namespace"], "tenant-acme-production");
        assert_eq!(
            deny["spec"],
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
        );
        let same = &p[ALLOW_SAME_TENANT]["spec"];
        let peer = json!([{"namespaceSelector": {"matchLabels": {
            "shop.pilab.hu/tenant-id": "acme", "shop.pilab.hu/tenant-namespace": "true"}}}]);
        assert_eq!(same["ingress"][0]["from"], peer);
        assert_eq!(same["egress"][0]["to"], peer);
        assert!(same["ingress"][0].get("ports").is_none());
        // strict isolates DNS to the cluster DNS pods
        let dns = &p[ALLOW_DNS]["spec"];
        assert_eq!(dns["policyTypes"], json!(["Egress"]));
        assert_eq!(
            dns["egress"][0]["to"],
            json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}])
        );
        assert_eq!(
            dns["egress"][0]["ports"],
            json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}])
        );
    }

    #[test]
    fn permissive_preset_renders_no_network_policy() {
        let t = tenant(IsolationLevel::Permissive, NetSpec::default());
        assert!(names(&t).is_empty());
    }

    #[test]
    fn standard_preset_allows_external_except_private_ranges() {
        let t = tenant(IsolationLevel::Standard, NetSpec::default());
        let p = render(&t);
        let ext = &p[ALLOW_EXTERNAL]["spec"];
        assert_eq!(ext["policyTypes"], json!(["Egress"]));
        assert_eq!(
            ext["egress"][0]["to"],
            json!([
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_V4}},
                {"ipBlock": {"cidr": "::/0", "except": PRIVATE_V6}},
            ])
        );
        assert!(ext["egress"][0].get("ports").is_none());
        // the standard preset isolates DNS too: port 53 only to the cluster DNS
        assert_eq!(p[ALLOW_DNS]["spec"]["egress"][0]["to"], cluster_dns_json());
    }

    fn cluster_dns_json() -> Value {
        json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}])
    }

    fn from_yaml(yaml: &str) -> Tenant {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn dns_goes_to_the_cluster_dns_unless_the_spec_opens_it() {
        // every level with network isolation on, permissive included when it turns it on
        for yaml in [
            "{metadata: {name: a}, spec: {tenantId: a, tenantType: production}}",
            "{metadata: {name: a}, spec: {tenantId: a, tenantType: production, isolation: {isolationLevel: strict}}}",
            "{metadata: {name: a}, spec: {tenantId: a, tenantType: production, isolation: {isolationLevel: permissive, networkIsolation: true}}}",
        ] {
            let p = render(&from_yaml(yaml));
            assert_eq!(
                p[ALLOW_DNS]["spec"]["egress"][0]["to"],
                cluster_dns_json(),
                "{yaml}"
            );
        }
        // further resolvers by CIDR, port 53 only, kept as named (no private exceptions)
        let p = render(&from_yaml(
            "{metadata: {name: a}, spec: {tenantId: a, tenantType: production, networkPolicy: {
                allowedDnsCIDRs: [192.0.2.53/32, 169.254.20.10/32, 169.254.20.10/32]}}}",
        ));
        let rule = &p[ALLOW_DNS]["spec"]["egress"][0];
        let mut to = cluster_dns_json();
        if let Some(a) = to.as_array_mut() {
            a.push(json!({"ipBlock": {"cidr": "169.254.20.10/32"}}));
            a.push(json!({"ipBlock": {"cidr": "192.0.2.53/32"}}));
        }
        assert_eq!(rule["to"], to);
        assert_eq!(
            rule["ports"],
            json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}])
        );
        // only an explicit dnsIsolation: false opens port 53 to every destination
        let p = render(&from_yaml(
            "{metadata: {name: a}, spec: {tenantId: a, tenantType: production, isolation: {dnsIsolation: false}}}",
        ));
        let rule = &p[ALLOW_DNS]["spec"]["egress"][0];
        assert!(rule.get("to").is_none());
        assert_eq!(rule["ports"][0]["port"], 53);
    }

    /// Every peer with a pod selector, in every policy.
    fn pod_peers(p: &BTreeMap<String, Value>) -> Vec<Value> {
        let mut out = Vec::new();
        for policy in p.values() {
            for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
                for rule in policy["spec"][dir].as_array().into_iter().flatten() {
                    for peer in rule[peers].as_array().into_iter().flatten() {
                        if peer.get("podSelector").is_some() {
                            out.push(peer.clone());
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn a_label_only_pod_selector_selects_the_tenants_own_namespaces() {
        let t = from_yaml(
            "{metadata: {name: a}, spec: {tenantId: acme, tenantType: production, networkPolicy: {
                allowFromSameTenant: false,
                allowFromPods: [{app: backup}],
                allowFromPodsInNamespaces: [
                  {namespaces: [monitoring], podLabels: {app.kubernetes.io/name: prometheus}},
                  {namespaces: [tools, ci], podLabels: {app: runner}}]}}}",
        );
        let p = render(&t);
        assert_eq!(
            p[ALLOW_FROM_PODS]["spec"]["ingress"][0]["from"],
            json!([
                {"namespaceSelector": {"matchLabels": {
                    "shop.pilab.hu/tenant-id": "acme", "shop.pilab.hu/tenant-namespace": "true"}},
                 "podSelector": {"matchLabels": {"app": "backup"}}},
                {"namespaceSelector": {"matchExpressions": [{
                    "key": "kubernetes.io/metadata.name", "operator": "In", "values": ["ci", "tools"]}]},
                 "podSelector": {"matchLabels": {"app": "runner"}}},
                {"namespaceSelector": {"matchExpressions": [{
                    "key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring"]}]},
                 "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}},
            ])
        );
        // no pod selector anywhere is paired with "every namespace" (or with no namespace
        // selector, which would mean the policy's own namespace only, but say it implicitly)
        let peers = pod_peers(&p);
        assert_eq!(peers.len(), 4, "three from-pods peers and the cluster DNS");
        for peer in peers {
            let ns = &peer["namespaceSelector"];
            assert!(
                ns.get("matchLabels").is_some() || ns.get("matchExpressions").is_some(),
                "{peer}"
            );
        }
    }

    #[test]
    fn only_broader_cidrs_get_exceptions() {
        let t = tenant(
            IsolationLevel::Standard,
            NetSpec {
                allowed_external_cidrs: Some(vec![
                    "203.0.113.0/24".into(),
                    "10.1.0.0/16".into(),
                    "0.0.0.0/1".into(),
                    "2001:db8::/32".into(),
                ]),
                ..Default::default()
            },
        );
        let p = render(&t);
        assert_eq!(
            p[ALLOW_EXTERNAL]["spec"]["egress"][0]["to"],
            json!([
                {"ipBlock": {"cidr": "0.0.0.0/1", "except": ["10.0.0.0/8"]}},
                {"ipBlock": {"cidr": "10.1.0.0/16"}},
                {"ipBlock": {"cidr": "2001:db8::/32"}},
                {"ipBlock": {"cidr": "203.0.113.0/24"}},
            ])
        );
    }

    #[test]
    fn blocked_port_is_rendered_as_the_complement() {
        assert_eq!(port_ranges(&[], &[25]), vec![(1, 24), (26, 65535)]);
        assert_eq!(port_ranges(&[], &[1, 65535]), vec![(2, 65534)]);
        assert_eq!(
            port_ranges(&[443, 80, 81, 25], &[25]),
            vec![(80, 81), (443, 443)]
        );
        assert_eq!(port_ranges(&[25], &[25]), vec![]);
        let t = tenant(
            IsolationLevel::Standard,
            NetSpec {
                blocked_ports: Some(vec![25]),
                allow_from_namespaces: Some(vec!["monitoring".into()]),
                ..Default::default()
            },
        );
        let p = render(&t);
        let expected = json!([
            {"protocol": "TCP", "port": 1, "endPort": 24},
            {"protocol": "TCP", "port": 26, "endPort": 65535},
            {"protocol": "UDP"},
        ]);
        assert_eq!(p[ALLOW_EXTERNAL]["spec"]["egress"][0]["ports"], expected);
        assert_eq!(
            p[ALLOW_FROM_NAMESPACES]["spec"]["ingress"][0]["ports"],
            expected
        );
        // same-tenant and DNS are not limited
        assert!(
            p[ALLOW_SAME_TENANT]["spec"]["ingress"][0]
                .get("ports")
                .is_none()
        );
        assert_eq!(p[ALLOW_DNS]["spec"]["egress"][0]["ports"][0]["port"], 53);
    }

    #[test]
    fn allowed_ports_combine_with_blocked_ports() {
        let t = tenant(
            IsolationLevel::Standard,
            NetSpec {
                allowed_ports: Some(vec![443, 80, 8080, 8081]),
                blocked_ports: Some(vec![8080]),
                ..Default::default()
            },
        );
        let p = render(&t);
        assert_eq!(
            p[ALLOW_EXTERNAL]["spec"]["egress"][0]["ports"],
            json!([
                {"protocol": "TCP", "port": 80},
                {"protocol": "TCP", "port": 443},
                {"protocol": "TCP", "port": 8081},
            ])
        );
    }

    #[test]
    fn nothing_left_after_blocking_drops_the_boundary_rules() {
        let t = tenant(
            IsolationLevel::Standard,
            NetSpec {
                allowed_ports: Some(vec![25]),
                blocked_ports: Some(vec![25]),
                allow_from_namespaces: Some(vec!["monitoring".into()]),
                ..Default::default()
            },
        );
        assert_eq!(names(&t), vec![DEFAULT_DENY, ALLOW_SAME_TENANT, ALLOW_DNS]);
    }

    #[test]
    fn egress_disabled_leaves_only_the_default_deny_for_egress() {
        let t = tenant(
            IsolationLevel::Standard,
            NetSpec {
                egress_enabled: Some(false),
                allow_to_namespaces: Some(vec!["shared".into()]),
                ..Default::default()
            },
        );
        let p = render(&t);
        assert_eq!(names(&t), vec![DEFAULT_DENY, ALLOW_SAME_TENANT]);
        let same = &p[ALLOW_SAME_TENANT]["spec"];
        assert_eq!(same["policyTypes"], json!(["Ingress"]));
        assert!(same.get("egress").is_none());
        for policy in p.values() {
            if policy["metadata"]["name"] != DEFAULT_DENY {
                assert!(policy["spec"].get("egress").is_none());
            }
        }
    }

    #[test]
    fn ingress_sources_and_egress_namespaces() {
        let t = tenant(
            IsolationLevel::Strict,
            NetSpec {
                ingress_enabled: Some(true),
                ingress_controller_namespaces: Some(vec!["traefik".into(), "ingress-nginx".into()]),
                allow_from_same_tenant: Some(false),
                allow_to_same_tenant: Some(false),
                allow_to_dns: Some(false),
                allow_from_namespaces: Some(vec!["monitoring".into(), "monitoring".into()]),
                allow_from_pods: Some(vec![
                    BTreeMap::from([(
                        "app.kubernetes.io/name".to_string(),
                        "prometheus".to_string(),
                    )]),
                    BTreeMap::from([("app".to_string(), "backup".to_string())]),
                ]),
                allow_to_namespaces: Some(vec!["shared-db".into()]),
                allowed_ports: Some(vec![443]),
                ..Default::default()
            },
        );
        assert_eq!(
            names(&t),
            vec![
                DEFAULT_DENY,
                ALLOW_INGRESS_CONTROLLER,
                ALLOW_FROM_NAMESPACES,
                ALLOW_FROM_PODS,
                ALLOW_TO_NAMESPACES
            ]
        );
        let p = render(&t);
        let port = json!([{"protocol": "TCP", "port": 443}]);
        let ic = &p[ALLOW_INGRESS_CONTROLLER]["spec"];
        assert_eq!(ic["policyTypes"], json!(["Ingress"]));
        assert_eq!(
            ic["ingress"][0]["from"],
            json!([{"namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "In",
                "values": ["ingress-nginx", "traefik"]}]}}])
        );
        assert_eq!(ic["ingress"][0]["ports"], port);
        assert_eq!(
            p[ALLOW_FROM_NAMESPACES]["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"]
                [0]["values"],
            json!(["monitoring"])
        );
        let own = json!({"matchLabels": {
            "shop.pilab.hu/tenant-id": "acme", "shop.pilab.hu/tenant-namespace": "true"}});
        assert_eq!(
            p[ALLOW_FROM_PODS]["spec"]["ingress"][0]["from"],
            json!([
                {"namespaceSelector": own, "podSelector": {"matchLabels": {"app": "backup"}}},
                {"namespaceSelector": own, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}},
            ])
        );
        assert_eq!(p[ALLOW_FROM_PODS]["spec"]["ingress"][0]["ports"], port);
        let to = &p[ALLOW_TO_NAMESPACES]["spec"];
        assert_eq!(to["policyTypes"], json!(["Egress"]));
        assert_eq!(to["egress"][0]["ports"], port);
    }

    #[test]
    fn ingress_controller_only_when_ingress_enabled() {
        let mut t = tenant(IsolationLevel::Standard, NetSpec::default());
        assert!(!names(&t).contains(&ALLOW_INGRESS_CONTROLLER.to_string()));
        // a custom domain turns ingress on by default
        t.spec.custom_domain = Some("shop.example.com".into());
        let p = render(&t);
        assert_eq!(
            p[ALLOW_INGRESS_CONTROLLER]["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"]
                [0]["values"],
            json!(["ingress-nginx"])
        );
    }

    #[test]
    fn isolation_override_turns_policies_off() {
        let mut t = tenant(IsolationLevel::Strict, NetSpec::default());
        if let Some(i) = t.spec.isolation.as_mut() {
            i.network_isolation = Some(false);
        }
        assert!(names(&t).is_empty());
    }

    #[test]
    fn bad_input_names_the_field() {
        let field = |net: NetSpec| match build(
            &tenant(IsolationLevel::Standard, net.clone()),
            &Effective::of(&tenant(IsolationLevel::Standard, net)),
            &BuildContext::default(),
        ) {
            Err(BuildError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid-field error, got {other:?}"),
        };
        assert_eq!(
            field(NetSpec {
                allow_from_pods: Some(vec![BTreeMap::new()]),
                ..Default::default()
            }),
            "spec.networkPolicy.allowFromPods[0]"
        );
        assert_eq!(
            field(NetSpec {
                allowed_external_cidrs: Some(vec!["10.0.0.0/33".into()]),
                ..Default::default()
            }),
            "spec.networkPolicy.allowedExternalCIDRs[0]"
        );
        assert_eq!(
            field(NetSpec {
                allowed_dns_cidrs: Some(vec!["10.0.0.10/32".into(), "kube-dns".into()]),
                ..Default::default()
            }),
            "spec.networkPolicy.allowedDnsCIDRs[1]"
        );
        let pods = |namespaces: Vec<String>, pod_labels: BTreeMap<String, String>| NetSpec {
            allow_from_pods_in_namespaces: Some(vec![tenant_api::PodsInNamespaces {
                namespaces,
                pod_labels,
            }]),
            ..Default::default()
        };
        assert_eq!(
            field(pods(vec!["monitoring".into()], BTreeMap::new())),
            "spec.networkPolicy.allowFromPodsInNamespaces[0].podLabels"
        );
        assert_eq!(
            field(pods(
                vec![],
                BTreeMap::from([("app".to_string(), "x".to_string())])
            )),
            "spec.networkPolicy.allowFromPodsInNamespaces[0].namespaces"
        );
        assert_eq!(
            field(NetSpec {
                blocked_ports: Some(vec![0]),
                ..Default::default()
            }),
            "spec.networkPolicy.blockedPorts[0]"
        );
    }

    #[test]
    fn cidr_containment() {
        let c = |s: &str| Cidr::parse(s).unwrap_or_else(|| panic!("{s}"));
        assert!(c("0.0.0.0/0").strictly_contains(&c("10.0.0.0/8")));
        assert!(!c("10.0.0.0/8").strictly_contains(&c("10.0.0.0/8")));
        assert!(!c("11.0.0.0/8").strictly_contains(&c("10.0.0.0/8")));
        assert!(c("::/0").strictly_contains(&c("fc00::/7")));
        assert!(!c("::/0").strictly_contains(&c("10.0.0.0/8")));
        assert_eq!(c("10.1.2.3/8"), c("10.0.0.0/8"));
        assert!(Cidr::parse("10.0.0.0").is_none());
    }

    #[test]
    fn deterministic() {
        let net = NetSpec {
            allow_from_namespaces: Some(vec!["b".into(), "a".into()]),
            blocked_ports: Some(vec![22, 25]),
            ..Default::default()
        };
        let t = tenant(IsolationLevel::Standard, net);
        let s = |t: &Tenant| render(t).values().map(Value::to_string).collect::<Vec<_>>();
        assert_eq!(s(&t), s(&t));
        assert_eq!(names(&t), names(&t));
    }
}
