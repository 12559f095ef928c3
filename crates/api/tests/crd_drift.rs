//! The committed CRD YAML under deploy/crds must be exactly what the Rust types generate.
//! Regenerate with: cargo run -p kubectl-tenant -- crd --out-dir deploy/crds

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn committed_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let mut drifted = Vec::new();
    for (file, crd) in tenant_api::crds() {
        let generated = serde_saphyr::to_string(&crd).expect("CRD serializes");
        let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if generated != committed {
            drifted.push(file);
        }
    }
    assert!(
        drifted.is_empty(),
        "deploy/crds is out of date for {drifted:?}; run: cargo run -p kubectl-tenant -- crd --out-dir deploy/crds"
    );
}

#[test]
fn crds_are_namespaced_with_status_and_short_names() {
    for (file, crd) in tenant_api::crds() {
        assert_eq!(crd.spec.group, "shop.pilab.hu", "{file}");
        assert_eq!(crd.spec.scope, "Namespaced", "{file}");
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            "{file}"
        );
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.served && v.storage);
    }
    let tenant = tenant_api::crds().remove(0).1;
    let v = &tenant.spec.versions[0];
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some(),
        "Tenant has a status subresource"
    );
    let cols: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        cols,
        [
            "Tenant",
            "Type",
            "Namespace",
            "Phase",
            "Ready",
            "Services",
            "Cost/mo",
            "Age"
        ]
    );
}

#[test]
fn every_schema_property_is_documented() {
    fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
            for (name, sub) in props {
                let p = format!("{path}.{name}");
                if sub.get("description").is_none()
                    && !matches!(name.as_str(), "apiVersion" | "kind" | "metadata")
                {
                    missing.push(p.clone());
                }
                walk(&p, sub, missing);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
                walk(&format!("{path}[]"), sub, missing);
            }
        }
    }
    let mut missing = Vec::new();
    for (file, crd) in tenant_api::crds() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema serializes");
        walk(file, &schema["openAPIV3Schema"], &mut missing);
    }
    // Conditions come from k8s-openapi and carry their own docs; everything of ours must have one.
    missing.retain(|p| !p.contains(".conditions[]"));
    assert!(missing.is_empty(), "undocumented fields: {missing:#?}");
}

/// Words that name the documents the API was specified from. `kubectl explain` speaks of the
/// product; where a field comes from is recorded in docs/field-origins.md only.
const SOURCE_NAMES: [&str; 7] = [
    "seed",
    "nixernetes",
    "pishop operator",
    "validatetenant",
    "calculatetotalquota",
    "mktenant",
    "mknamespacequota",
];

#[test]
fn descriptions_do_not_name_the_source_documents() {
    let mut found = Vec::new();
    for (file, crd) in tenant_api::crds() {
        let text = serde_saphyr::to_string(&crd)
            .expect("CRD serializes")
            .to_lowercase();
        for word in SOURCE_NAMES {
            if text.contains(word) {
                found.push(format!("{file}: {word}"));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
