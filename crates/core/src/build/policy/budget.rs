//! `tenant-budget`: a tenant over its monthly budget with `billing.budgetEnforcement` admits no
//! new pods. The cost accounting labels the tenant namespace `shop.pilab.hu/budget-frozen=true`
//! while the month-to-date cost is over `billing.monthlyBudget`, and takes the label off at the
//! next month or when the budget is raised (or enforcement turned off); this policy refuses every
//! pod created in a namespace with that label. Running pods are not touched, nothing is deleted.
//!
//! Unlike the other policies, kube-system's controllers are not exempt: most pods are created
//! by the ReplicaSet, StatefulSet, DaemonSet and Job controllers, and a freeze that let them
//! through would freeze nothing. The operator and `system:masters` stay exempt (the
//! platform's way out). The label is the operator's: `tenant-namespace-labels` refuses anyone
//! else setting or removing a `shop.pilab.hu/` label on a namespace.

use std::collections::BTreeMap;

use super::BUDGET;
use super::common::{BindingDef, PolicyDef, check, lit, namespaced_rule};
use k8s_openapi::api::admissionregistration::v1::MatchResources;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use tenant_api::labels;

pub(super) fn policy() -> PolicyDef {
    let frozen = MatchResources {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([
                (labels::TENANT_NAMESPACE.to_string(), "true".to_string()),
                (labels::BUDGET_FROZEN.to_string(), "true".to_string()),
            ])),
            ..Default::default()
        }),
        resource_rules: Some(vec![namespaced_rule(&[""], &["pods"], &["CREATE"])]),
        match_policy: Some("Equivalent".into()),
        ..Default::default()
    };
    let tenant = format!(
        "(has(namespaceObject.metadata.labels) && {id} in namespaceObject.metadata.labels \
          ? namespaceObject.metadata.labels[{id}] : namespaceObject.metadata.name)",
        id = lit(labels::TENANT_ID),
    );
    PolicyDef {
        name: BUDGET,
        params: false,
        constraints: frozen.clone(),
        variables: Vec::new(),
        validations: vec![check(
            "false".into(),
            "budget: this tenant is over its monthly budget (billing.budgetEnforcement): new pods are refused \
             until the next month or a higher billing.monthlyBudget; running pods are not touched",
            format!(
                "'budget: tenant ' + {tenant} + ' is over its monthly budget (billing.budgetEnforcement): ' \
                 + 'new pods in namespace ' + request.namespace + ' are refused until the next month or a higher ' \
                 + 'billing.monthlyBudget; running pods are not touched (kubectl tenant cost shows the figures)'"
            ),
        )],
        controllers_exempt: false,
        bindings: vec![BindingDef {
            name: BUDGET.to_string(),
            match_resources: frozen,
            param_not_found: "Deny",
        }],
    }
}
