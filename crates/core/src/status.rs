//! The Tenant's status as a pure function of what the reconcile found, and the rule for when it
//! must be written.
//!
//! The status has several writers, each a server-side-apply field manager that sends only the
//! fields it owns: the reconcile owns the phase, `observedGeneration`, the namespace and its
//! uid, the isolation level, the quota summary and the conditions of [`RECONCILE_CONDITIONS`]; a
//! periodic writer (cost) owns `status.cost` and its own conditions. `status.conditions` is a
//! map-list keyed by `type`, so each writer's conditions survive the others' writes. A writer
//! writes only when something it owns changed ([`needs_write`]). Conditions keep their
//! `lastTransitionTime` unless their status flips.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::Value;
use tenant_api::condition as c;
use tenant_api::{Phase, QuotaSummary, Tenant, TenantStatus};

use crate::diff::is_subset;
use crate::registry::{self, Concern};

/// A condition before timestamps are decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Cond {
    fn new(type_: &'static str, status: bool, reason: &str, message: impl Into<String>) -> Cond {
        Cond {
            type_,
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// The condition types the reconcile writes (and owns): `Ready`, `SpecValid` and one per concern.
pub const RECONCILE_CONDITIONS: [&str; 2 + Concern::ALL.len()] = {
    let mut out = [c::READY; 2 + Concern::ALL.len()];
    out[1] = c::SPEC_VALID;
    let mut i = 0;
    while i < Concern::ALL.len() {
        out[2 + i] = Concern::ALL[i].condition();
        i += 1;
    }
    out
};

/// What an applied reconcile observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub namespace: String,
    /// `status.phase` of the live namespace.
    pub namespace_phase: Option<String>,
    /// `metadata.uid` of the live namespace (recorded as the evidence that it is the tenant's).
    pub namespace_uid: Option<String>,
    /// Number of desired (and applied) objects per kind.
    pub kinds: BTreeMap<String, usize>,
    /// Objects of kinds the cluster does not serve (CRD not installed), per kind: skipped.
    pub skipped: BTreeMap<String, usize>,
    /// Kinds the API server refused the operator (its RBAC lacks them), with the refusal.
    pub denied: BTreeMap<String, String>,
    /// The live ResourceQuota, when one is desired.
    pub quota: Option<Value>,
    /// Whether the services run: `spec.active`, not asleep, not hibernated by the budget.
    pub active: bool,
    /// Scaled to zero while frozen by the budget (the platform's `--budget-freeze-hibernates`).
    pub budget_hibernated: bool,
    /// The cluster-wide admission policies (which read the TenantPolicy) are in place.
    pub shared_policies: bool,
    /// The tenant's services, as their live Deployments report them (spec order).
    pub services: Vec<ServiceState>,
    /// `spec.deployedAt`, recorded as `status.lastDeployedAt` once every service rolled it out.
    pub deployed_at: Option<Time>,
    /// A release the maintenance window holds back.
    pub pending_rollout: Option<tenant_api::PendingRollout>,
    /// Asleep by the hibernation timetable until then.
    pub asleep_until: Option<Time>,
    /// The tenant's identities on the platform's shared data servers (empty: none).
    pub data: Vec<StoreState>,
    /// The tenant's backups (`None`: backups are off).
    pub backup: Option<crate::backups::BackupState>,
    /// The `restoreSchedule` time acted on (`None`: no restore schedule).
    pub scheduled_restore: Option<Time>,
}

/// One data store's identity for the tenant, as provisioning left it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreState {
    /// `Redis`, `NATS`, `MongoDB`.
    pub store: String,
    pub ready: bool,
    /// Another tenant (or someone else) holds the name or prefix: nothing was changed.
    pub conflict: bool,
    /// What was provisioned, or why not (never a credential).
    pub message: String,
}

impl StoreState {
    /// A dedicated store from its live StatefulSet (`None`: not there yet): ready when it runs
    /// its current template on every replica it wants (none while the tenant sleeps).
    pub fn of_stateful_set(store: &str, name: &str, live: Option<&Value>) -> StoreState {
        let state = |ready: bool, message: String| StoreState {
            store: store.to_string(),
            ready,
            conflict: false,
            message,
        };
        let Some(s) = live else {
            return state(false, format!("StatefulSet {name} is not there yet"));
        };
        let int = |p: &str| s.pointer(p).and_then(Value::as_i64);
        let desired = int("/spec/replicas").unwrap_or(1);
        let ready = int("/status/readyReplicas").unwrap_or(0);
        let observed = int("/status/observedGeneration").unwrap_or(0)
            >= int("/metadata/generation").unwrap_or(1);
        let current = int("/status/updatedReplicas").unwrap_or(0) >= desired
            || s.pointer("/status/currentRevision") == s.pointer("/status/updateRevision");
        if desired == 0 {
            return state(
                true,
                format!(
                    "StatefulSet {name} scaled to zero while the tenant sleeps; its volume is kept"
                ),
            );
        }
        let done = observed && current && ready >= desired;
        state(
            done,
            format!("StatefulSet {name} in the namespace, {ready}/{desired} ready"),
        )
    }
}

/// The DataReady condition, when the tenant has provisioned stores.
fn data_condition(p: &Progress) -> Option<Cond> {
    if p.data.is_empty() {
        return None;
    }
    let text = |f: &dyn Fn(&StoreState) -> bool| {
        p.data
            .iter()
            .filter(|s| f(s))
            .map(|s| format!("{}: {}", s.store, s.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Some(if p.data.iter().any(|s| s.conflict) {
        Cond::new(c::DATA_READY, false, "DataConflict", text(&|s| s.conflict))
    } else if p.data.iter().any(|s| !s.ready) {
        Cond::new(
            c::DATA_READY,
            false,
            "StoreUnavailable",
            text(&|s| !s.ready),
        )
    } else {
        Cond::new(c::DATA_READY, true, "Provisioned", text(&|_| true))
    })
}

/// How far one service's Deployment is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceState {
    pub name: String,
    /// Replicas the Deployment wants (the HPA's choice when autoscaled).
    pub desired: i64,
    /// Replicas available.
    pub available: i64,
    /// The Deployment runs its current template on exactly `desired` available replicas.
    pub complete: bool,
    /// Why the rollout does not progress (a pod refused by quota or admission, a stalled
    /// rollout), from the Deployment's conditions.
    pub problem: Option<String>,
}

impl ServiceState {
    /// The state of service `name` from its live Deployment (`None`: not there yet).
    pub fn of(name: &str, live: Option<&Value>) -> ServiceState {
        let Some(d) = live else {
            return ServiceState {
                name: name.to_string(),
                ..ServiceState::default()
            };
        };
        let int = |p: &str| d.pointer(p).and_then(Value::as_i64);
        let desired = int("/spec/replicas").unwrap_or(1);
        let available = int("/status/availableReplicas").unwrap_or(0);
        let observed = int("/status/observedGeneration").unwrap_or(0)
            >= int("/metadata/generation").unwrap_or(1);
        let complete = observed
            && int("/status/updatedReplicas").unwrap_or(0) == desired
            && int("/status/replicas").unwrap_or(0) == desired
            && available >= desired;
        let conditions = d
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let text = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let problem = conditions.iter().find_map(|c| {
            match (
                text(c, "type").as_str(),
                text(c, "status").as_str(),
                text(c, "reason").as_str(),
            ) {
                ("ReplicaFailure", "True", reason) => {
                    Some(format!("{reason}: {}", text(c, "message")))
                }
                ("Progressing", "False", "ProgressDeadlineExceeded") => {
                    Some(format!("rollout stalled: {}", text(c, "message")))
                }
                _ => None,
            }
        });
        ServiceState {
            name: name.to_string(),
            desired,
            available,
            complete: complete && problem.is_none(),
            problem: if complete { None } else { problem },
        }
    }
}

/// `status.servicesReady`: services whose rollout is complete over all services.
pub fn services_ready(services: &[ServiceState]) -> Option<String> {
    (!services.is_empty()).then(|| {
        format!(
            "{}/{}",
            services.iter().filter(|s| s.complete).count(),
            services.len()
        )
    })
}

/// The ServicesReady condition, when the tenant has services.
fn services_condition(p: &Progress) -> Option<Cond> {
    let all = &p.services;
    if all.is_empty() {
        return None;
    }
    let ready = services_ready(all).unwrap_or_default();
    let names = |f: &dyn Fn(&ServiceState) -> bool| {
        all.iter()
            .filter(|s| f(s))
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !p.active {
        return Some(if all.iter().all(|s| s.complete) {
            Cond::new(
                c::SERVICES_READY,
                true,
                "Suspended",
                format!(
                    "{} scaled to zero ({})",
                    plural(all.len(), "service"),
                    if p.budget_hibernated {
                        "hibernated while over the monthly budget"
                    } else {
                        "spec.active=false"
                    }
                ),
            )
        } else {
            Cond::new(
                c::SERVICES_READY,
                false,
                "ScalingDown",
                format!("scaling to zero: {}", names(&|s| !s.complete)),
            )
        });
    }
    let problems: Vec<String> = all
        .iter()
        .filter_map(|s| s.problem.as_ref().map(|m| format!("{}: {m}", s.name)))
        .collect();
    let pending = match &p.pending_rollout {
        Some(r) => format!(
            "; {} waits for the maintenance window{}",
            r.image_tag
                .as_deref()
                .map_or("a rollout".to_string(), |t| format!("release {t}")),
            r.not_before
                .as_ref()
                .map_or(String::new(), |t| format!(" ({})", t.0))
        ),
        None => String::new(),
    };
    Some(if !problems.is_empty() {
        Cond::new(
            c::SERVICES_READY,
            false,
            "RolloutStalled",
            format!("{ready} available; {}", problems.join("; ")),
        )
    } else if all.iter().all(|s| s.complete) {
        Cond::new(
            c::SERVICES_READY,
            true,
            "Available",
            format!("{ready} available{pending}"),
        )
    } else {
        Cond::new(
            c::SERVICES_READY,
            false,
            "RollingOut",
            format!(
                "{ready} available; rolling out: {}",
                names(&|s| !s.complete)
            ),
        )
    })
}

/// What a reconcile concluded.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Spec valid; nothing applied yet.
    Initializing { namespace: String },
    /// Validation failed: nothing was applied or deleted.
    InvalidSpec { errors: Vec<String> },
    /// The builders refused the spec.
    BuildFailed { message: String },
    /// The namespace exists and is not ours.
    Conflict { namespace: String, holder: String },
    /// An older Tenant holds the custom domain (or one overlapping it): nothing was applied.
    DomainConflict { domain: String, holder: String },
    /// Our namespace from an earlier incarnation is still being deleted.
    NamespaceTerminating { namespace: String },
    /// An apply or delete failed.
    ApplyFailed { namespace: String, message: String },
    /// Every desired object is applied.
    Applied(Box<Progress>),
    /// The Tenant is being deleted; `stuck` says what holds its namespace when that has been
    /// terminating for long.
    Cleaning {
        namespace: Option<String>,
        stuck: Option<String>,
    },
    /// `spec.placement` names other regions or clusters: nothing is done here; what this
    /// operator made here earlier is kept.
    NotPlaced { why: String },
}

/// At most this many validation errors are named in the condition message.
const MAX_ERRORS: usize = 5;

fn plural(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {what}s"),
    }
}

fn count(p: &Progress, kind: &str) -> usize {
    p.kinds.get(kind).copied().unwrap_or(0)
}

/// Whether the ResourceQuota's controller has taken up its spec (`status.hard` covers `spec.hard`).
pub fn quota_enforced(rq: &Value) -> bool {
    match (rq.pointer("/spec/hard"), rq.pointer("/status/hard")) {
        (Some(spec), Some(status)) => is_subset(spec, status),
        (None, _) => true,
        _ => false,
    }
}

fn string_map(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let m = v?.as_object()?;
    Some(
        m.iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect(),
    )
}

/// The quota summary of the status, from the live ResourceQuota.
pub fn quota_summary(rq: &Value) -> Option<QuotaSummary> {
    let hard =
        string_map(rq.pointer("/status/hard")).or_else(|| string_map(rq.pointer("/spec/hard")));
    let used = string_map(rq.pointer("/status/used"));
    (hard.is_some() || used.is_some()).then_some(QuotaSummary { hard, used })
}

/// The phase and conditions an outcome means.
pub fn conditions(outcome: &Outcome) -> (Phase, Vec<Cond>) {
    let spec_ok = Cond::new(c::SPEC_VALID, true, "Valid", "the spec passed validation");
    match outcome {
        Outcome::Initializing { namespace } => (
            Phase::Initialization,
            vec![
                Cond::new(
                    c::READY,
                    false,
                    "Initializing",
                    format!("provisioning namespace {namespace}"),
                ),
                spec_ok,
            ],
        ),
        Outcome::InvalidSpec { errors } => {
            let mut msg = errors
                .iter()
                .take(MAX_ERRORS)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if errors.len() > MAX_ERRORS {
                msg.push_str(&format!("; and {} more", errors.len() - MAX_ERRORS));
            }
            (
                Phase::Failed,
                vec![
                    Cond::new(
                        c::READY,
                        false,
                        "InvalidSpec",
                        format!("invalid spec: {msg}"),
                    ),
                    Cond::new(c::SPEC_VALID, false, "InvalidSpec", msg),
                ],
            )
        }
        Outcome::BuildFailed { message } => (
            Phase::Failed,
            vec![
                Cond::new(c::READY, false, "BuildFailed", message.clone()),
                Cond::new(c::SPEC_VALID, false, "BuildFailed", message.clone()),
            ],
        ),
        Outcome::Conflict { namespace, holder } => {
            let msg = format!(
                "namespace {namespace} already exists and belongs to {holder}; nothing was taken over"
            );
            (
                Phase::Failed,
                vec![
                    Cond::new(c::READY, false, "NamespaceConflict", msg.clone()),
                    spec_ok,
                    Cond::new(c::NAMESPACE_READY, false, "NamespaceConflict", msg),
                ],
            )
        }
        Outcome::DomainConflict { domain, holder } => {
            let msg = format!(
                "customDomain {domain} is already held by {holder}, an older Tenant; nothing was applied for this Tenant: choose another domain, or remove it from the other Tenant"
            );
            (
                Phase::Failed,
                vec![
                    Cond::new(c::READY, false, "DomainConflict", msg.clone()),
                    spec_ok,
                ],
            )
        }
        Outcome::NamespaceTerminating { namespace } => {
            let msg =
                format!("namespace {namespace} from an earlier deletion is still terminating");
            (
                Phase::Provisioning,
                vec![
                    Cond::new(c::READY, false, "NamespaceTerminating", msg.clone()),
                    spec_ok,
                    Cond::new(c::NAMESPACE_READY, false, "NamespaceTerminating", msg),
                ],
            )
        }
        Outcome::ApplyFailed { message, .. } => (
            Phase::Provisioning,
            vec![
                Cond::new(c::READY, false, "ApplyFailed", message.clone()),
                spec_ok,
            ],
        ),
        Outcome::Cleaning {
            stuck: Some(why), ..
        } => (
            Phase::Cleaning,
            vec![Cond::new(c::READY, false, "NamespaceStuck", why.clone())],
        ),
        Outcome::Cleaning {
            namespace,
            stuck: None,
        } => (
            Phase::Cleaning,
            vec![Cond::new(
                c::READY,
                false,
                "Deleting",
                match namespace {
                    Some(ns) => format!("deleting namespace {ns} and the tenant's objects"),
                    None => "deleting the tenant's objects".to_string(),
                },
            )],
        ),
        Outcome::NotPlaced { why } => (
            Phase::NotPlaced,
            vec![Cond::new(c::READY, false, "NotPlaced", why.clone())],
        ),
        Outcome::Applied(p) => applied_conditions(p),
    }
}

fn applied_conditions(p: &Progress) -> (Phase, Vec<Cond>) {
    let mut conds = Vec::new();
    let mut blocking: Vec<&Cond> = Vec::new();
    // A denied kind without a concern of its own blocks Ready directly.
    let mut blocking_denied: Vec<Cond> = Vec::new();

    let ns_active = p.namespace_phase.as_deref() == Some("Active");
    let ns = if ns_active {
        Cond::new(
            c::NAMESPACE_READY,
            true,
            "Active",
            format!("namespace {} is active", p.namespace),
        )
    } else {
        Cond::new(
            c::NAMESPACE_READY,
            false,
            "NamespacePending",
            format!(
                "namespace {} is {}",
                p.namespace,
                p.namespace_phase.as_deref().unwrap_or("not yet reported")
            ),
        )
    };

    let quota = match (&p.quota, count(p, "ResourceQuota"), count(p, "LimitRange")) {
        (_, 0, 0) => Cond::new(
            c::QUOTA_READY,
            true,
            "NoQuota",
            "no quota or limit range configured",
        ),
        (Some(rq), _, lr) if quota_enforced(rq) => {
            let hard = quota_summary(rq)
                .and_then(|q| q.hard)
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let lr = if lr > 0 { " and limit range" } else { "" };
            Cond::new(
                c::QUOTA_READY,
                true,
                "Enforced",
                format!("quota{lr} enforced: {hard}"),
            )
        }
        (_, 0, _) => Cond::new(
            c::QUOTA_READY,
            true,
            "Applied",
            "limit range applied (no quota configured)",
        ),
        _ => Cond::new(
            c::QUOTA_READY,
            false,
            "QuotaPending",
            "waiting for the quota controller to report the hard limits",
        ),
    };

    let np = count(p, "NetworkPolicy");
    let net = if np > 0 {
        Cond::new(
            c::NETWORK_ISOLATED,
            true,
            "PoliciesApplied",
            format!("{} applied", plural(np, "NetworkPolicy")),
        )
    } else {
        // Not blocking: permissive isolation has no policies by design.
        Cond::new(
            c::NETWORK_ISOLATED,
            false,
            "IsolationDisabled",
            "no NetworkPolicies: network isolation is off",
        )
    };

    let (roles, bindings, sas) = (
        count(p, "Role"),
        count(p, "RoleBinding"),
        count(p, "ServiceAccount"),
    );
    let rbac = if roles + bindings + sas > 0 {
        Cond::new(
            c::RBAC_READY,
            true,
            "Applied",
            format!(
                "{}, {}, {} applied",
                plural(roles, "Role"),
                plural(bindings, "RoleBinding"),
                plural(sas, "ServiceAccount")
            ),
        )
    } else {
        Cond::new(
            c::RBAC_READY,
            true,
            "NothingToBind",
            "no one to bind: the tenant has no owner, admins, members or service accounts",
        )
    };

    let policy = if !p.shared_policies {
        Cond::new(
            c::POLICY_READY,
            false,
            "SharedPoliciesPending",
            "the shared ValidatingAdmissionPolicies are not in place yet (see the operator log)",
        )
    } else if count(p, "TenantPolicy") > 0 {
        Cond::new(
            c::POLICY_READY,
            true,
            "Enforced",
            "admission policies in place with this tenant's parameters",
        )
    } else {
        Cond::new(
            c::POLICY_READY,
            false,
            "NoParameters",
            "no admission policy parameters rendered",
        )
    };

    conds.push(Cond::new(
        c::SPEC_VALID,
        true,
        "Valid",
        "the spec passed validation",
    ));
    conds.push(ns);
    conds.push(quota);
    conds.push(net);
    conds.push(rbac);
    conds.push(policy);
    let services = services_condition(p);
    if let Some(s) = &services {
        conds.push(s.clone());
    }
    if let Some(d) = data_condition(p) {
        conds.push(d);
    }
    if let Some(b) = &p.backup {
        conds.push(Cond::new(
            c::BACKUP_READY,
            b.ready,
            &b.reason,
            b.message.clone(),
        ));
    }

    // Integrations: a condition only when the tenant has objects of that concern.
    for concern in Concern::ALL.into_iter().filter(|c| {
        !c.always_reported() && !matches!(c, Concern::Services | Concern::Data | Concern::Backup)
    }) {
        let of_concern = |kind: &str| registry::by_kind(kind).map(|k| k.concern) == Some(concern);
        let n: usize = p
            .kinds
            .iter()
            .filter(|(k, _)| of_concern(k))
            .map(|(_, n)| n)
            .sum();
        let not_served: Vec<&str> = p
            .skipped
            .keys()
            .filter(|k| of_concern(k))
            .map(String::as_str)
            .collect();
        if !not_served.is_empty() {
            // Not blocking: an optional integration whose CRDs the cluster lacks.
            conds.push(Cond::new(
                concern.condition(),
                false,
                "CRDNotInstalled",
                format!(
                    "the cluster does not serve {}; install its CRDs",
                    not_served.join(", ")
                ),
            ));
        } else if n > 0 {
            conds.push(Cond::new(
                concern.condition(),
                true,
                "Applied",
                format!("{n} {} applied", concern.noun()),
            ));
        }
    }

    // A kind the operator may not write (its RBAC lacks it): that kind's concern says so,
    // whatever it said above; the other concerns stand.
    for (kind, refusal) in &p.denied {
        let concern = registry::by_kind(kind).map(|k| k.concern);
        let type_ = concern.map_or(c::READY, |c| c.condition());
        let cond = Cond::new(
            type_,
            false,
            "Forbidden",
            format!(
                "the API server forbids the operator to write {kind} (403, usually its RBAC lacking the kind; retried with backoff): {refusal}"
            ),
        );
        match conds.iter_mut().find(|c| c.type_ == type_) {
            Some(existing) if existing.reason == "Forbidden" => {
                existing.message = format!("{}; {}", existing.message, cond.message);
            }
            Some(existing) => *existing = cond,
            None if type_ == c::READY => blocking_denied.push(cond),
            None => conds.push(cond),
        }
    }
    let gating: Vec<&str> = Concern::ALL
        .iter()
        .filter(|c| c.gates_ready())
        .map(|c| c.condition())
        .collect();
    for cond in &conds {
        if !cond.status && (gating.contains(&cond.type_) || cond.reason == "Forbidden") {
            blocking.push(cond);
        }
    }
    blocking.extend(blocking_denied.iter());
    let (phase, ready) = match blocking.first() {
        Some(b) => (
            Phase::Provisioning,
            Cond::new(c::READY, false, &b.reason, b.message.clone()),
        ),
        None if p.active && services.as_ref().is_some_and(|s| !s.status) => {
            let s = services
                .as_ref()
                .map(|s| (s.reason.clone(), s.message.clone()));
            let (reason, message) = s.unwrap_or_default();
            (
                Phase::Deployment,
                Cond::new(c::READY, false, &reason, message),
            )
        }
        None if !p.active => (
            Phase::Suspended,
            Cond::new(
                c::READY,
                true,
                "Suspended",
                match &p.asleep_until {
                    _ if p.budget_hibernated => {
                        "guardrails in place; hibernated while over its monthly budget \
                         (billing.budgetEnforcement; the platform hibernates frozen tenants)"
                            .to_string()
                    }
                    Some(until) => format!(
                        "guardrails in place; asleep by the hibernation timetable until {}",
                        until.0
                    ),
                    None => "guardrails in place; the tenant is inactive (spec.active=false)"
                        .to_string(),
                },
            ),
        ),
        None => {
            let total: usize = p.kinds.values().sum();
            (
                Phase::Running,
                Cond::new(
                    c::READY,
                    true,
                    "Running",
                    format!(
                        "{} in namespace {} applied and ready",
                        plural(total, "object"),
                        p.namespace
                    ),
                ),
            )
        }
    };
    conds.insert(0, ready);
    (phase, conds)
}

/// Conditions with timestamps: an unchanged status keeps the old `lastTransitionTime`.
pub fn merge_conditions(
    old: &[Condition],
    new: &[Cond],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    new.iter()
        .map(|n| {
            let status = if n.status { "True" } else { "False" };
            let prev = old.iter().find(|o| o.type_ == n.type_);
            let ltt = match prev {
                Some(o) if o.status == status => o.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: n.type_.to_string(),
                status: status.to_string(),
                reason: n.reason.clone(),
                message: truncate(&n.message, 1024),
                observed_generation: generation,
                last_transition_time: ltt,
            }
        })
        .collect()
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `...`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// The part of the status the reconcile owns after `outcome`, given the stored status
/// `current` (for the transition times of conditions that did not flip, and the quota summary
/// an outcome that did not read the quota keeps). Fields of other writers are not in it: the
/// reconcile's status apply leaves them alone.
pub fn desired_status(
    tenant: &Tenant,
    current: Option<&TenantStatus>,
    outcome: &Outcome,
    now: &Time,
) -> TenantStatus {
    let (phase, conds) = conditions(outcome);
    let generation = tenant.metadata.generation;
    let old_conds = current
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let namespace = match outcome {
        Outcome::Initializing { namespace }
        | Outcome::NamespaceTerminating { namespace }
        | Outcome::ApplyFailed { namespace, .. } => Some(namespace.clone()),
        Outcome::Applied(p) => Some(p.namespace.clone()),
        // A namespace we do not own is not "the tenant's namespace".
        Outcome::Conflict { .. } | Outcome::InvalidSpec { .. } | Outcome::BuildFailed { .. } => {
            None
        }
        Outcome::DomainConflict { .. } => current.and_then(|s| s.namespace.clone()),
        Outcome::Cleaning { namespace, .. } => namespace.clone(),
        Outcome::NotPlaced { .. } => current.and_then(|s| s.namespace.clone()),
    };
    // The namespace's uid stays recorded through every outcome but a conflict (an invalid spec
    // or a failed apply does not make the namespace any less the tenant's: it must still be
    // cleaned up with the Tenant).
    let namespace_uid = match outcome {
        Outcome::Applied(p) => p
            .namespace_uid
            .clone()
            .or_else(|| current.and_then(|s| s.namespace_uid.clone())),
        Outcome::Conflict { .. } => None,
        _ => current.and_then(|s| s.namespace_uid.clone()),
    };
    let quota = match outcome {
        Outcome::Applied(p) => p.quota.as_ref().and_then(quota_summary),
        Outcome::Conflict { .. } | Outcome::InvalidSpec { .. } | Outcome::BuildFailed { .. } => {
            None
        }
        _ => current.and_then(|s| s.quota.clone()),
    };
    // Services: what the live Deployments report; an outcome that did not look at them keeps
    // what was recorded.
    let (services_ready, last_deployed_at, pending_rollout) = match outcome {
        Outcome::Applied(p) => {
            let done = !p.services.is_empty() && p.services.iter().all(|s| s.complete);
            let held = p
                .pending_rollout
                .as_ref()
                .is_some_and(|r| r.deployed_at.is_some());
            let last = if done && p.active && p.deployed_at.is_some() && !held {
                p.deployed_at.clone()
            } else {
                current.and_then(|s| s.last_deployed_at.clone())
            };
            (services_ready(&p.services), last, p.pending_rollout.clone())
        }
        _ => (
            current.and_then(|s| s.services_ready.clone()),
            current.and_then(|s| s.last_deployed_at.clone()),
            current.and_then(|s| s.pending_rollout.clone()),
        ),
    };
    // The last successful backup: what the Backups report, never forgotten by an outcome that
    // did not look at them.
    let last_backup_time = match outcome {
        Outcome::Applied(p) => p
            .backup
            .as_ref()
            .and_then(|b| b.last_success)
            .map(Time)
            .or_else(|| current.and_then(|s| s.last_backup_time.clone())),
        _ => current.and_then(|s| s.last_backup_time.clone()),
    };
    let last_scheduled_restore = match outcome {
        Outcome::Applied(p) => p.scheduled_restore.clone(),
        _ => current.and_then(|s| s.last_scheduled_restore.clone()),
    };
    TenantStatus {
        phase: Some(phase),
        observed_generation: generation,
        namespace,
        namespace_uid,
        isolation_level: Some(crate::Effective::of(tenant).isolation.level),
        conditions: Some(merge_conditions(&old_conds, &conds, generation, now)),
        quota,
        services_ready,
        last_deployed_at,
        pending_rollout,
        last_backup_time,
        last_scheduled_restore,
        ..TenantStatus::default()
    }
}

/// The fields of `status` the reconcile owns, conditions in a fixed order (the stored list's
/// order depends on how several writers' applies merged).
pub fn owned_by_reconcile(status: &TenantStatus) -> TenantStatus {
    let mut conditions: Vec<Condition> = status
        .conditions
        .iter()
        .flatten()
        .filter(|c| RECONCILE_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    TenantStatus {
        phase: status.phase,
        observed_generation: status.observed_generation,
        namespace: status.namespace.clone(),
        namespace_uid: status.namespace_uid.clone(),
        isolation_level: status.isolation_level,
        conditions: (!conditions.is_empty()).then_some(conditions),
        quota: status.quota.clone(),
        services_ready: status.services_ready.clone(),
        last_deployed_at: status.last_deployed_at.clone(),
        pending_rollout: status.pending_rollout.clone(),
        last_backup_time: status.last_backup_time.clone(),
        last_scheduled_restore: status.last_scheduled_restore.clone(),
        ..TenantStatus::default()
    }
}

/// Whether the reconcile must write its part of the stored status `old` to make it `new` (the
/// output of [`desired_status`]): only when a field it owns differs.
pub fn needs_write(old: Option<&TenantStatus>, new: &TenantStatus) -> bool {
    let old = old.map(owned_by_reconcile).unwrap_or_default();
    old != owned_by_reconcile(new)
}

/// Whether the stored status `old` and the new one `new` differ only in progress: the counts of
/// a rollout (`servicesReady`, condition messages) and the quota's current use, with every
/// phase, condition status and reason the same. The operator writes such a change at most every
/// few seconds per Tenant (a rollout of four services otherwise writes the status at every pod).
pub fn progress_only(old: Option<&TenantStatus>, new: &TenantStatus) -> bool {
    let Some(old) = old else {
        return false;
    };
    let strip = |s: &TenantStatus| {
        let mut s = owned_by_reconcile(s);
        s.services_ready = None;
        if let Some(q) = s.quota.as_mut() {
            q.used = None;
        }
        for c in s.conditions.iter_mut().flatten() {
            c.message.clear();
            c.last_transition_time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        }
        s
    };
    needs_write(Some(old), new) && strip(old) == strip(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tenant_api::{TenantSpec, TenantType};

    fn tenant() -> Tenant {
        let mut t = Tenant::new("a", TenantSpec::new("a", TenantType::Production));
        t.metadata.namespace = Some("default".into());
        t.metadata.generation = Some(3);
        t
    }

    fn ts(secs: i64) -> Time {
        Time(
            k8s_openapi::jiff::Timestamp::from_second(secs)
                .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        )
    }

    fn cond<'a>(s: &'a TenantStatus, t: &str) -> Option<&'a Condition> {
        s.conditions.as_ref()?.iter().find(|c| c.type_ == t)
    }

    fn progress(quota_status: bool) -> Progress {
        let mut rq = json!({"spec": {"hard": {"limits.cpu": "2", "limits.memory": "4Gi"}}});
        if quota_status {
            rq["status"] = json!({"hard": {"limits.cpu": "2", "limits.memory": "4Gi"}, "used": {"limits.cpu": "0"}});
        }
        Progress {
            namespace: "tenant-a-production".into(),
            namespace_phase: Some("Active".into()),
            namespace_uid: None,
            kinds: BTreeMap::from([
                ("Namespace".into(), 1),
                ("ResourceQuota".into(), 1),
                ("LimitRange".into(), 1),
                ("NetworkPolicy".into(), 3),
                ("Role".into(), 3),
                ("RoleBinding".into(), 2),
                ("TenantPolicy".into(), 1),
            ]),
            skipped: BTreeMap::new(),
            denied: BTreeMap::new(),
            quota: Some(rq),
            active: true,
            budget_hibernated: false,
            shared_policies: true,
            services: Vec::new(),
            data: Vec::new(),
            backup: None,
            scheduled_restore: None,
            deployed_at: None,
            pending_rollout: None,
            asleep_until: None,
        }
    }

    #[test]
    fn running_needs_an_active_namespace_and_an_enforced_quota() {
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(progress(true))));
        assert_eq!(phase, Phase::Running);
        assert!(conds.iter().all(|c| c.status), "{conds:?}");

        let (phase, conds) = conditions(&Outcome::Applied(Box::new(progress(false))));
        assert_eq!(phase, Phase::Provisioning);
        assert_eq!(conds[0].type_, c::READY);
        assert_eq!(conds[0].reason, "QuotaPending");

        let mut p = progress(true);
        p.namespace_phase = None;
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p)));
        assert_eq!(phase, Phase::Provisioning);
        assert_eq!(conds[0].reason, "NamespacePending");
    }

    #[test]
    fn cleaning_says_deleting_until_the_namespace_is_stuck() {
        let ns = Some("tenant-a-production".to_string());
        let (phase, conds) = conditions(&Outcome::Cleaning {
            namespace: ns.clone(),
            stuck: None,
        });
        assert_eq!(phase, Phase::Cleaning);
        assert_eq!(conds[0].reason, "Deleting");
        assert!(conds[0].message.contains("tenant-a-production"));
        let (phase, conds) = conditions(&Outcome::Cleaning {
            namespace: ns,
            stuck: Some("held by example.com/hold".into()),
        });
        assert_eq!(phase, Phase::Cleaning);
        assert_eq!((conds[0].type_, conds[0].status), (c::READY, false));
        assert_eq!(conds[0].reason, "NamespaceStuck");
        assert_eq!(conds[0].message, "held by example.com/hold");
    }

    #[test]
    fn inactive_tenants_are_suspended_with_guardrails() {
        let mut p = progress(true);
        p.active = false;
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p)));
        assert_eq!(phase, Phase::Suspended);
        assert_eq!(conds[0].reason, "Suspended");
    }

    #[test]
    fn invalid_spec_names_the_fields() {
        let errors = vec!["spec.quota.cpuQuota: must not exceed cpuLimit".to_string()];
        let status = desired_status(&tenant(), None, &Outcome::InvalidSpec { errors }, &ts(10));
        assert_eq!(status.phase, Some(Phase::Failed));
        let ready = cond(&status, c::READY);
        assert_eq!(ready.map(|c| c.reason.as_str()), Some("InvalidSpec"));
        assert!(ready.is_some_and(|c| c.message.contains("spec.quota.cpuQuota")));
        assert_eq!(
            cond(&status, c::SPEC_VALID).map(|c| c.status.as_str()),
            Some("False")
        );
        assert_eq!(status.observed_generation, Some(3));
    }

    #[test]
    fn a_denied_kind_fails_its_concern_and_ready_and_leaves_the_others_standing() {
        let mut p = progress(true);
        p.kinds.insert("NetworkPolicy".into(), 3);
        p.denied.insert(
            "NetworkPolicy".into(),
            "applying NetworkPolicy default-deny: forbidden".into(),
        );
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p)));
        assert_eq!(phase, Phase::Provisioning);
        let of = |t: &str| conds.iter().find(|c| c.type_ == t).cloned();
        let net = of(c::NETWORK_ISOLATED).unwrap_or_else(|| panic!("{conds:?}"));
        assert!(!net.status);
        assert_eq!(net.reason, "Forbidden");
        assert!(
            net.message
                .contains("forbids the operator to write NetworkPolicy"),
            "{}",
            net.message
        );
        let ready = of(c::READY).unwrap_or_else(|| panic!("{conds:?}"));
        assert!(!ready.status);
        assert_eq!(ready.reason, "Forbidden");
        assert!(of(c::NAMESPACE_READY).is_some_and(|c| c.status));
        assert!(of(c::RBAC_READY).is_some_and(|c| c.status));
    }

    #[test]
    fn not_placed_says_why_and_keeps_the_namespace_an_earlier_placement_made() {
        let current = TenantStatus {
            namespace: Some("tenant-a-production".into()),
            ..TenantStatus::default()
        };
        let o = Outcome::NotPlaced {
            why: "spec.placement names regions [eu]".into(),
        };
        let status = desired_status(&tenant(), Some(&current), &o, &ts(10));
        assert_eq!(status.phase, Some(Phase::NotPlaced));
        assert_eq!(status.namespace.as_deref(), Some("tenant-a-production"));
        let ready = cond(&status, c::READY);
        assert_eq!(ready.map(|c| c.reason.as_str()), Some("NotPlaced"));
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn conflict_names_the_holder_and_claims_no_namespace() {
        let o = Outcome::Conflict {
            namespace: "tenant-a-production".into(),
            holder: "Tenant other/b".into(),
        };
        let status = desired_status(&tenant(), None, &o, &ts(10));
        assert_eq!(status.phase, Some(Phase::Failed));
        assert_eq!(status.namespace, None);
        let ready = cond(&status, c::READY);
        assert_eq!(ready.map(|c| c.reason.as_str()), Some("NamespaceConflict"));
        assert!(ready.is_some_and(|c| c.message.contains("Tenant other/b")));
    }

    #[test]
    fn unchanged_status_needs_no_write_and_keeps_transition_times() {
        let mut t = tenant();
        let first = desired_status(
            &t,
            None,
            &Outcome::Applied(Box::new(progress(true))),
            &ts(10),
        );
        t.status = Some(first.clone());
        let second = desired_status(
            &t,
            t.status.as_ref(),
            &Outcome::Applied(Box::new(progress(true))),
            &ts(20),
        );
        assert!(
            !needs_write(t.status.as_ref(), &second),
            "a no-op reconcile must not write status"
        );

        // Quota used changes: a write, but the Ready transition time stays.
        let mut p = progress(true);
        if let Some(q) = p.quota.as_mut() {
            q["status"]["used"]["limits.cpu"] = json!("500m");
        }
        let third = desired_status(
            &t,
            t.status.as_ref(),
            &Outcome::Applied(Box::new(p)),
            &ts(30),
        );
        assert!(needs_write(t.status.as_ref(), &third));
        assert_eq!(
            cond(&third, c::READY).map(|c| c.last_transition_time.clone()),
            Some(ts(10))
        );

        // Ready flips: its transition time moves.
        let fourth = desired_status(
            &t,
            t.status.as_ref(),
            &Outcome::Applied(Box::new(progress(false))),
            &ts(40),
        );
        assert_eq!(
            cond(&fourth, c::READY).map(|c| c.last_transition_time.clone()),
            Some(ts(40))
        );
        assert_eq!(
            cond(&fourth, c::RBAC_READY).map(|c| c.last_transition_time.clone()),
            Some(ts(10))
        );
    }

    #[test]
    fn other_writers_fields_neither_cause_a_write_nor_are_sent() {
        let t = tenant();
        let mine = desired_status(
            &t,
            None,
            &Outcome::Applied(Box::new(progress(true))),
            &ts(10),
        );
        let mut stored = mine.clone();
        stored.cost = Some(tenant_api::CostSummary {
            hourly: Some("0.42".into()),
            ..Default::default()
        });
        // The cost writer's condition, placed first, as a merge of two writers may leave it.
        if let Some(cs) = stored.conditions.as_mut() {
            cs.insert(
                0,
                Condition {
                    type_: c::BUDGET_OK.into(),
                    status: "False".into(),
                    reason: "OverBudget".into(),
                    message: "over".into(),
                    observed_generation: None,
                    last_transition_time: ts(5),
                },
            );
        }
        let again = desired_status(
            &t,
            Some(&stored),
            &Outcome::Applied(Box::new(progress(true))),
            &ts(20),
        );
        assert!(!needs_write(Some(&stored), &again));
        assert!(again.cost.is_none(), "the reconcile does not send cost");
        assert!(cond(&again, c::BUDGET_OK).is_none());
        // A condition the reconcile owns that it no longer reports is a change (the apply
        // removes it).
        let mut extra = stored.clone();
        if let Some(cs) = extra.conditions.as_mut() {
            cs.push(Condition {
                type_: c::MONITORING_READY.into(),
                status: "True".into(),
                reason: "Applied".into(),
                message: "1 monitoring objects applied".into(),
                observed_generation: Some(3),
                last_transition_time: ts(5),
            });
        }
        assert!(needs_write(Some(&extra), &again));
    }

    #[test]
    fn integrations_report_missing_crds_without_holding_ready() {
        let mut p = progress(true);
        p.skipped.insert("PrometheusRule".into(), 1);
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p.clone())));
        assert_eq!(phase, Phase::Running);
        let mon = conds.iter().find(|c| c.type_ == c::MONITORING_READY);
        assert_eq!(
            mon.map(|c| (c.status, c.reason.as_str())),
            Some((false, "CRDNotInstalled"))
        );
        p.skipped.clear();
        p.kinds.insert("PrometheusRule".into(), 1);
        let (_, conds) = conditions(&Outcome::Applied(Box::new(p)));
        let mon = conds.iter().find(|c| c.type_ == c::MONITORING_READY);
        assert_eq!(mon.map(|c| c.status), Some(true));
    }

    #[test]
    fn quota_summary_prefers_status_hard() {
        let rq = json!({"spec": {"hard": {"pods": "10"}}, "status": {"hard": {"pods": "10"}, "used": {"pods": "2"}}});
        let q = quota_summary(&rq);
        assert_eq!(
            q.as_ref()
                .and_then(|q| q.used.as_ref())
                .and_then(|u| u.get("pods"))
                .map(String::as_str),
            Some("2")
        );
        assert!(quota_enforced(&rq));
        assert!(!quota_enforced(
            &json!({"spec": {"hard": {"pods": "10"}}, "status": {"hard": {"pods": "5"}}})
        ));
        assert!(quota_enforced(
            &json!({"spec": {"hard": {"cpu": "0.5"}}, "status": {"hard": {"cpu": "500m"}}})
        ));
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let s = "é".repeat(600);
        let t = truncate(&s, 1024);
        assert!(t.len() <= 1024 && t.ends_with("..."));
    }

    fn deployment(replicas: i64, available: i64, conditions: Value) -> Value {
        json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": replicas,
                       "availableReplicas": available, "conditions": conditions},
        })
    }

    #[test]
    fn services_hold_running_until_every_one_is_available() {
        let ok = deployment(2, 2, json!([]));
        let rolling = deployment(2, 1, json!([]));
        let mut p = progress(true);
        p.services = vec![
            ServiceState::of("api", Some(&ok)),
            ServiceState::of("web", Some(&rolling)),
        ];
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p.clone())));
        assert_eq!(phase, Phase::Deployment);
        assert_eq!(conds[0].reason, "RollingOut");
        assert!(
            conds[0].message.contains("1/2 available"),
            "{}",
            conds[0].message
        );
        assert!(conds[0].message.contains("web"), "{}", conds[0].message);

        p.services[1] = ServiceState::of("web", Some(&ok));
        p.deployed_at = Some(ts(100));
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p.clone())));
        assert_eq!(phase, Phase::Running);
        assert!(
            conds
                .iter()
                .any(|c| c.type_ == c::SERVICES_READY && c.status)
        );
        let st = desired_status(&tenant(), None, &Outcome::Applied(Box::new(p)), &ts(1));
        assert_eq!(st.services_ready.as_deref(), Some("2/2"));
        assert_eq!(st.last_deployed_at, Some(ts(100)));
    }

    #[test]
    fn data_stores_hold_ready_and_name_the_store() {
        let mut p = progress(true);
        p.data = vec![StoreState {
            store: "Redis".into(),
            ready: false,
            conflict: false,
            message: "redis://r:6379 unreachable: connection refused".into(),
        }];
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p.clone())));
        assert_eq!(phase, Phase::Provisioning);
        assert_eq!(conds[0].reason, "StoreUnavailable");
        assert!(
            conds[0].message.contains("Redis: redis://r:6379"),
            "{}",
            conds[0].message
        );
        p.data[0].conflict = true;
        let (_, conds) = conditions(&Outcome::Applied(Box::new(p.clone())));
        assert_eq!(conds[0].reason, "DataConflict");
        p.data[0] = StoreState {
            store: "Redis".into(),
            ready: true,
            conflict: false,
            message: "user a".into(),
        };
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p)));
        assert_eq!(phase, Phase::Running);
        assert!(
            conds
                .iter()
                .any(|c| c.type_ == c::DATA_READY && c.status && c.reason == "Provisioned")
        );
    }

    #[test]
    fn rollout_steps_are_progress_but_transitions_are_not() {
        let ok = deployment(1, 1, json!([]));
        let none = deployment(1, 0, json!([]));
        let mut p = progress(true);
        p.services = vec![
            ServiceState::of("api", Some(&none)),
            ServiceState::of("web", Some(&none)),
            ServiceState::of("shop", Some(&none)),
        ];
        let status_of = |p: &Progress, old: Option<&TenantStatus>| {
            desired_status(
                &tenant(),
                old,
                &Outcome::Applied(Box::new(p.clone())),
                &ts(1),
            )
        };
        let zero = status_of(&p, None);
        assert!(
            !progress_only(None, &zero),
            "a first status is not progress"
        );
        p.services[0] = ServiceState::of("api", Some(&ok));
        let one = status_of(&p, Some(&zero));
        assert_eq!(one.services_ready.as_deref(), Some("1/3"));
        assert!(progress_only(Some(&zero), &one), "0/3 -> 1/3 is progress");
        assert!(
            !progress_only(Some(&one), &one),
            "no change is nothing to write"
        );
        p.services[1] = ServiceState::of("web", Some(&ok));
        p.services[2] = ServiceState::of("shop", Some(&ok));
        p.deployed_at = Some(ts(100));
        let all = status_of(&p, Some(&one));
        assert_eq!(all.phase, Some(Phase::Running));
        assert!(
            !progress_only(Some(&one), &all),
            "reaching Running is a transition, written at once"
        );
        let mut stalled = p.clone();
        stalled.services[2] = ServiceState::of(
            "shop",
            Some(&deployment(
                1,
                0,
                json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                        "message": "forbidden"}]),
            )),
        );
        let st = status_of(&stalled, Some(&one));
        assert!(!progress_only(Some(&one), &st), "a stall is a new reason");
    }

    #[test]
    fn a_refused_pod_stalls_the_rollout_naming_the_service_and_cause() {
        let refused = deployment(
            1,
            0,
            json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                    "message": "pods \"web-1\" is forbidden: exceeded quota: tenant-quota"}]),
        );
        let mut p = progress(true);
        p.services = vec![ServiceState::of("web", Some(&refused))];
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p)));
        assert_eq!(phase, Phase::Deployment);
        assert!(!conds[0].status);
        assert_eq!(conds[0].reason, "RolloutStalled");
        assert!(
            conds[0].message.contains("web: FailedCreate")
                && conds[0].message.contains("exceeded quota"),
            "{}",
            conds[0].message
        );
    }

    #[test]
    fn a_tenant_hibernated_by_its_budget_says_so() {
        let mut p = progress(true);
        p.active = false;
        p.budget_hibernated = true;
        p.services = vec![ServiceState::of("web", Some(&deployment(0, 0, json!([]))))];
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p)));
        assert_eq!(phase, Phase::Suspended);
        assert!(
            conds[0].message.contains("over its monthly budget"),
            "{}",
            conds[0].message
        );
        let s = conds.iter().find(|c| c.type_ == c::SERVICES_READY).unwrap();
        assert!(
            s.message.contains("over the monthly budget"),
            "{}",
            s.message
        );
    }

    #[test]
    fn an_inactive_tenant_is_suspended_once_scaled_down() {
        let mut p = progress(true);
        p.active = false;
        p.services = vec![ServiceState::of("web", Some(&deployment(0, 0, json!([]))))];
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p.clone())));
        assert_eq!(phase, Phase::Suspended);
        let s = conds.iter().find(|c| c.type_ == c::SERVICES_READY).unwrap();
        assert_eq!((s.status, s.reason.as_str()), (true, "Suspended"));
        let mut draining = deployment(0, 0, json!([]));
        draining["status"]["replicas"] = json!(1);
        p.services = vec![ServiceState::of("web", Some(&draining))];
        let (phase, conds) = conditions(&Outcome::Applied(Box::new(p)));
        assert_eq!(phase, Phase::Suspended);
        let s = conds.iter().find(|c| c.type_ == c::SERVICES_READY).unwrap();
        assert_eq!((s.status, s.reason.as_str()), (false, "ScalingDown"));
    }
}
