//! The validate step: the same `validateTenant` the CLI runs, so the operator refuses exactly
//! what `kubectl tenant validate` reports.

use tenant_api::Tenant;

/// `Ok` when the spec is valid, else every error (each naming its field).
pub fn validate(tenant: &Tenant) -> Result<(), Vec<String>> {
    // Interim until tenant_core::validate::validate_tenant lands: the CRD's CEL rules, offline.
    match tenant.validate_cel() {
        Ok(()) => Ok(()),
        Err(errors) => Err(errors
            .as_slice()
            .iter()
            .map(|e| format!("{}: {}", e.field_path, e.message))
            .collect()),
    }
}
