//! Layer 4: cross-field checks, for rules that need several fields or more than CEL can say.

mod isolation;
mod misc;
pub use misc::duration_seconds;
mod network;
mod rbac;
mod resources;
mod services;

use super::Ctx;
use super::quantities::{self, Quantities};
use crate::naming;
use crate::presets::Effective;
use tenant_api::{PRStack, Tenant};

pub(crate) fn tenant(t: &Tenant, ctx: &mut Ctx) {
    let spec = &t.spec;
    let eff = Effective::of(t);
    let q = Quantities::collect(quantities::tenant_fields(spec), ctx);
    resources::run(spec, &q, ctx);
    services::run(spec, ctx);
    isolation::run(spec, &eff, &q, ctx);
    network::run(spec, &eff, ctx);
    rbac::run(spec, ctx);
    misc::data(spec, ctx);
    misc::backup(spec.backup_config.as_ref(), Some(spec.tenant_type), ctx);
    misc::billing(spec, ctx);
    misc::tenant_config(spec, ctx);
    misc::monitoring(spec, ctx);
    misc::rollout(spec, ctx);
    // Last: the builders themselves. Whatever they refuse is reported here with its field, so a
    // valid Tenant always renders (and the operator never meets a build error after validation).
    // After another failure it is not run: the specific check has already said what is wrong.
    if ctx.has_failures() {
        return;
    }
    // The platform's release channels are not known offline: the tenant's channel stands for
    // whatever tag the platform publishes (the operator reports an unpublished one).
    let channels: std::collections::BTreeMap<String, String> = t
        .spec
        .release_channel
        .iter()
        .map(|c| (c.clone(), "channel-release".to_string()))
        .collect();
    let bctx = crate::build::BuildContext {
        releases: &channels,
        ..crate::build::BuildContext::default()
    };
    ctx.check(
        "build.renders",
        "spec",
        "every object renders: the builders accept the spec",
        |g| match crate::build::tenant_objects(t, &bctx) {
            Ok(_) => {}
            Err(crate::build::BuildError::Invalid { field, message }) => g.fail(field, message),
            Err(e) => g.fail("spec", e.to_string()),
        },
    );
}

/// Checks that compare the new version of a Tenant with the old one.
pub(crate) fn update(new: &Tenant, old: &Tenant, ctx: &mut Ctx) {
    let (n, o) = (&new.spec, &old.spec);
    let (new_ns, old_ns) = (naming::namespace_name(n), naming::namespace_name(o));
    let field = if n.tenant_type != o.tenant_type {
        "spec.tenantType"
    } else {
        "spec.namespaceConfig"
    };
    ctx.check("update.namespaceUnchanged", field, format!("the tenant stays in namespace {old_ns:?}"), |g| {
        if new_ns != old_ns {
            let why = if n.tenant_type != o.tenant_type && n.environment.is_none() {
                " (environment is unset, so it follows tenantType, and the namespace pattern uses it)"
            } else {
                ""
            };
            g.fail(
                field,
                format!("the change would move the tenant from namespace {old_ns:?} to {new_ns:?}{why}: the namespace is immutable; create a new Tenant to move"),
            );
        }
    });
    ctx.check("update.dataIsolation", "spec.dataIsolation", "data locations unchanged", |g| {
        let (nd, od) = (n.data_isolation.clone().unwrap_or_default(), o.data_isolation.clone().unwrap_or_default());
        for (field, a, b) in [
            ("mongoDatabase", &nd.mongo_database, &od.mongo_database),
            ("natsSubjectPrefix", &nd.nats_subject_prefix, &od.nats_subject_prefix),
            ("redisKeyPrefix", &nd.redis_key_prefix, &od.redis_key_prefix),
        ] {
            if a != b {
                g.warn(
                    format!("spec.dataIsolation.{field}"),
                    "changed: the services will use a new location and the tenant's existing data stays behind in the old one",
                );
            }
        }
    });
}

/// The few cross-field checks that apply to a PRStack.
pub(crate) fn prstack(p: &PRStack, ctx: &mut Ctx) {
    let _ = Quantities::collect(
        quantities::resource_limit_fields("spec", p.spec.resource_limits.as_ref()),
        ctx,
    );
    ctx.check("services.names", "spec.services", "every service name is an RFC 1035 label", |g| {
        for (i, s) in p.spec.services.iter().flatten().enumerate() {
            if s.starts_with(|c: char| c.is_ascii_digit()) {
                g.fail(format!("spec.services[{i}]"), format!("{s:?} must start with a lower-case letter (a Service name is an RFC 1035 label)"));
            }
        }
    });
    misc::backup(p.spec.backup_config.as_ref(), None, ctx);
}
