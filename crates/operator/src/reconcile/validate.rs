//! Validate: the same validation `kubectl tenant validate` runs, so the operator refuses
//! exactly what the CLI reports. Once per Tenant generation: the spec cannot change without a
//! new generation, and most reconciles (child events, resyncs) see one already validated.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::runtime::controller::Action;
use tenant_core::status::Outcome;

use super::{Pass, Refusal};

type Validated = Result<(), Vec<String>>;

/// The result per Tenant uid, with the generation it is for.
#[derive(Default)]
pub struct Memo(Mutex<HashMap<String, (i64, Validated)>>);

impl Memo {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Validated)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }
}

pub fn run(pass: &Pass<'_>) -> Result<(), Refusal> {
    let generation = pass.tenant.metadata.generation.unwrap_or(0);
    let memo = &pass.ctx.validated;
    let cached = memo
        .lock()
        .get(pass.uid)
        .filter(|(g, _)| *g == generation)
        .map(|(_, r)| r.clone());
    let result = cached.unwrap_or_else(|| {
        let report = tenant_core::validate::validate_tenant(pass.tenant);
        let result = if report.valid {
            Ok(())
        } else {
            Err(report.errors)
        };
        memo.lock()
            .insert(pass.uid.to_string(), (generation, result.clone()));
        result
    });
    result.map_err(|errors| Refusal {
        message: errors.join("; "),
        outcome: Box::new(Outcome::InvalidSpec { errors }),
        reason: "InvalidSpec",
        action: "Validate",
        // Nothing applied, nothing deleted; only a spec change can help.
        then: Action::await_change(),
    })
}
