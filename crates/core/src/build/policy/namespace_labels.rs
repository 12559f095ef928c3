//! `tenant-namespace-labels`: the tenant labels of namespaces, the operator's ownership marks on
//! them, and tenant namespaces themselves, are the operator's. Matched by the namespace's own
//! labels, old or new (see "Decisions" in docs/admission-policies.md).
//!
//! Ownership marks: the `managed-by=tenant-operator` label may not be put on or taken off a
//! namespace, and the owner annotations (`shop.pilab.hu/owner`, `shop.pilab.hu/owner-uid`) of a
//! tenant namespace or of one labelled as the operator's may not be added, changed or removed.
//! Without this, a principal who may patch namespaces could mark any namespace as a Tenant's and
//! have the operator delete it with that Tenant (the operator also checks its own evidence before
//! deleting anything: see `crates/operator/src/reconcile/cleanup.rs`).

use std::collections::BTreeMap;

use super::NAMESPACE_LABELS;
use super::common::{BindingDef, PolicyDef, check, has_label, lit, lit_list, rule, var};
use k8s_openapi::api::admissionregistration::v1::MatchResources;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use tenant_api::{GROUP, labels};

pub(super) fn policy() -> PolicyDef {
    const CUD: &[&str] = &["CREATE", "UPDATE", "DELETE"];
    let group_prefix = lit(&format!("{GROUP}/"));
    let tenant_ns = lit(labels::TENANT_NAMESPACE);
    let managed_by = lit(labels::MANAGED_BY);
    let manager = lit(labels::MANAGER);
    let protected = format!(
        "(k.startsWith({group_prefix}) \
          || (variables.tenantNamespace && (k == {managed_by} || k.startsWith('pod-security.kubernetes.io/'))) \
          || (k == {managed_by} && ((k in variables.oldLabels && variables.oldLabels[k] == {manager}) \
              || (k in variables.newLabels && variables.newLabels[k] == {manager}))))",
    );
    let owner_keys = lit_list(&[
        labels::OWNER,
        labels::OWNER_UID,
        labels::ADOPTED,
        labels::ADOPTED_AT,
    ]);
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
            "oldAnnotations",
            "oldObject != null && has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {}"
                .into(),
        ),
        var(
            "newAnnotations",
            "object != null && has(object.metadata.annotations) ? object.metadata.annotations : {}"
                .into(),
        ),
        // The namespace is the operator's: a tenant namespace, or labelled as the operator's.
        var(
            "operators",
            format!(
                "variables.tenantNamespace || ({managed_by} in variables.oldLabels && variables.oldLabels[{managed_by}] == {manager})"
            ),
        ),
        var(
            "changedAnnotations",
            format!(
                "{owner_keys}.filter(k, (k in variables.oldAnnotations) != (k in variables.newAnnotations) \
                 || (k in variables.oldAnnotations && variables.oldAnnotations[k] != variables.newAnnotations[k]))"
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
        check(
            "request.operation == 'DELETE' || !variables.operators || size(variables.changedAnnotations) == 0"
                .into(),
            "namespace-labels: the owner annotations of a tenant namespace are managed by the tenant operator",
            "'namespace-labels: namespace ' + request.name + ': annotations ' + variables.changedAnnotations.join(', ') \
             + ' record which Tenant owns it and are managed by the tenant operator; they may not be added, changed or removed'"
                .into(),
        ),
    ];
    let binding = |name: String, selector: LabelSelector| BindingDef {
        name,
        match_resources: MatchResources {
            // Namespaces are matched by their own labels, old or new: a namespaceSelector would
            // test only the new ones (docs/admission-policies.md, "Decisions").
            object_selector: Some(selector),
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
        controllers_exempt: true,
        bindings: vec![
            binding(
                NAMESPACE_LABELS.to_string(),
                has_label(labels::TENANT_NAMESPACE),
            ),
            binding(
                format!("{NAMESPACE_LABELS}-tenant-id"),
                has_label(labels::TENANT_ID),
            ),
            // Any namespace labelled as the operator's, old or new: the label may not be put on
            // a namespace or taken off, and its owner annotations are the operator's.
            binding(
                format!("{NAMESPACE_LABELS}-managed"),
                LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        labels::MANAGED_BY.to_string(),
                        labels::MANAGER.to_string(),
                    )])),
                    ..Default::default()
                },
            ),
        ],
    }
}
