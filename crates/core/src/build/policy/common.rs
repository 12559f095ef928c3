//! The building blocks of the policies: CEL literals, match rules and selectors, the exemptions
//! every policy has, and `PolicyDef`, one policy with its bindings.

use crate::build::BuildContext;
use crate::naming::names;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ParamKind, ParamRef,
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingAdmissionPolicyBindingSpec, ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use std::collections::BTreeMap;
use tenant_api::{GROUP, VERSION, labels};

/// A CEL string literal.
pub(super) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A CEL list literal of strings.
pub(super) fn lit_list(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|s| lit(s)).collect();
    format!("[{}]", inner.join(", "))
}

pub(super) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(super) fn rule(groups: &[&str], resources: &[&str], ops: &[&str]) -> NamedRuleWithOperations {
    NamedRuleWithOperations {
        api_groups: Some(strings(groups)),
        api_versions: Some(strings(&["*"])),
        resources: Some(strings(resources)),
        operations: Some(strings(ops)),
        ..Default::default()
    }
}

/// A rule for objects inside namespaces only: `*` then leaves out cluster-scoped objects,
/// Namespaces included, which a `namespaceSelector` would otherwise never skip.
pub(super) fn namespaced_rule(
    groups: &[&str],
    resources: &[&str],
    ops: &[&str],
) -> NamedRuleWithOperations {
    NamedRuleWithOperations {
        scope: Some("Namespaced".into()),
        ..rule(groups, resources, ops)
    }
}

pub(super) fn tenant_namespaces() -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(
            labels::TENANT_NAMESPACE.to_string(),
            "true".to_string(),
        )])),
        ..Default::default()
    }
}

pub(super) fn has_label(key: &str) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.to_string(),
            operator: "Exists".into(),
            values: None,
        }]),
        ..Default::default()
    }
}

pub(super) fn shared_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (labels::PART_OF.to_string(), "tenant".to_string()),
        (
            labels::APP_COMPONENT.to_string(),
            "admission-policy".to_string(),
        ),
    ])
}

/// The name of the exemption of kube-system's controllers.
pub(super) const NOT_KUBE_SYSTEM_CONTROLLERS: &str = "not-kube-system-controllers";

/// The `matchConditions` every policy has: requests by these users are never checked.
pub fn exemptions(ctx: &BuildContext) -> Vec<MatchCondition> {
    vec![
        MatchCondition {
            name: "not-the-operator".into(),
            expression: format!("request.userInfo.username != {}", lit(ctx.operator_user)),
        },
        MatchCondition {
            name: "not-system-masters".into(),
            // groups is omitted from the request when empty
            expression:
                "!has(request.userInfo.groups) || !('system:masters' in request.userInfo.groups)"
                    .into(),
        },
        MatchCondition {
            name: NOT_KUBE_SYSTEM_CONTROLLERS.into(),
            expression:
                "!request.userInfo.username.startsWith('system:serviceaccount:kube-system:') \
                         && request.userInfo.username != 'system:kube-controller-manager'"
                    .into(),
        },
    ]
}

pub(super) fn check(expression: String, message: &str, message_expression: String) -> Validation {
    Validation {
        expression,
        message: Some(message.to_string()),
        message_expression: Some(message_expression),
        reason: Some("Forbidden".into()),
    }
}

pub(super) fn var(name: &str, expression: String) -> Variable {
    Variable {
        name: name.to_string(),
        expression,
    }
}

/// One policy and how it is bound.
pub(super) struct PolicyDef {
    pub(super) name: &'static str,
    /// Whether the policy reads the namespace's `TenantPolicy`.
    pub(super) params: bool,
    /// Which requests the policy can see at all (bindings narrow this).
    pub(super) constraints: MatchResources,
    pub(super) variables: Vec<Variable>,
    pub(super) validations: Vec<Validation>,
    pub(super) bindings: Vec<BindingDef>,
    /// Whether kube-system's controllers are exempt (see [`exemptions`]). The budget policy
    /// is the one that is not: the pods it refuses are made by the ReplicaSet and Job
    /// controllers.
    pub(super) controllers_exempt: bool,
}

pub(super) struct BindingDef {
    pub(super) name: String,
    pub(super) match_resources: MatchResources,
    /// `parameterNotFoundAction` of a parameterised policy's binding.
    pub(super) param_not_found: &'static str,
}

impl PolicyDef {
    pub(super) fn policy(&self, ctx: &BuildContext) -> ValidatingAdmissionPolicy {
        ValidatingAdmissionPolicy {
            metadata: ObjectMeta {
                name: Some(self.name.to_string()),
                labels: Some(shared_labels()),
                ..Default::default()
            },
            spec: Some(ValidatingAdmissionPolicySpec {
                failure_policy: Some("Fail".into()),
                param_kind: self.params.then(|| ParamKind {
                    api_version: Some(format!("{GROUP}/{VERSION}")),
                    kind: Some("TenantPolicy".into()),
                }),
                match_constraints: Some(self.constraints.clone()),
                match_conditions: Some(if self.controllers_exempt {
                    exemptions(ctx)
                } else {
                    exemptions(ctx)
                        .into_iter()
                        .filter(|c| c.name != NOT_KUBE_SYSTEM_CONTROLLERS)
                        .collect()
                }),
                variables: (!self.variables.is_empty()).then(|| self.variables.clone()),
                validations: Some(self.validations.clone()),
                audit_annotations: None,
            }),
            status: None,
        }
    }

    pub(super) fn bindings(&self) -> Vec<ValidatingAdmissionPolicyBinding> {
        self.bindings
            .iter()
            .map(|b| ValidatingAdmissionPolicyBinding {
                metadata: ObjectMeta {
                    name: Some(b.name.clone()),
                    labels: Some(shared_labels()),
                    ..Default::default()
                },
                spec: Some(ValidatingAdmissionPolicyBindingSpec {
                    policy_name: Some(self.name.to_string()),
                    param_ref: self.params.then(|| ParamRef {
                        name: Some(names::POLICY_PARAMS.to_string()),
                        // unset: the TenantPolicy of the request's own namespace
                        namespace: None,
                        parameter_not_found_action: Some(b.param_not_found.to_string()),
                        selector: None,
                    }),
                    match_resources: Some(b.match_resources.clone()),
                    validation_actions: Some(strings(&["Deny"])),
                }),
            })
            .collect()
    }
}

/// Constraints and the create/update binding pair of a parameterised policy over `resources`
/// (`(api group, resource, operations)`); see "Missing parameters" in
/// docs/admission-policies.md.
pub(super) fn parameterised(
    name: &'static str,
    resources: &[(&str, &str, &[&str])],
    variables: Vec<Variable>,
    validations: Vec<Validation>,
) -> PolicyDef {
    let rules_for = |wanted: &[&str]| -> Vec<NamedRuleWithOperations> {
        resources
            .iter()
            .filter_map(|(group, resource, ops)| {
                let ops: Vec<&str> = ops.iter().copied().filter(|o| wanted.contains(o)).collect();
                (!ops.is_empty()).then(|| namespaced_rule(&[group], &[resource], &ops))
            })
            .collect()
    };
    let matching = |wanted: &[&str]| MatchResources {
        namespace_selector: Some(tenant_namespaces()),
        resource_rules: Some(rules_for(wanted)),
        match_policy: Some("Equivalent".into()),
        ..Default::default()
    };
    PolicyDef {
        name,
        params: true,
        constraints: matching(&["CREATE", "UPDATE"]),
        variables,
        validations,
        controllers_exempt: true,
        bindings: vec![
            BindingDef {
                name: format!("{name}-create"),
                match_resources: matching(&["CREATE"]),
                param_not_found: "Deny",
            },
            BindingDef {
                name: format!("{name}-update"),
                match_resources: matching(&["UPDATE"]),
                param_not_found: "Allow",
            },
        ],
    }
}

pub(super) const CU: &[&str] = &["CREATE", "UPDATE"];
