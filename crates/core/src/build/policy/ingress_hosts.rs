//! `tenant-ingress-hosts`: a tenant may publish a host (an Ingress, or a Gateway API route,
//! Gateway or ListenerSet where those are served) only if no other tenant holds it, and, where the
//! platform refuses unclaimed hosts, only under its own domain.
//!
//! Its parameter is not a namespace's TenantPolicy but one cluster-wide map, the ConfigMap
//! `tenant-domains` in the operator's namespace (`build::domains`): which tenant holds which
//! domain, and the platform's setting for hosts nobody holds. Hosts are read from an Ingress's
//! `spec.rules[].host`, a route's (HTTPRoute, GRPCRoute, TLSRoute) `spec.hostnames` and a Gateway's
//! or ListenerSet's `spec.listeners[].hostname`. A catch-all (an Ingress rule without host or a
//! `defaultBackend`, a route without hostnames, a listener without hostname) receives every host
//! nothing else routes, other tenants' included: like a wildcard covering another tenant's
//! domain it is refused while any other tenant holds a domain, and it is never under the tenant's
//! own domain. (`spec.tls[].hosts` only names certificates, it routes nothing.)

use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, ParamKind, ParamRef, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tenant_api::labels;

use super::INGRESS_HOSTS;
use super::common::{
    CU, check, exemptions, lit, namespaced_rule, shared_labels, strings, tenant_namespaces, var,
};
use crate::build::domains::{CONFIG_MAP, UNCLAIMED_KEY, WILDCARD_PREFIX};
use crate::build::{BuildContext, BuildError};
use crate::object::Object;

/// How a catch-all is named in refusals.
const CATCH_ALL: &str = "(a catch-all without host)";

/// CEL: the hosts an object routes ('' for a catch-all), by kind.
const HOSTS: &str = "object.kind == 'Ingress' \
    ? (has(object.spec.rules) ? object.spec.rules.map(r, has(r.host) ? r.host : '') : []) \
      + (has(object.spec.defaultBackend) ? [''] : []) \
    : (object.kind == 'Gateway' || object.kind == 'ListenerSet') \
    ? (has(object.spec.listeners) ? object.spec.listeners.map(l, has(l.hostname) ? l.hostname : '') : []) \
    : (has(object.spec.hostnames) && size(object.spec.hostnames) > 0 ? object.spec.hostnames : [''])";

/// The Gateway API kinds that name hosts: routes (`spec.hostnames`) and listeners
/// (`spec.listeners[].hostname`). Matching a resource the cluster does not serve is harmless.
const GATEWAY_RESOURCES: [&str; 5] = [
    "httproutes",
    "grpcroutes",
    "tlsroutes",
    "gateways",
    "listenersets",
];

/// CEL: whether map key `k` (a held domain) overlaps host expression `h` (`*.` allowed).
fn overlaps(k: &str, h: &str) -> String {
    let w = lit(WILDCARD_PREFIX);
    format!(
        "(({k}.startsWith({w})) \
           ? ({h}.startsWith('*.') \
              ? ({h}.substring(2) == {k}.substring(2) || {h}.substring(2).endsWith('.' + {k}.substring(2)) || {k}.substring(2).endsWith('.' + {h}.substring(2))) \
              : {h}.endsWith('.' + {k}.substring(2))) \
           : ({h}.startsWith('*.') ? {k}.endsWith('.' + {h}.substring(2)) : {h} == {k}))"
    )
}

/// CEL: whether map key `k` holds all of host expression `h`.
fn holds(k: &str, h: &str) -> String {
    let w = lit(WILDCARD_PREFIX);
    format!(
        "(({k}.startsWith({w})) \
           ? ({h}.startsWith('*.') \
              ? ({h}.substring(2) == {k}.substring(2) || {h}.substring(2).endsWith('.' + {k}.substring(2))) \
              : {h}.endsWith('.' + {k}.substring(2))) \
           : {h} == {k})"
    )
}

fn policy_object(ctx: &BuildContext) -> ValidatingAdmissionPolicy {
    let unclaimed = lit(UNCLAIMED_KEY);
    let tenant_id = lit(labels::TENANT_ID);
    let h = "h";
    let k = "k";
    // a catch-all ('') overlaps every domain
    let others = format!(
        "variables.held.exists({k}, {k} != {unclaimed} && params.data[{k}] != variables.tenant && ({h} == '' || {}))",
        overlaps(k, h)
    );
    let own = format!(
        "variables.held.exists({k}, {k} != {unclaimed} && params.data[{k}] == variables.tenant && {})",
        holds(k, h)
    );
    let variables = vec![
        var("held", "has(params.data) ? params.data : {}".into()),
        var(
            "tenant",
            format!(
                "namespaceObject != null && has(namespaceObject.metadata.labels) && {tenant_id} in namespaceObject.metadata.labels \
                 ? namespaceObject.metadata.labels[{tenant_id}] : ''"
            ),
        ),
        var(
            "refuseUnclaimed",
            format!("{unclaimed} in variables.held && variables.held[{unclaimed}] == 'refuse'"),
        ),
        var("hosts", HOSTS.into()),
        var(
            "othersHosts",
            format!("variables.hosts.filter({h}, {others})"),
        ),
        var(
            "unclaimedHosts",
            format!(
                "variables.refuseUnclaimed ? variables.hosts.filter({h}, {h} == '' || !({own})) : []"
            ),
        ),
    ];
    let validations = vec![
        check(
            "size(variables.othersHosts) == 0".into(),
            "ingress-hosts: a host of another tenant's domain",
            "'ingress-hosts: ' + object.kind + ' ' + object.metadata.name + ': ' \
             + variables.othersHosts.map(h, h == '' ? CATCH_ALL : h).join(', ') \
             + (variables.othersHosts.exists(h, h == '') \
                ? ' covers hosts of another tenant (its customDomain): name the hosts' \
                : ' belongs to another tenant (its customDomain); a host is published by one tenant only')"
                .replace("CATCH_ALL", &lit(CATCH_ALL)),
        ),
        check(
            "size(variables.unclaimedHosts) == 0".into(),
            "ingress-hosts: only hosts under the tenant's own customDomain",
            "'ingress-hosts: ' + object.kind + ' ' + object.metadata.name + ': ' \
             + variables.unclaimedHosts.map(h, h == '' ? CATCH_ALL : h).join(', ') \
             + ' is not under this tenant\\'s customDomain, and the platform refuses hosts no tenant holds'"
                .replace("CATCH_ALL", &lit(CATCH_ALL)),
        ),
    ];
    ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            name: Some(INGRESS_HOSTS.to_string()),
            labels: Some(shared_labels()),
            ..Default::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            param_kind: Some(ParamKind {
                api_version: Some("v1".into()),
                kind: Some("ConfigMap".into()),
            }),
            match_constraints: Some(matching()),
            match_conditions: Some(exemptions(ctx)),
            variables: Some(variables),
            validations: Some(validations),
            audit_annotations: None,
        }),
        status: None,
    }
}

fn matching() -> MatchResources {
    MatchResources {
        namespace_selector: Some(tenant_namespaces()),
        resource_rules: Some(vec![
            namespaced_rule(&["networking.k8s.io"], &["ingresses"], CU),
            namespaced_rule(&["gateway.networking.k8s.io"], &GATEWAY_RESOURCES, CU),
        ]),
        match_policy: Some("Equivalent".into()),
        ..Default::default()
    }
}

/// The policy and its binding (to the map in `ctx.operator_namespace`). Without the map (an
/// operator that watches one namespace does not write it), tenants' Ingresses are refused.
pub(super) fn objects(ctx: &BuildContext) -> Result<Vec<Object>, BuildError> {
    let binding = ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(INGRESS_HOSTS.to_string()),
            labels: Some(shared_labels()),
            ..Default::default()
        },
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(INGRESS_HOSTS.to_string()),
            param_ref: Some(ParamRef {
                name: Some(CONFIG_MAP.to_string()),
                namespace: Some(ctx.operator_namespace.to_string()),
                parameter_not_found_action: Some("Deny".into()),
                selector: None,
            }),
            match_resources: Some(matching()),
            validation_actions: Some(strings(&["Deny"])),
        }),
    };
    Ok(vec![
        Object::from_resource(&policy_object(ctx))?,
        Object::from_resource(&binding)?,
    ])
}
