//! The contract between validation and the builders: whatever validates, renders; and whatever
//! the builders refuse, validation refuses too (so the operator never meets a build error after
//! validating a spec).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::Path;
use tenant_api::Tenant;
use tenant_core::build::{BuildContext, tenant_objects};
use tenant_core::validate::validate_value;

fn documents(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        let tenants = docs
            .into_iter()
            .filter(|d| d.get("kind").and_then(Value::as_str) == Some("Tenant"));
        for (i, d) in tenants.enumerate() {
            out.push((format!("{}#{}", p.display(), i + 1), d));
        }
    }
    out
}

#[test]
fn valid_documents_render_and_builder_refusals_are_invalid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = documents(&root.join("../../examples"));
    docs.extend(documents(&root.join("tests/fixtures/valid")));
    let valid_count = docs.len();
    docs.extend(documents(&root.join("tests/fixtures/invalid")));
    let mut rendered = 0;
    for (name, doc) in &docs {
        let report = validate_value(doc);
        let Ok(tenant) = serde_json::from_value::<Tenant>(doc.clone()) else {
            assert!(
                !report.valid,
                "{name}: does not parse as a Tenant but validates"
            );
            continue;
        };
        match tenant_objects(&tenant, &BuildContext::default()) {
            Ok(objects) => {
                if report.valid {
                    assert!(!objects.is_empty(), "{name}");
                    rendered += 1;
                }
            }
            Err(e) => assert!(
                !report.valid,
                "{name}: validates, but the builders refuse it: {e}"
            ),
        }
    }
    assert!(
        rendered >= valid_count,
        "every example and valid fixture renders ({rendered} of {valid_count})"
    );
}
