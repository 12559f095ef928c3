//! The CRD's transition rules (immutability), evaluated offline with the same CEL engine the
//! validator uses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tenant_api::{Tenant, TenantSpec, TenantType};

fn tenant(spec: TenantSpec) -> Tenant {
    let mut t = Tenant::new("t", spec);
    t.metadata.namespace = Some("default".into());
    t
}

fn update_errors(old: TenantSpec, new: TenantSpec) -> Vec<String> {
    match tenant(new).validate_cel_update(&tenant(old)) {
        Ok(()) => Vec::new(),
        Err(e) => e.iter().map(|x| x.to_string()).collect(),
    }
}

#[test]
fn tenant_id_and_environment_are_immutable() {
    let old = TenantSpec::new("acme", TenantType::Production);
    let mut new = old.clone();
    new.tenant_id = "other".into();
    assert!(
        update_errors(old.clone(), new)
            .iter()
            .any(|e| e.starts_with("spec.tenantId"))
    );
    let mut new = old.clone();
    new.environment = Some("eu1".into());
    assert!(
        update_errors(old, new)
            .iter()
            .any(|e| e.starts_with("spec.environment"))
    );
}

#[test]
fn tenant_type_is_immutable_only_while_it_names_the_namespace() {
    let old = TenantSpec::new("acme", TenantType::Staging);
    let mut new = old.clone();
    new.tenant_type = TenantType::Production;
    assert!(
        update_errors(old, new)
            .iter()
            .any(|e| e.starts_with("spec.tenantType")),
        "without environment, the type is the environment and names the namespace"
    );
    let mut old = TenantSpec::new("acme", TenantType::Staging);
    old.environment = Some("main".into());
    let mut new = old.clone();
    new.tenant_type = TenantType::Production;
    assert_eq!(
        update_errors(old, new),
        Vec::<String>::new(),
        "with an explicit environment it may change"
    );
}

#[test]
fn unchanged_specs_pass_every_transition_rule() {
    let old = TenantSpec::new("acme", TenantType::Development);
    assert_eq!(update_errors(old.clone(), old), Vec::<String>::new());
}
