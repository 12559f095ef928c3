//! `tenant-managed-objects`: what the operator manages in a tenant namespace, tenants may not
//! create, change or delete. Two bindings: by kind and by the operator's label (see "Decisions" in
//! docs/admission-policies.md).

use super::common::{BindingDef, PolicyDef, check, lit_list, namespaced_rule, tenant_namespaces};
use super::{MANAGED_OBJECTS, OPERATOR_KINDS};
use k8s_openapi::api::admissionregistration::v1::MatchResources;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;
use tenant_api::{GROUP, labels};

pub(super) fn policy() -> PolicyDef {
    const CUD: &[&str] = &["CREATE", "UPDATE", "DELETE"];
    let by_kind = vec![
        namespaced_rule(&[""], &["resourcequotas", "limitranges"], CUD),
        namespaced_rule(&["networking.k8s.io"], &["networkpolicies"], CUD),
        namespaced_rule(&[GROUP], &["tenantpolicies"], CUD),
    ];
    let message = format!(
        "request.kind.kind in {kinds} \
         ? 'managed-objects: ' + request.kind.kind + ' objects in tenant namespaces are managed by the tenant operator from the Tenant spec; ' \
           + request.operation + ' of ' + request.name + ' denied' \
         : 'managed-objects: ' + request.kind.kind + ' ' + request.name + ' is labelled {label}={manager}, which is reserved for the tenant operator; ' \
           + request.operation + ' denied (change the Tenant instead)'",
        kinds = lit_list(&OPERATOR_KINDS),
        label = labels::MANAGED_BY,
        manager = labels::MANAGER,
    );
    PolicyDef {
        name: MANAGED_OBJECTS,
        params: false,
        constraints: MatchResources {
            namespace_selector: Some(tenant_namespaces()),
            resource_rules: Some(vec![namespaced_rule(&["*"], &["*"], CUD)]),
            match_policy: Some("Equivalent".into()),
            ..Default::default()
        },
        variables: Vec::new(),
        validations: vec![check(
            "false".into(),
            "managed-objects: this object is managed by the tenant operator; change the Tenant instead",
            message,
        )],
        controllers_exempt: true,
        bindings: vec![
            BindingDef {
                name: format!("{MANAGED_OBJECTS}-kinds"),
                match_resources: MatchResources {
                    namespace_selector: Some(tenant_namespaces()),
                    resource_rules: Some(by_kind),
                    match_policy: Some("Equivalent".into()),
                    ..Default::default()
                },
                param_not_found: "Deny",
            },
            BindingDef {
                name: format!("{MANAGED_OBJECTS}-labelled"),
                match_resources: MatchResources {
                    namespace_selector: Some(tenant_namespaces()),
                    object_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            labels::MANAGED_BY.to_string(),
                            labels::MANAGER.to_string(),
                        )])),
                        ..Default::default()
                    }),
                    resource_rules: Some(vec![namespaced_rule(&["*"], &["*"], CUD)]),
                    exclude_resource_rules: Some(vec![namespaced_rule(&[""], &["pods"], CUD)]),
                    match_policy: Some("Equivalent".into()),
                },
                param_not_found: "Deny",
            },
        ],
    }
}
