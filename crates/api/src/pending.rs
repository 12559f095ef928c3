//! Tenant fields the API accepts and validates but the operator does not act on yet.
//!
//! This table is the one source of truth for that surface. From it:
//! - [`crate::crds`] appends [`NOT_ACTED_ON`] (or a "partly" sentence) to the description of each
//!   listed field and of everything under it, so `kubectl explain` tells the truth;
//! - `kubectl tenant validate` warns once for each listed field a document sets;
//! - `docs/tenant-api.md` lists every row under "Accepted but not acted on yet" (a test keeps the
//!   two in step).
//!
//! A field is *acted on* when it changes an object the operator applies (the builders in
//! `tenant-core`); status alone does not count. A path names a field or a whole section; a
//! section row covers every field under it. When a concern's builder lands, its rows go.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::Value;

/// The sentence that ends the description of a field nothing acts on yet.
pub const NOT_ACTED_ON: &str = "Accepted and validated; not acted on by the operator yet.";

/// The part of the operator that will act on a field (one builder per concern).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Concern {
    /// Deployments and Services of the tenant's services, rollouts, scaling.
    Services,
    /// Ingress and TLS for the tenant's custom domain.
    Domain,
    /// Connection Secret and per-tenant users in MongoDB, NATS and Redis.
    Data,
    /// Velero Schedule and restores.
    Backup,
    /// ServiceMonitor, PrometheusRule, dashboards.
    Monitoring,
    /// Cost model, budget and chargeback.
    Cost,
}

impl Concern {
    pub fn as_str(self) -> &'static str {
        match self {
            Concern::Services => "services",
            Concern::Domain => "domain",
            Concern::Data => "data",
            Concern::Backup => "backup",
            Concern::Monitoring => "monitoring",
            Concern::Cost => "cost",
        }
    }
}

/// One field (or section) the operator does not act on yet, or only partly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// JSON path from the object root, e.g. `spec.backupConfig` or `spec.billing.monthlyBudget`.
    pub path: &'static str,
    /// The concern that will act on it.
    pub concern: Concern,
    /// What acting on it will mean, as a noun phrase ("the tenant's cost").
    pub will: &'static str,
    /// What the operator already does with it, for a field it acts on only partly.
    pub partly: Option<&'static str>,
    /// The field's schema default, which counts as unset: the API server fills it in, so a
    /// stored Tenant cannot tell "set to the default" from "left out".
    pub default: Option<bool>,
}

impl Pending {
    /// The sentence appended to the field's description in the CRD.
    pub fn description_sentence(&self) -> String {
        match self.partly {
            None => NOT_ACTED_ON.to_string(),
            Some(done) => format!(
                "Accepted and validated; only partly acted on by the operator yet: it {done}."
            ),
        }
    }

    /// The path's segments below the object root (`spec.billing.currency` -> spec, billing, currency).
    pub fn segments(&self) -> impl Iterator<Item = &'static str> {
        self.path.split('.')
    }

    /// Whether `doc` (a whole Tenant document) sets this field: present, not null and not the
    /// schema default.
    pub fn is_set_in(&self, doc: &Value) -> bool {
        let mut at = doc;
        for seg in self.segments() {
            match at.get(seg) {
                Some(v) => at = v,
                None => return false,
            }
        }
        !at.is_null() && self.default.is_none_or(|d| at.as_bool() != Some(d))
    }
}

const fn row(path: &'static str, concern: Concern, will: &'static str) -> Pending {
    Pending {
        path,
        concern,
        will,
        partly: None,
        default: None,
    }
}

const fn partly(
    path: &'static str,
    concern: Concern,
    will: &'static str,
    done: &'static str,
) -> Pending {
    Pending {
        path,
        concern,
        will,
        partly: Some(done),
        default: None,
    }
}

use Concern::*;

/// Every field the operator accepts but does not act on yet (or only partly), in spec order.
pub const PENDING: &[Pending] = &[
    // backup: every field is acted on (the Schedule, volumes, secrets, resources, location,
    // encryption, the final backup, self-service, scheduled and cross-tenant restores)
    // monitoring: every field is acted on (PrometheusRule, ServiceMonitor, AlertmanagerConfig,
    // dashboards, namespace labels and annotations for logs and retention)
    // cost: the operator accrues cost (rates, tier, currency, cycle, discounts, chargeback
    // model), reports BudgetOK and alerts (monthlyBudget, budgetAlertThreshold, billingEmail)
    // and enforces the budget (budgetEnforcement: the tenant-budget admission policy); these
    // are not (fully) acted on yet
    row(
        "spec.billing.networkEgressRate",
        Cost,
        "egress cost, once an egress counter is measured",
    ),
    partly(
        "spec.billing.chargebackModel",
        Cost,
        "usage from metrics for the usage and shared models",
        "shared, usage and dedicated are applied; no usage metrics are read, so usage is charged as requests",
    ),
];

/// The row for exactly this path, if any.
pub fn find(path: &str) -> Option<&'static Pending> {
    PENDING.iter().find(|p| p.path == path)
}

/// Appends each row's sentence to the description of its field, and of every field under it,
/// in a CRD version's `openAPIV3Schema`. Rows whose path the schema lacks are skipped (a test
/// makes sure there are none). Idempotent.
pub fn annotate_schema(root: &mut JSONSchemaProps) {
    for p in PENDING {
        if let Some(field) = lookup(root, p) {
            annotate(field, &p.description_sentence());
        }
    }
}

/// The schema of `p`'s field inside `root`.
pub fn lookup<'a>(root: &'a mut JSONSchemaProps, p: &Pending) -> Option<&'a mut JSONSchemaProps> {
    let mut at = root;
    for seg in p.segments() {
        at = at.properties.as_mut()?.get_mut(seg)?;
    }
    Some(at)
}

/// Appends `sentence` to the field's description and to every described field under it (the
/// item schemas of arrays and maps carry no description of their own and get none).
fn annotate(schema: &mut JSONSchemaProps, sentence: &str) {
    schema.description = Some(match schema.description.take() {
        Some(d) if d.ends_with(sentence) => d,
        Some(d) if d.trim().is_empty() => sentence.to_string(),
        Some(d) => format!("{} {sentence}", d.trim_end()),
        None => sentence.to_string(),
    });
    annotate_below(schema, sentence);
}

fn annotate_below(schema: &mut JSONSchemaProps, sentence: &str) {
    let mut subs: Vec<&mut JSONSchemaProps> = Vec::new();
    subs.extend(schema.properties.iter_mut().flat_map(|p| p.values_mut()));
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(sub)) => subs.push(sub),
        Some(JSONSchemaPropsOrArray::Schemas(list)) => subs.extend(list.iter_mut()),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(sub)) = schema.additional_properties.as_mut() {
        subs.push(sub);
    }
    for sub in subs {
        if sub.description.is_some() {
            annotate(sub, sentence);
        } else {
            annotate_below(sub, sentence);
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_unique_and_under_spec() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PENDING {
            assert!(p.path.starts_with("spec."), "{}", p.path);
            assert!(seen.insert(p.path), "{} listed twice", p.path);
            assert!(!p.will.is_empty());
        }
    }

    #[test]
    fn set_means_present_and_not_null() {
        let row = find("spec.billing.networkEgressRate").unwrap();
        assert!(row.is_set_in(&json!({"spec": {"billing": {"networkEgressRate": 0.01}}})));
        assert!(!row.is_set_in(&json!({"spec": {"billing": {"networkEgressRate": null}}})));
        assert!(!row.is_set_in(&json!({"spec": {"billing": {}}})));
        assert!(!row.is_set_in(&json!({"spec": {}})));
        // a field whose default is true is set only when false
        let active = Pending {
            default: Some(true),
            ..super::row("spec.active", Services, "scaling")
        };
        assert!(active.is_set_in(&json!({"spec": {"active": false}})));
        assert!(
            !active.is_set_in(&json!({"spec": {"active": true}})),
            "the default"
        );
        // a boolean without a default is set when present, false included
        let flag = super::row("spec.billing.flag", Cost, "a flag");
        assert!(flag.is_set_in(&json!({"spec": {"billing": {"flag": false}}})));
        assert!(!flag.is_set_in(&json!({"spec": {"billing": {}}})));
    }

    #[test]
    fn annotating_reaches_nested_fields_and_is_idempotent() {
        let mut schema: JSONSchemaProps =
            serde_json::from_value(json!({"properties": {"spec": {"properties": {
                "billing": {"description": "Billing settings.", "properties": {
                    "billingContact": {"description": "Who."},
                    "networkEgressRate": {"description": "Egress."}
                }},
                "tenantId": {"description": "Id."}
            }}}}))
            .unwrap();
        annotate_schema(&mut schema);
        annotate_schema(&mut schema);
        let v = serde_json::to_value(&schema).unwrap();
        let spec = &v["properties"]["spec"]["properties"];
        let d = |p: &str| spec.pointer(p).and_then(Value::as_str).unwrap().to_string();
        // Only the field of a section that is not acted on is marked.
        assert_eq!(d("/billing/description"), "Billing settings.");
        assert_eq!(d("/billing/properties/billingContact/description"), "Who.");
        assert_eq!(
            d("/billing/properties/networkEgressRate/description"),
            format!("Egress. {NOT_ACTED_ON}")
        );
        assert_eq!(d("/tenantId/description"), "Id.");
        // A whole section's sentence reaches the fields of its array items, not the item
        // schema itself.
        let mut section: JSONSchemaProps = serde_json::from_value(json!({
            "description": "Dashboards.",
            "items": {"properties": {"name": {"description": "Name."}}}
        }))
        .unwrap();
        annotate(&mut section, NOT_ACTED_ON);
        annotate(&mut section, NOT_ACTED_ON);
        let v = serde_json::to_value(&section).unwrap();
        assert_eq!(v["description"], format!("Dashboards. {NOT_ACTED_ON}"));
        assert_eq!(
            v["items"]["properties"]["name"]["description"],
            format!("Name. {NOT_ACTED_ON}")
        );
        assert!(v["items"].get("description").is_none(), "{v}");
    }
}
