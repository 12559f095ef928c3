//! Build: the objects the Tenant wants, from the pure builders (what `kubectl tenant render`
//! prints for the same Tenant).

use kube::runtime::controller::Action;
use tenant_core::Object;
use tenant_core::build;
use tenant_core::naming;
use tenant_core::status::Outcome;

use super::dereference::Refs;
use super::{Pass, Refusal};
use crate::error::Error;

/// The desired objects, in apply order, and the namespace they live in.
pub struct Desired {
    pub objects: Vec<Object>,
    pub namespace: String,
}

impl Desired {
    /// The Namespace object itself.
    pub fn is_namespace(&self, o: &Object) -> bool {
        o.kind == "Namespace" && o.api_version == "v1" && o.name == self.namespace
    }
}

pub fn run(pass: &Pass<'_>, refs: &Refs) -> Result<Desired, Refusal> {
    let pull = pass.ctx.pull_secrets.current();
    let bctx = pass.ctx.config.build_context(&refs.related, &pull);
    match build::tenant_objects(pass.tenant, &bctx) {
        Ok(objects) => {
            let namespace = objects
                .iter()
                .find(|o| o.kind == "Namespace" && o.api_version == "v1")
                .map(|o| o.name.clone())
                .unwrap_or_else(|| naming::namespace_name(&pass.tenant.spec));
            Ok(Desired { objects, namespace })
        }
        Err(e) => {
            let err = Error::Build(e);
            pass.ctx.metrics.error(err.category());
            let message = err.to_string();
            Err(Refusal {
                outcome: Box::new(Outcome::BuildFailed {
                    message: message.clone(),
                }),
                reason: "BuildFailed",
                action: "Build",
                message,
                then: Action::await_change(),
            })
        }
    }
}
