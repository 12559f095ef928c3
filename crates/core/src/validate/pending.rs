//! Fields the API accepts but the operator does not act on yet: one warning per such field a
//! document sets, from the table in `tenant_api::pending`. Warnings never make a document
//! invalid; they say what `kubectl apply` would accept and then leave untouched.

use super::{CheckStatus, Ctx};
use serde_json::Value;
use tenant_api::pending::{PENDING, Pending};

/// Check name of a field nothing acts on yet.
pub const NOT_ACTED_ON: &str = "pending.notActedOn";
/// Check name of a field the operator acts on only in part.
pub const PARTLY_ACTED_ON: &str = "pending.partlyActedOn";

/// Check name of a PRStack: the kind is reconciled only where the platform turned the PRStack
/// controller on.
pub const PRSTACK_OPT_IN: &str = "pending.prstackOptIn";

/// The warning every PRStack gets: whether it is acted on depends on the operator's setting,
/// which a document cannot see.
pub(crate) fn prstack(ctx: &mut Ctx) {
    ctx.push(
        PRSTACK_OPT_IN,
        "kind",
        CheckStatus::Warn,
        format!(
            "PRStack is accepted and validated. {}",
            tenant_api::prstack::OPT_IN
        ),
    );
}

/// The warning for one row.
pub fn message(p: &Pending) -> String {
    let concern = p.concern.as_str();
    match p.partly {
        None => format!(
            "accepted and validated, but not acted on by the operator yet; it is for {}, which comes with the {concern} concern",
            p.will
        ),
        Some(done) => format!(
            "accepted and validated, but only partly acted on by the operator yet: it {done}; the rest, {}, comes with the {concern} concern",
            p.will
        ),
    }
}

/// The rows `doc` (a whole Tenant document) sets, in table order.
pub fn set_in(doc: &Value) -> impl Iterator<Item = &'static Pending> + '_ {
    PENDING.iter().filter(move |p| p.is_set_in(doc))
}

/// One warning per pending field the document sets; a single pass per check name when none is.
pub(crate) fn run(doc: &Value, ctx: &mut Ctx) {
    let mut not = Vec::new();
    let mut partly = Vec::new();
    for p in set_in(doc) {
        match p.partly {
            None => not.push(p),
            Some(_) => partly.push(p),
        }
    }
    for (name, rows, pass) in [
        (
            NOT_ACTED_ON,
            not,
            "no field is set that the operator does not act on yet",
        ),
        (
            PARTLY_ACTED_ON,
            partly,
            "no field is set that the operator acts on only partly",
        ),
    ] {
        if rows.is_empty() {
            ctx.push(name, "spec", CheckStatus::Pass, pass);
        }
        for p in rows {
            ctx.push(name, p.path, CheckStatus::Warn, message(p));
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
mod tests {
    use super::*;
    use crate::validate::{Check, validate_value};
    use serde_json::json;

    fn doc(spec: Value) -> Value {
        json!({
            "apiVersion": "shop.pilab.hu/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "t", "namespace": "default"},
            "spec": spec,
        })
    }

    fn warned(checks: &[Check]) -> Vec<(&str, &str)> {
        checks
            .iter()
            .filter(|c| c.status == CheckStatus::Warn && c.name.starts_with("pending."))
            .map(|c| (c.name.as_str(), c.field.as_str()))
            .collect()
    }

    #[test]
    fn a_set_field_warns_and_stays_valid() {
        let r = validate_value(&doc(json!({
            "tenantId": "acme",
            "tenantType": "production",
            "billing": {"networkEgressRate": 0.05, "costCenter": "ENG-1", "monthlyBudget": 100.0,
                "billingEmail": "billing@acme.example"},
        })));
        assert!(r.valid, "{:?}", r.errors);
        assert_eq!(
            warned(&r.checks),
            [(NOT_ACTED_ON, "spec.billing.networkEgressRate")],
            "costCenter labels the namespace, monthlyBudget sets BudgetOK, billingEmail gets the \
             budget alerts: all acted on"
        );
        let c = r
            .checks
            .iter()
            .find(|c| c.name == NOT_ACTED_ON && c.field == "spec.billing.networkEgressRate")
            .unwrap();
        assert!(
            c.message.contains("not acted on") && c.message.contains("the cost concern"),
            "{}",
            c.message
        );
    }

    #[test]
    fn unset_fields_do_not_warn() {
        let r = validate_value(&doc(
            json!({"tenantId": "acme", "tenantType": "production"}),
        ));
        assert!(r.valid, "{:?}", r.errors);
        assert!(warned(&r.checks).is_empty(), "{:?}", warned(&r.checks));
        for name in [NOT_ACTED_ON, PARTLY_ACTED_ON] {
            assert!(
                r.checks
                    .iter()
                    .any(|c| c.name == name && c.status == CheckStatus::Pass),
                "{name} is listed as passed"
            );
        }
        let null = validate_value(&doc(
            json!({"tenantId": "acme", "tenantType": "production", "imageTag": null}),
        ));
        assert!(warned(&null.checks).is_empty(), "null is unset");
    }

    #[test]
    fn every_backup_field_is_acted_on() {
        let r = validate_value(&doc(json!({
            "tenantId": "acme",
            "tenantType": "production",
            "backupConfig": {"enabled": true, "schedule": "0 2 * * *", "retention": "30d",
                "backupSecrets": false, "encryptionEnabled": true, "finalBackup": true},
        })));
        assert_eq!(warned(&r.checks), []);
        let r = validate_value(&doc(json!({
            "tenantId": "acme",
            "tenantType": "production",
            "backupConfig": {"enabled": true, "schedule": "0 2 * * *", "restoreEnabled": true,
                "allowCrossTenantRestore": true, "restoreSchedule": "0 3 * * *",
                "restoreFromNamespace": "tenant-acme-production"},
        })));
        assert_eq!(warned(&r.checks), []);
    }

    #[test]
    fn every_monitoring_field_is_acted_on() {
        let r = validate_value(&doc(json!({
            "tenantId": "acme",
            "tenantType": "production",
            "monitoring": {"metricsEnabled": true, "metricsRetention": "30d", "loggingEnabled": true,
                "logLevel": "Info", "logRetention": "7d", "logFormat": "json", "alertingEnabled": true,
                "alertReceivers": ["a@acme.example"], "sloEnabled": true, "targetAvailability": 0.99,
                "targetLatency": "100ms", "dashboardsEnabled": true,
                "customDashboards": [{"name": "d", "json": "{}"}]},
        })));
        assert_eq!(warned(&r.checks), []);
    }

    #[test]
    fn a_prstack_is_accepted_with_a_warning_that_its_controller_is_opt_in() {
        let r = crate::validate::validate_document(&json!({
            "apiVersion": "shop.pilab.hu/v1alpha1",
            "kind": "PRStack",
            "metadata": {"name": "pr-42", "namespace": "previews"},
            "spec": {"prNumber": 42, "imageTag": "pr-42"},
        }));
        let warn = r
            .warnings()
            .find(|c| c.name == PRSTACK_OPT_IN)
            .map(|c| c.message.clone());
        assert!(
            warn.as_deref().is_some_and(|m| m.contains("--prstacks")),
            "{r:?}"
        );
    }

    #[test]
    fn partly_acted_on_fields_say_what_is_done() {
        let r = validate_value(&doc(json!({
            "tenantId": "acme",
            "tenantType": "production",
            "billing": {"chargebackModel": "usage", "monthlyBudget": 10.0},
        })));
        let c = r
            .checks
            .iter()
            .find(|c| c.name.starts_with("pending.") && c.field == "spec.billing.chargebackModel")
            .unwrap();
        assert_eq!(c.name, PARTLY_ACTED_ON);
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.message.contains("charged as requests"), "{}", c.message);
    }

    #[test]
    fn the_shop_example_sets_nothing_that_is_not_acted_on() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/customer-shop-1.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        let r = validate_value(&value);
        assert!(r.valid, "{:?}", r.errors);
        assert_eq!(warned(&r.checks), []);
    }
}
