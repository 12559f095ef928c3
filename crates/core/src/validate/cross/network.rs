//! networkPolicy against itself and against isolation (see build/network.rs for the rendering).

use super::super::{Ctx, Group, names};
use crate::presets::Effective;
use std::collections::BTreeMap;
use tenant_api::TenantSpec;

pub(crate) fn run(spec: &TenantSpec, eff: &Effective, ctx: &mut Ctx) {
    let raw = spec.network_policy.clone().unwrap_or_default();
    let net = &eff.network;
    ctx.check(
        "network.ports",
        "spec.networkPolicy.blockedPorts",
        "no port is both allowed and blocked",
        |g| {
            for (i, p) in net.blocked_ports.iter().enumerate() {
                if net.allowed_ports.contains(p) {
                    g.fail(
                        format!("spec.networkPolicy.blockedPorts[{i}]"),
                        format!("port {p} is also in allowedPorts: a port cannot be both allowed and blocked"),
                    );
                }
            }
        },
    );
    ctx.check(
        "network.egressRules",
        "spec.networkPolicy.egressEnabled",
        "egress allow rules are in effect",
        |g| {
            if net.egress_enabled {
                return;
            }
            let set = [
                ("allowToSameTenant", raw.allow_to_same_tenant == Some(true)),
                ("allowToNamespaces", raw.allow_to_namespaces.as_ref().is_some_and(|v| !v.is_empty())),
                ("allowToDns", raw.allow_to_dns == Some(true)),
                ("allowedDnsCIDRs", raw.allowed_dns_cidrs.as_ref().is_some_and(|v| !v.is_empty())),
                ("allowToExternal", raw.allow_to_external == Some(true)),
                ("allowedExternalCIDRs", raw.allowed_external_cidrs.as_ref().is_some_and(|v| !v.is_empty())),
            ];
            for (field, on) in set {
                if on {
                    g.warn(
                        format!("spec.networkPolicy.{field}"),
                        "is ignored: egressEnabled is false, so no egress allow rule is rendered (only the default deny applies)",
                    );
                }
            }
        },
    );
    ctx.check(
        "network.externalCidrs",
        "spec.networkPolicy.allowedExternalCIDRs",
        "external CIDRs are used",
        |g| {
            if raw.allowed_external_cidrs.as_ref().is_some_and(|v| !v.is_empty())
                && !net.allow_to_external
                && net.egress_enabled
            {
                g.warn(
                    "spec.networkPolicy.allowedExternalCIDRs",
                    "is set but allowToExternal is false (the strict preset's default), so no external egress is allowed",
                );
            }
        },
    );
    ctx.check(
        "network.isolationOff",
        "spec.networkPolicy",
        "networkPolicy settings take effect",
        |g| {
            if spec.network_policy.is_some() && !net.isolated {
                g.warn(
                    "spec.networkPolicy",
                    format!(
                        "is set but network isolation is off (isolationLevel {}{}): no NetworkPolicy is rendered, all traffic is allowed",
                        eff.isolation.level.as_str(),
                        if spec.isolation.as_ref().and_then(|i| i.network_isolation) == Some(false) {
                            ", networkIsolation false"
                        } else {
                            ""
                        }
                    ),
                );
            }
        },
    );
    ctx.check(
        "network.podSelectors",
        "spec.networkPolicy.allowFromPods",
        "allowFromPods entries are valid, non-empty label selectors",
        |g| {
            for (i, sel) in raw.allow_from_pods.iter().flatten().enumerate() {
                let f = format!("spec.networkPolicy.allowFromPods[{i}]");
                if sel.is_empty() {
                    g.fail(
                        &f,
                        "an empty label set selects every pod of the tenant's namespaces",
                    );
                }
                label_set(g, &f, sel);
            }
            if net.allow_from_same_tenant && !net.allow_from_pods.is_empty() {
                g.warn(
                    "spec.networkPolicy.allowFromPods",
                    "selects pods in this tenant's own namespaces only, which allowFromSameTenant already admits in full; pods of other namespaces (a platform Prometheus, say) need allowFromPodsInNamespaces",
                );
            }
        },
    );
    ctx.check(
        "network.podsInNamespaces",
        "spec.networkPolicy.allowFromPodsInNamespaces",
        "allowFromPodsInNamespaces entries are valid, non-empty label selectors",
        |g| {
            for (i, p) in raw.allow_from_pods_in_namespaces.iter().flatten().enumerate() {
                let f = format!("spec.networkPolicy.allowFromPodsInNamespaces[{i}]");
                if p.pod_labels.is_empty() {
                    g.fail_unless_cel(
                        format!("{f}.podLabels"),
                        "an empty label set selects every pod of the namespaces: allowFromNamespaces says that",
                    );
                }
                label_set(g, &format!("{f}.podLabels"), &p.pod_labels);
            }
        },
    );
    ctx.check(
        "network.dnsCidrs",
        "spec.networkPolicy.allowedDnsCIDRs",
        "DNS CIDRs are used",
        |g| {
            if raw.allowed_dns_cidrs.as_ref().is_none_or(Vec::is_empty)
                || !net.isolated
                || !net.egress_enabled
            {
                return;
            }
            if !net.allow_to_dns {
                g.warn(
                    "spec.networkPolicy.allowedDnsCIDRs",
                    "is ignored: allowToDns is false, so no DNS egress is allowed",
                );
            } else if !net.dns_isolation {
                g.warn(
                    "spec.networkPolicy.allowedDnsCIDRs",
                    "is ignored: isolation.dnsIsolation is false, so port 53 is open to every destination",
                );
            }
        },
    );
    ctx.check(
        "network.ingressControllerNamespaces",
        "spec.networkPolicy.ingressControllerNamespaces",
        "ingress controller namespaces are namespace names",
        |g| {
            for (i, n) in raw.ingress_controller_namespaces.iter().flatten().enumerate() {
                if let Some(e) = names::dns_label_error(n) {
                    g.fail(
                        format!("spec.networkPolicy.ingressControllerNamespaces[{i}]"),
                        format!("{n:?} is not a namespace name: {e}"),
                    );
                }
            }
            if net.isolated && spec.custom_domain.is_some() && raw.ingress_enabled == Some(false) {
                g.warn(
                    "spec.networkPolicy.ingressEnabled",
                    "is false although customDomain is set: the ingress controller cannot reach the tenant's services",
                );
            }
        },
    );
}

/// Label keys and values of a pod selector's label set.
fn label_set(g: &mut Group, field: &str, set: &BTreeMap<String, String>) {
    for (k, v) in set {
        if let Some(e) = names::qualified_name_error(k) {
            g.fail(field, format!("label key {k:?}: {e}"));
        }
        if let Some(e) = names::label_value_error(v) {
            g.fail(field, format!("label value {v:?} of {k:?}: {e}"));
        }
    }
}
