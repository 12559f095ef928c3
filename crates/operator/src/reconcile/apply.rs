//! Apply: every desired object the live state does not already contain, with server-side apply.
//! The namespace first (still under the claim's lock), then everything in it, in builder order.
//! A no-op reconcile reads every object from the stores and writes nothing.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tenant_core::Object;
use tenant_core::claim::{self, Claim};
use tenant_core::diff::{describe_difference, is_subset, needs_replace};
use tenant_core::registry::Home;
use tracing::{debug, info, warn};

use super::build::Desired;
use super::claim::{Claimed, conflict};
use super::{Pass, Refusal};
use crate::cache::CachedRef;
use crate::error::{Error, Result};
use crate::io::{self, Created};
use crate::kinds::{Kind, Served};

/// What applying the desired objects did.
#[derive(Default)]
pub struct Applied {
    /// `Kind name` of each object created or changed.
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Objects of kinds the cluster does not serve (their CRD is not installed), per kind.
    pub skipped: BTreeMap<String, usize>,
    /// `Kind namespace/name` of objects outside the tenant's namespace that someone else holds
    /// under the name the operator wants (left alone).
    pub foreign: Vec<String>,
    /// The live objects by `Object::key`, as the store or the server's answer had them.
    pub live: HashMap<String, Value>,
    /// Kinds the API server refused the operator (403: its RBAC lacks them), with the first
    /// refusal: the other objects are still applied, and that kind's concern reports it.
    pub denied: BTreeMap<String, String>,
}

/// What applying one object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Unchanged,
    Created,
    Updated,
    NotServed,
    /// Someone else's object holds the name (outside the tenant namespace): left alone.
    Foreign,
}

pub async fn run(
    pass: &Pass<'_>,
    desired: &Desired,
    claimed: Claimed,
) -> Result<Result<Applied, Refusal>> {
    let Claimed {
        verdict,
        live: live_ns,
        guard,
    } = claimed;
    let mut out = Applied::default();
    let mut guard = Some(guard);
    let ordered = desired
        .objects
        .iter()
        .filter(|o| desired.is_namespace(o))
        .chain(desired.objects.iter().filter(|o| !desired.is_namespace(o)));
    for obj in ordered {
        let is_namespace = desired.is_namespace(obj);
        let (change, value) = if is_namespace && verdict == Claim::Free {
            match create_namespace(pass, obj).await? {
                Created::Ours(live) => (Change::Created, Some(live)),
                Created::Foreign { managers } => {
                    let holder = if managers.is_empty() {
                        "whoever created it while this Tenant was claiming it".to_string()
                    } else {
                        format!(
                            "whoever created it while this Tenant was claiming it (field managers: {})",
                            managers.join(", ")
                        )
                    };
                    return Ok(Err(conflict(desired.namespace.clone(), holder)));
                }
            }
        } else {
            let prefetched = if is_namespace { live_ns.clone() } else { None };
            // The namespace itself was judged by the claim (ours by its recorded uid or marks,
            // or adopted): its marks are put (back) on by this apply.
            match ensure(pass, obj, prefetched, is_namespace).await {
                Ok(r) => r,
                // One kind's RBAC missing stops that kind only (the namespace's stops all).
                Err(e) if !is_namespace && e.forbidden() => {
                    warn!(kind = %obj.kind, name = %obj.name, error = %e, "forbidden: the operator's RBAC does not allow this kind");
                    out.denied
                        .entry(obj.kind.clone())
                        .or_insert_with(|| e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        let what = format!("{} {}", obj.kind, obj.name);
        match change {
            Change::Created => out.created.push(what),
            Change::Updated => out.updated.push(what),
            Change::NotServed => *out.skipped.entry(obj.kind.clone()).or_default() += 1,
            Change::Foreign => out.foreign.push(format!(
                "{} {}/{}",
                obj.kind,
                obj.namespace.as_deref().unwrap_or(""),
                obj.name
            )),
            Change::Unchanged => {}
        }
        if let Some(v) = value {
            out.live.insert(obj.key(), v);
        }
        if is_namespace {
            drop(guard.take());
        }
    }
    Ok(Ok(out))
}

/// The registered kind of `obj`.
fn kind_of<'k>(pass: &'k Pass<'_>, obj: &Object) -> Result<&'k Kind> {
    pass.ctx
        .kinds
        .find(&obj.api_version, &obj.kind)
        .ok_or_else(|| Error::Unregistered {
            kind: obj.kind.clone(),
            name: obj.name.clone(),
        })
}

fn apply_error(obj: &Object) -> impl FnOnce(kube::Error) -> Error + '_ {
    |source| Error::Apply {
        kind: obj.kind.clone(),
        name: obj.name.clone(),
        source,
    }
}

/// Creates the namespace the claim found absent; `Foreign` if someone else created it in the
/// meantime (the operator's fields were withdrawn again).
async fn create_namespace(pass: &Pass<'_>, obj: &Object) -> Result<Created> {
    let kind = kind_of(pass, obj)?;
    pass.ctx.metrics.write(&obj.kind, "apply");
    let created = io::apply_absent(&pass.ctx.client, &kind.resource, obj)
        .await
        .map_err(|source| Error::Claim {
            namespace: obj.name.clone(),
            source,
        })?;
    if let Created::Foreign { managers } = &created {
        pass.ctx.metrics.write(&obj.kind, "apply");
        warn!(namespace = %obj.name, ?managers, "someone else created the namespace during the claim; the operator's fields were withdrawn");
    }
    Ok(created)
}

/// Applies `obj` unless the live object (from its kind's store, else `prefetched`) already
/// contains it. Objects of a kind the cluster does not serve are skipped.
async fn ensure(
    pass: &Pass<'_>,
    obj: &Object,
    prefetched: Option<Value>,
    claimed: bool,
) -> Result<(Change, Option<Value>)> {
    let kind = kind_of(pass, obj)?;
    if kind.served() != Served::Yes {
        return Ok((Change::NotServed, None));
    }
    let mut live = prefetched.or_else(|| kind.cache.get(obj.namespace.as_deref(), &obj.name));
    if kind.row.home != Home::Tenant
        && !claimed
        && let Some(l) = &live
        && !l
            .get("metadata")
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .is_some_and(|m| claim::marks_match(&m, &pass.owner, pass.uid))
    {
        return Ok((Change::Foreign, None));
    }
    if live.is_none() && kind.row.home != Home::Tenant {
        // Outside the tenant's namespace an object of that name may be someone else's (the
        // store holds only the operator's): never take one over.
        match io::get(
            &pass.ctx.client,
            &kind.resource,
            obj.namespace.as_deref(),
            &obj.name,
        )
        .await
        .map_err(apply_error(obj))?
        {
            Some(found) if claim::marks_match(&found.metadata, &pass.owner, pass.uid) => {
                live = Some(io::to_value(found));
            }
            Some(_) => return Ok((Change::Foreign, None)),
            None => {
                pass.ctx.metrics.write(&obj.kind, "apply");
                return match io::apply_absent(&pass.ctx.client, &kind.resource, obj)
                    .await
                    .map_err(apply_error(obj))?
                {
                    Created::Ours(v) => Ok((Change::Created, Some(v))),
                    Created::Foreign { .. } => {
                        pass.ctx.metrics.write(&obj.kind, "apply");
                        Ok((Change::Foreign, None))
                    }
                };
            }
        }
    }
    if let Some(l) = &live {
        if is_subset(&obj.manifest, l) {
            return Ok((Change::Unchanged, live));
        }
        debug!(kind = %obj.kind, name = %obj.name, difference = ?describe_difference(obj, l), "live object differs");
        if needs_replace(obj, l)
            && let Some(r) = live_ref(obj, l)
        {
            info!(kind = %obj.kind, name = %obj.name, "an immutable field changed: deleting to create it anew");
            pass.ctx.metrics.write(&obj.kind, "delete");
            io::delete(&pass.ctx.client, &kind.resource, &r)
                .await
                .map_err(apply_error(obj))?;
        }
    }
    pass.ctx.metrics.write(&obj.kind, "apply");
    let out = io::apply(&pass.ctx.client, &kind.resource, obj, &obj.manifest)
        .await
        .map_err(apply_error(obj))?;
    let change = if live.is_some() {
        Change::Updated
    } else {
        Change::Created
    };
    debug!(kind = %obj.kind, name = %obj.name, ?change, "applied");
    Ok((change, Some(io::to_value(out))))
}

/// The identity of a live object (for a uid-guarded delete).
fn live_ref(obj: &Object, live: &Value) -> Option<CachedRef> {
    let meta = serde_json::from_value(live.get("metadata")?.clone()).ok()?;
    Some(CachedRef::from_meta(&obj.api_version, &obj.kind, &meta))
}
