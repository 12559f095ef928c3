//! The table of fields the operator does not act on yet (`tenant_api::pending`) against the
//! generated CRD and against docs/tenant-api.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use tenant_api::pending::{self, PENDING, Pending};

fn tenant_schema()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps {
    let (_, crd) = tenant_api::crds().remove(0);
    crd.spec.versions[0]
        .schema
        .clone()
        .and_then(|s| s.open_api_v3_schema)
        .expect("Tenant schema")
}

#[test]
fn every_path_is_a_field_of_the_tenant_and_says_it_is_pending() {
    let mut schema = tenant_schema();
    for p in PENDING {
        let field = pending::lookup(&mut schema, p)
            .unwrap_or_else(|| panic!("{} is not a field of the Tenant schema", p.path));
        let d = field.description.clone().unwrap_or_default();
        assert!(
            d.ends_with(&p.description_sentence()),
            "{}: description does not end with the pending sentence: {d}",
            p.path
        );
    }
}

#[test]
fn acted_on_fields_do_not_say_they_are_pending() {
    let schema = serde_json::to_value(tenant_schema()).unwrap();
    for path in [
        "/properties/spec/properties/tenantId",
        "/properties/spec/properties/quota",
        "/properties/spec/properties/quota/properties/cpuQuota",
        "/properties/spec/properties/billing",
        "/properties/spec/properties/billing/properties/costCenter",
        "/properties/spec/properties/billing/properties/billingContact",
        "/properties/spec/properties/tenantConfig",
        "/properties/spec/properties/tenantConfig/properties/labels",
        "/properties/spec/properties/isolation/properties/secretsEncryption",
    ] {
        let d = schema
            .pointer(&format!("{path}/description"))
            .and_then(|d| d.as_str())
            .unwrap_or_else(|| panic!("{path} has a description"));
        assert!(!d.contains("acted on by the operator"), "{path}: {d}");
    }
}

/// The doc's line for one row.
fn doc_row(p: &Pending) -> String {
    let today = match p.partly {
        None => "not acted on".to_string(),
        Some(done) => format!("partly: {done}"),
    };
    format!(
        "| `{}` | {} | {today} | {} |",
        p.path,
        p.concern.as_str(),
        p.will
    )
}

#[test]
fn the_api_doc_lists_exactly_the_pending_fields() {
    const HEADING: &str = "## Accepted but not acted on yet";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tenant-api.md");
    let doc = std::fs::read_to_string(&path).expect("docs/tenant-api.md");
    let expected: Vec<String> = PENDING.iter().map(doc_row).collect();
    let help = format!(
        "{HEADING} in docs/tenant-api.md must list crates/api/src/pending.rs row by row:\n{}",
        expected.join("\n")
    );
    let section = doc
        .split_once(HEADING)
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or_default())
        .unwrap_or_else(|| panic!("{help}"));
    let listed: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `spec."))
        .collect();
    assert_eq!(listed, expected, "{help}");
}
