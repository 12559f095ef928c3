//! The validate step: the same `validateTenant` the CLI runs, so the operator refuses exactly
//! what `kubectl tenant validate` reports.

use tenant_api::Tenant;

/// `Ok` when the spec is valid, else every error (`"<field path>: <rule>"`).
pub fn validate(tenant: &Tenant) -> Result<(), Vec<String>> {
    let report = tenant_core::validate::validate_tenant(tenant);
    if report.valid {
        Ok(())
    } else {
        Err(report.errors)
    }
}
