//! Build: the objects the Tenant wants, from the pure builders (what `kubectl tenant render`
//! prints for the same Tenant).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use tenant_core::Object;
use tenant_core::build::{self, services};
use tenant_core::naming;
use tenant_core::status::Outcome;

use super::dereference::Refs;
use super::{Pass, Refusal};
use crate::error::Error;

/// The desired objects, in apply order, and the namespace they live in.
pub struct Desired {
    pub objects: Vec<Object>,
    pub namespace: String,
    /// Velero's namespace, home of the tenant's backup Schedule.
    pub velero_namespace: String,
    /// A release the maintenance window holds back.
    pub pending: Option<tenant_api::PendingRollout>,
    /// Asleep by the hibernation timetable: until when.
    pub asleep_until: Option<jiff::Timestamp>,
    /// When time alone changes what is desired (a sleep or wake time, a window opening).
    pub next_change: Option<jiff::Timestamp>,
    /// Scaled to zero while frozen by the budget (`--budget-freeze-hibernates`).
    pub budget_hibernated: bool,
}

impl Desired {
    /// The Namespace object itself.
    pub fn is_namespace(&self, o: &Object) -> bool {
        o.kind == "Namespace" && o.api_version == "v1" && o.name == self.namespace
    }

    /// Whether a namespaced object of this kind in `namespace` is where the operator puts this
    /// Tenant's objects of that kind: its own namespace, or Velero's for the backup Schedule.
    pub fn at_home(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> bool {
        let home = match tenant_core::registry::find(api_version, kind).map(|k| k.home) {
            Some(tenant_core::registry::Home::Velero) => &self.velero_namespace,
            _ => &self.namespace,
        };
        namespace == Some(home.as_str())
    }
}

pub fn run(
    pass: &Pass<'_>,
    refs: &Refs,
    wiring: &tenant_core::build::data::Wiring,
) -> Result<Desired, Refusal> {
    let pull = pass.ctx.pull_secrets.current();
    let releases = pass.ctx.releases.current();
    let mut bctx = pass
        .ctx
        .config
        .build_context(&refs.related, &pull, &releases);
    let timing = match timing(pass, &bctx) {
        Ok(t) => t,
        Err(e) => return Err(refusal(pass, e)),
    };
    bctx.held_release = timing.held.as_ref();
    bctx.data = wiring;
    bctx.budget_hibernated = pass.ctx.config.budget_freeze_hibernates
        && pass
            .ctx
            .kinds
            .budget_frozen(&naming::namespace_name(&pass.tenant.spec))
            == Some(true);
    match build::tenant_objects(pass.tenant, &bctx) {
        Ok(objects) => {
            let namespace = objects
                .iter()
                .find(|o| o.kind == "Namespace" && o.api_version == "v1")
                .map(|o| o.name.clone())
                .unwrap_or_else(|| naming::namespace_name(&pass.tenant.spec));
            Ok(Desired {
                objects,
                namespace,
                velero_namespace: pass.ctx.config.backup.velero_namespace.clone(),
                pending: timing.pending,
                asleep_until: timing.asleep_until,
                next_change: timing.next_change,
                budget_hibernated: bctx.budget_hibernated,
            })
        }
        Err(e) => Err(refusal(pass, e)),
    }
}

/// What time decides: the release the maintenance window holds (the one the services run now,
/// while the spec asks for another and the window is closed), and when to look again.
struct Timing {
    held: Option<services::Release>,
    pending: Option<tenant_api::PendingRollout>,
    asleep_until: Option<jiff::Timestamp>,
    next_change: Option<jiff::Timestamp>,
}

fn timing(pass: &Pass<'_>, bctx: &build::BuildContext) -> Result<Timing, build::BuildError> {
    let tenant = pass.tenant;
    let life = services::lifecycle(tenant, bctx.now)?;
    let mut out = Timing {
        held: None,
        pending: None,
        asleep_until: life.asleep_until,
        next_change: life.next_change,
    };
    let Some((open, next)) = services::window(tenant, bctx.now)? else {
        return Ok(out);
    };
    if open {
        // closing changes nothing by itself
        return Ok(out);
    }
    let desired = services::desired_release(tenant, bctx)?;
    // what the first service runs now (a tenant without services, or not deployed yet, holds
    // nothing: its first rollout does not wait)
    let namespace = naming::namespace_name(&tenant.spec);
    let live = tenant
        .spec
        .services
        .iter()
        .flatten()
        .next()
        .and_then(|svc| {
            pass.ctx
                .kinds
                .find("apps/v1", "Deployment")?
                .cache
                .get(Some(&namespace), svc)
        })
        .and_then(|d| services::Release::of_live(&d));
    if let Some(live) = live
        && live != desired
    {
        out.pending = Some(tenant_api::PendingRollout {
            image_tag: (live.tag != desired.tag).then(|| desired.tag.clone()),
            deployed_at: tenant.spec.deployed_at.clone(),
            not_before: next.map(Time),
        });
        out.held = Some(live);
        out.next_change = match (out.next_change, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(out)
}

fn refusal(pass: &Pass<'_>, e: build::BuildError) -> Refusal {
    let err = Error::Build(e);
    pass.ctx.metrics.error(err.category());
    let message = err.to_string();
    Refusal {
        outcome: Box::new(Outcome::BuildFailed {
            message: message.clone(),
        }),
        reason: "BuildFailed",
        action: "Build",
        message,
        // A release channel the platform has not published yet is looked at again when the
        // channels change (they reconcile every Tenant); nothing else changes without a new spec.
        then: Action::await_change(),
    }
}
