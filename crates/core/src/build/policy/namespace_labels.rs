//! `tenant-namespace-labels`: the tenant labels of namespaces, and tenant namespaces themselves,
//! are the operator's. Matched by the namespace's own labels, old or new (see "Decisions" in
//! docs/admission-policies.md).

use super::NAMESPACE_LABELS;
use super::common::{BindingDef, PolicyDef, check, has_label, lit, rule, var};
use k8s_openapi::api::admissionregistration::v1::MatchResources;
use tenant_api::{GROUP, labels};

pub(super) fn policy() -> PolicyDef {
    const CUD: &[&str] = &["CREATE", "UPDATE", "DELETE"];
    let group_prefix = lit(&format!("{GROUP}/"));
    let tenant_ns = lit(labels::TENANT_NAMESPACE);
    let protected = format!(
        "(k.startsWith({group_prefix}) || (variables.tenantNamespace && (k == {managed_by} || k.startsWith('pod-security.kubernetes.io/'))))",
        managed_by = lit(labels::MANAGED_BY),
    );
    let variables = vec![
        var(
            "oldLabels",
            "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}"
                .into(),
        ),
        var(
            "newLabels",
            "object != null && has(object.metadata.labels) ? object.metadata.labels : {}".into(),
        ),
        var(
            "tenantNamespace",
            format!(
                "{tenant_ns} in variables.oldLabels && variables.oldLabels[{tenant_ns}] == 'true'"
            ),
        ),
        var(
            "changed",
            format!(
                "variables.oldLabels.filter(k, {protected} && (!(k in variables.newLabels) || variables.newLabels[k] != variables.oldLabels[k])) \
                 + variables.newLabels.filter(k, {protected} && !(k in variables.oldLabels))"
            ),
        ),
    ];
    let validations = vec![
        check(
            "request.operation != 'DELETE' || !variables.tenantNamespace".into(),
            "namespace-labels: a tenant namespace may only be deleted by the tenant operator (delete the Tenant)",
            "'namespace-labels: namespace ' + request.name + ' belongs to a tenant; only the tenant operator may delete it (delete the Tenant instead)'".into(),
        ),
        check(
            "request.operation == 'DELETE' || size(variables.changed) == 0".into(),
            "namespace-labels: tenant labels of a namespace are managed by the tenant operator",
            format!(
                "'namespace-labels: namespace ' + request.name + ': labels ' + variables.changed.join(', ') \
                 + ' are managed by the tenant operator and may not be added, changed or removed (reserved: {GROUP}/*' \
                 + (variables.tenantNamespace ? ', {}, pod-security.kubernetes.io/*' : '') + ')'",
                labels::MANAGED_BY
            ),
        ),
    ];
    let binding = |name: String, key: &str| BindingDef {
        name,
        match_resources: MatchResources {
            // Namespaces are matched by their own labels, old or new: a namespaceSelector would
            // test only the new ones (docs/admission-policies.md, "Decisions").
            object_selector: Some(has_label(key)),
            resource_rules: Some(vec![rule(&[""], &["namespaces"], CUD)]),
            match_policy: Some("Equivalent".into()),
            ..Default::default()
        },
        param_not_found: "Deny",
    };
    PolicyDef {
        name: NAMESPACE_LABELS,
        params: false,
        constraints: MatchResources {
            resource_rules: Some(vec![rule(&[""], &["namespaces"], CUD)]),
            match_policy: Some("Equivalent".into()),
            ..Default::default()
        },
        variables,
        validations,
        bindings: vec![
            binding(NAMESPACE_LABELS.to_string(), labels::TENANT_NAMESPACE),
            binding(format!("{NAMESPACE_LABELS}-tenant-id"), labels::TENANT_ID),
        ],
    }
}
