//! Events on the Tenant: what the operator changed, and why it refused. Never on a no-op.

use kube::Resource;
use kube::runtime::events::{Event, EventType};
use tracing::{info, warn};

use super::Pass;
use super::apply::Applied;
use super::prune::Pruned;

pub async fn publish(pass: &Pass<'_>, type_: EventType, reason: &str, action: &str, note: String) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(tenant_core::status::truncate(&note, 1000)),
        action: action.to_string(),
        secondary: None,
    };
    pass.ctx.metrics.write("Event", "create");
    if let Err(e) = pass
        .ctx
        .recorder
        .publish(&event, &pass.tenant.object_ref(&()))
        .await
    {
        warn!(error = %e, reason, "publishing an event failed");
    }
}

/// Reports objects whose ownership marks were tampered with (a Warning Event, reason
/// `OwnershipTampered`), once per distinct finding per Tenant: a finding that stays does not add
/// an Event on every reconcile.
pub async fn tampered(pass: &Pass<'_>, finding: String) {
    if !pass.ctx.tampered.first_time(pass.uid, &finding) {
        return;
    }
    warn!(tenant = %pass.owner, %finding, "ownership marks tampered with");
    publish(
        pass,
        EventType::Warning,
        "OwnershipTampered",
        "Verify",
        finding,
    )
    .await;
}

/// One Normal Event per kind of change (created, updated, deleted), naming the objects.
pub async fn changes(pass: &Pass<'_>, applied: &Applied, pruned: &Pruned) {
    for (reason, action, verb, what) in [
        ("Created", "Apply", "created", &applied.created),
        ("Updated", "Apply", "updated", &applied.updated),
        ("Deleted", "Prune", "deleted", &pruned.deleted),
    ] {
        if what.is_empty() {
            continue;
        }
        let what = what.join(", ");
        info!(objects = %what, "{verb}");
        publish(
            pass,
            EventType::Normal,
            reason,
            action,
            format!("{verb} {what}"),
        )
        .await;
    }
}
