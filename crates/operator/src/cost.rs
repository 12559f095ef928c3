//! Cost accounting: what each priced tenant's running pods and volume claims cost, accrued over
//! time with the model of `tenant_core::cost`, written to `status.cost` and `BudgetOK` under
//! the field manager [`FIELD_MANAGER`], and exported as metrics.
//!
//! - **What is measured.** One watch of the scheduled, unfinished Pods of the cluster (small
//!   list pages) keeps each pod's effective requests (the larger of its containers' sum and its
//!   largest init container, plus its overhead) and namespace, never the object; one watch of
//!   the PersistentVolumeClaims keeps each claim's requested size. About 100 bytes per pod and
//!   per claim.
//! - **When.** Every `--cost-interval-seconds` the ledger of each priced tenant (one with a
//!   rate, from its `billing` or its tier, or a `monthlyBudget`) is brought up to date in
//!   memory. It is written when the budget state or the hourly cost changes, and otherwise
//!   every `--cost-write-interval-seconds`: so a resync writes nothing, and a restart resumes
//!   from `status.cost.accruedAt` (the time in between is charged at the allocation seen then,
//!   at most 6 hours of it).
//! - Tenants without any price are not accounted and get no `status.cost`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tenant_api::{CostSummary, Tenant, condition as c, labels};
use tenant_core::cost::{self as model, Ledger, Sample};
use tenant_core::quantity::Quantity;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::context::Config;
use crate::metrics::Metrics;

/// The field manager of the cost accounting's status writes.
pub const FIELD_MANAGER: &str = "tenant-operator-cost";
/// The field manager of the budget freeze label on tenant namespaces (it owns that one label,
/// so taking it off is an apply without it).
pub const BUDGET_FIELD_MANAGER: &str = "tenant-operator-budget";

/// What one pod or claim holds.
#[derive(Clone, Debug, Default, PartialEq)]
struct Held {
    namespace: Arc<str>,
    cpu: f64,
    memory: f64,
    storage: f64,
}

/// The sums of one namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sums {
    pub cpu: f64,
    pub memory: f64,
    pub storage: f64,
}

fn quantity(q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>) -> f64 {
    q.and_then(|q| Quantity::parse(&q.0).ok())
        .map(|q| q.as_f64())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(0.0)
}

/// A pod's effective requests: the larger of its containers' sum and its largest init
/// container, plus its overhead (what the scheduler reserves for it).
fn pod_requests(p: &Pod) -> (f64, f64) {
    let Some(spec) = &p.spec else {
        return (0.0, 0.0);
    };
    let req = |c: &k8s_openapi::api::core::v1::Container, k: &str| {
        quantity(
            c.resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(k)),
        )
    };
    let mut out = [0.0f64; 2];
    for (i, k) in ["cpu", "memory"].iter().enumerate() {
        let sum: f64 = spec.containers.iter().map(|c| req(c, k)).sum();
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| req(c, k))
            .fold(0.0, f64::max);
        let overhead = quantity(spec.overhead.as_ref().and_then(|o| o.get(*k)));
        out[i] = sum.max(init) + overhead;
    }
    (out[0], out[1])
}

fn claim_size(c: &PersistentVolumeClaim) -> f64 {
    quantity(
        c.spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage")),
    )
}

/// The pods' and claims' holdings, by uid.
pub struct Meter {
    held: Mutex<HashMap<String, Held>>,
    /// Both watches have listed once.
    listed: watch::Sender<u8>,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            held: Mutex::new(HashMap::new()),
            listed: watch::channel(0).0,
        }
    }
}

impl Meter {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sums per namespace.
    pub fn by_namespace(&self) -> HashMap<Arc<str>, Sums> {
        let mut out: HashMap<Arc<str>, Sums> = HashMap::new();
        for h in self.map().values() {
            let s = out.entry(h.namespace.clone()).or_default();
            s.cpu += h.cpu;
            s.memory += h.memory;
            s.storage += h.storage;
        }
        out
    }

    /// Waits until both watches have listed.
    async fn wait_listed(&self) {
        let mut rx = self.listed.subscribe();
        let _ = rx.wait_for(|n| *n >= 2).await;
    }

    /// Follows `api` until aborted, keeping what `held` makes of each object under `prefix`.
    async fn follow<K>(
        self: Arc<Self>,
        api: Api<K>,
        config: watcher::Config,
        resumed: crate::outage::Resumed,
        prefix: &'static str,
        held: fn(&K) -> Held,
    ) where
        K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    {
        let mut events = crate::outage::backoff(watcher(api, config), &resumed).boxed();
        let mut relisting: Option<HashMap<String, Held>> = None;
        let mut first = true;
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    debug!(error = %e, kind = prefix, "cost meter watch error (retrying)");
                    continue;
                }
            };
            let key = |o: &K| format!("{prefix}/{}", o.meta().uid.clone().unwrap_or_default());
            match event {
                watcher::Event::Init => relisting = Some(HashMap::new()),
                watcher::Event::InitApply(o) => {
                    if let Some(list) = relisting.as_mut() {
                        list.insert(key(&o), held(&o));
                    }
                }
                watcher::Event::InitDone => {
                    if let Some(list) = relisting.take() {
                        let mut map = self.map();
                        map.retain(|k, _| !k.starts_with(prefix));
                        map.extend(list);
                    }
                    if first {
                        first = false;
                        self.listed.send_modify(|n| *n += 1);
                    }
                }
                watcher::Event::Apply(o) => {
                    self.map().insert(key(&o), held(&o));
                }
                watcher::Event::Delete(o) => {
                    self.map().remove(&key(&o));
                }
            }
        }
    }

    /// Starts the two watches; they end when the returned handles are aborted.
    pub(crate) fn start(
        self: &Arc<Self>,
        client: &Client,
        resumed: &crate::outage::Resumed,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let pods: Api<Pod> = Api::all(client.clone());
        // Scheduled and not finished: what holds capacity on a node. A pod that finishes
        // leaves the selection, and the watch reports it deleted.
        let pod_config = crate::kinds::watch_config()
            .fields("spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed")
            .any_semantic();
        let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
        let claim_config = crate::kinds::watch_config().any_semantic();
        vec![
            tokio::spawn(self.clone().follow(
                pods,
                pod_config,
                resumed.clone(),
                "pod",
                |p: &Pod| {
                    let (cpu, memory) = pod_requests(p);
                    Held {
                        namespace: Arc::from(p.namespace().unwrap_or_default()),
                        cpu,
                        memory,
                        storage: 0.0,
                    }
                },
            )),
            tokio::spawn(self.clone().follow(
                claims,
                claim_config,
                resumed.clone(),
                "pvc",
                |c: &PersistentVolumeClaim| Held {
                    namespace: Arc::from(c.namespace().unwrap_or_default()),
                    storage: claim_size(c),
                    ..Held::default()
                },
            )),
        ]
    }
}

/// What was last written for a tenant, and its ledger since.
struct Kept {
    ledger: Ledger,
    written_at: Option<Instant>,
    /// The budget reason and the hourly cost (2 decimals) last written.
    written: Option<(String, String)>,
}

/// The cost accounting of one operator instance (the leader).
pub struct Accounting {
    pub client: Client,
    pub config: Config,
    pub tenants: Store<Tenant>,
    pub meter: Arc<Meter>,
    pub metrics: Arc<Metrics>,
    /// The managed kinds' stores: the tenant namespace's labels say whether it is frozen.
    pub kinds: Arc<crate::kinds::Kinds>,
    recorder: Recorder,
    kept: Mutex<HashMap<String, Kept>>,
    /// Tiers named by Tenants and missing from `--billing-tiers`, each logged once.
    unknown_tiers: Mutex<std::collections::HashSet<String>>,
}

/// A money figure as status shows it.
fn money(v: f64, places: usize) -> String {
    format!("{v:.places$}")
}

fn parse(s: Option<&String>) -> f64 {
    s.and_then(|s| s.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(0.0)
}

/// The ledger a status recorded.
pub fn ledger_of(cost: &CostSummary) -> Ledger {
    Ledger {
        at: cost.accrued_at.as_ref().map(|t| t.0),
        cycle_start: cost.cycle_start.as_ref().map(|t| t.0),
        cycle: parse(cost.cycle_to_date.as_ref()),
        previous_cycle: cost.previous_cycle.as_ref().map(|p| parse(Some(p))),
        month_start: cost.month_start.as_ref().map(|t| t.0),
        month: parse(cost.month_to_date.as_ref()),
        egress_bytes: None,
        hourly: parse(cost.hourly.as_ref()),
    }
}

/// Whether the tenant has a price or a budget at all.
pub fn priced(tenant: &Tenant, prices: &model::PriceList) -> bool {
    prices.has_a_rate()
        || tenant
            .spec
            .billing
            .as_ref()
            .is_some_and(|b| b.monthly_budget.is_some())
}

impl Accounting {
    pub fn new(
        client: Client,
        config: Config,
        tenants: Store<Tenant>,
        meter: Arc<Meter>,
        metrics: Arc<Metrics>,
        kinds: Arc<crate::kinds::Kinds>,
    ) -> Accounting {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: labels::MANAGER.to_string(),
                instance: Some(config.identity.clone()),
            },
        );
        Accounting {
            client,
            config,
            tenants,
            meter,
            metrics,
            kinds,
            recorder,
            kept: Mutex::new(HashMap::new()),
            unknown_tiers: Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Accrues every `--cost-interval-seconds` until aborted, once the meter has listed.
    pub async fn run(self: Arc<Self>) {
        self.meter.wait_listed().await;
        info!(interval = ?self.config.cost_interval, "cost accounting started");
        loop {
            self.tick().await;
            tokio::time::sleep(self.config.cost_interval).await;
        }
    }

    /// One accrual of every priced tenant.
    pub async fn tick(&self) {
        let now = self.config.clock.now();
        let sums = self.meter.by_namespace();
        // a Tenant placed on other clusters costs nothing here
        let mut tenants = self.tenants.state();
        tenants.retain(|t| self.config.placed(t));
        let live: std::collections::HashSet<String> = tenants
            .iter()
            .filter_map(|t| t.metadata.uid.clone())
            .collect();
        // forget what belongs to Tenants that are gone
        self.kept().retain(|uid, _| live.contains(uid));
        let keys: std::collections::HashSet<String> = tenants.iter().map(|t| key(t)).collect();
        for t in tenants {
            if t.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if let Err(e) = self.account(&t, &sums, now).await {
                warn!(tenant = %t.name_any(), error = %e, "cost accounting failed; retrying next time");
            }
        }
        self.metrics.retain_cost(&keys);
    }

    async fn account(
        &self,
        t: &Tenant,
        sums: &HashMap<Arc<str>, Sums>,
        now: jiff::Timestamp,
    ) -> Result<(), kube::Error> {
        let (Some(uid), Some(status)) = (t.metadata.uid.clone(), t.status.as_ref()) else {
            return Ok(());
        };
        let Some(ns) = status.namespace.as_deref() else {
            return Ok(());
        };
        let prices = model::price_list(t, &self.config.billing_tiers);
        if let Some(tier) = &prices.unknown_tier
            && self
                .unknown_tiers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(tier.clone())
        {
            warn!(tier = %tier, tenant = %t.name_any(), "a Tenant names a billingTier that --billing-tiers does not define: its rates come from its billing section only");
        }
        if !priced(t, &prices) {
            // no budget any more: a freeze from before is lifted
            return self.enforce(t, ns, false).await;
        }
        let held = sums.get(ns).copied().unwrap_or_default();
        let quota = if prices.model == tenant_api::ChargebackModel::Dedicated {
            let ctx = tenant_core::build::BuildContext {
                compute_defaults: &self.config.compute_defaults,
                ..tenant_core::build::BuildContext::default()
            };
            tenant_core::totals::tenant_hard_limits(t, &ctx).unwrap_or_default()
        } else {
            Default::default()
        };
        let hard = |keys: &[&str]| keys.iter().find_map(|k| quota.get(*k)).map(|q| q.as_f64());
        let sample = Sample {
            cpu_requests: Some(held.cpu),
            memory_requests: Some(held.memory),
            storage: Some(held.storage),
            cpu_quota: hard(&["limits.cpu", "requests.cpu", "cpu"]),
            memory_quota: hard(&["limits.memory", "requests.memory", "memory"]),
            ..Sample::default()
        };
        let (before, written_at, written) = match self.kept().remove(&uid) {
            Some(k) => (k.ledger, k.written_at, k.written),
            None => (
                status.cost.as_ref().map(ledger_of).unwrap_or_default(),
                None,
                status.cost.as_ref().map(|c| {
                    (
                        condition_reason(t).unwrap_or_default(),
                        c.hourly.clone().unwrap_or_default(),
                    )
                }),
            ),
        };
        let ledger = model::accrue(&before, &prices, &sample, now);
        let budget = model::budget(t, &prices, &ledger, now);
        self.metrics.set_cost(&key(t), ns, &held, &ledger, &budget);
        let shown = (budget.reason.to_string(), money(ledger.hourly, 2));
        // (after a restart, the age of what the status holds decides)
        let due = match (written_at, before.at) {
            (Some(w), _) => w.elapsed() >= self.config.cost_write_interval,
            (None, Some(at)) => {
                now.duration_since(at).unsigned_abs() >= self.config.cost_write_interval
            }
            (None, None) => true,
        };
        // The freeze first: a status saying BudgetEnforced is true once it is written.
        self.enforce(t, ns, budget.frozen).await?;
        let changed = written.as_ref() != Some(&shown);
        let mut kept = Kept {
            ledger: ledger.clone(),
            written_at,
            written,
        };
        if changed || due {
            self.write(t, &prices, &ledger, &budget, &held, now).await?;
            if written_reason_changed(&kept.written, &shown) {
                let was_enforced = kept
                    .written
                    .as_ref()
                    .is_some_and(|(r, _)| r == model::ENFORCED);
                self.announce(t, &budget, was_enforced).await;
            }
            kept.written_at = Some(Instant::now());
            kept.written = Some(shown);
        }
        self.kept().insert(uid, kept);
        Ok(())
    }

    /// Puts the freeze label on the tenant namespace, or takes it off, when the namespace's
    /// (cached) labels differ from `frozen`. Nothing is written when they agree.
    async fn enforce(&self, t: &Tenant, ns: &str, frozen: bool) -> Result<(), kube::Error> {
        // not created yet, or not the operator's: nothing to label
        let Some(labelled) = self.kinds.budget_frozen(ns) else {
            return Ok(());
        };
        if labelled == frozen {
            return Ok(());
        }
        let labels_patch = if frozen {
            json!({ labels::BUDGET_FROZEN: "true" })
        } else {
            json!({})
        };
        let patch = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": labels_patch},
        });
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        self.metrics.write("Namespace", "apply");
        let applied = api
            .patch(
                ns,
                &PatchParams::apply(BUDGET_FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        let still = applied
            .labels()
            .get(labels::BUDGET_FROZEN)
            .is_some_and(|v| v == "true");
        if frozen {
            info!(tenant = %t.name_any(), namespace = ns, "over budget with budgetEnforcement: new pods are refused");
        } else if still {
            warn!(tenant = %t.name_any(), namespace = ns, label = labels::BUDGET_FROZEN,
                "the budget freeze is lifted but another field manager keeps the label: new pods stay refused until it is removed");
        } else {
            info!(tenant = %t.name_any(), namespace = ns, "budget freeze lifted: new pods are admitted");
        }
        Ok(())
    }

    async fn write(
        &self,
        t: &Tenant,
        prices: &model::PriceList,
        l: &Ledger,
        b: &model::BudgetState,
        held: &Sums,
        now: jiff::Timestamp,
    ) -> Result<(), kube::Error> {
        let limit = t.spec.billing.as_ref().and_then(|b| b.monthly_budget);
        let cost = CostSummary {
            currency: Some(prices.currency.clone()),
            hourly: Some(money(l.hourly, 2)),
            monthly_projected: Some(money(model::month_forecast(l, now), 2)),
            monthly_budget: limit.map(|v| money(v, 2)),
            budget_used_ratio: limit.map(|_| money(b.used, 2)),
            cycle_to_date: Some(money(l.cycle, 6)),
            cycle_forecast: Some(money(model::cycle_forecast(l, prices, now), 2)),
            cycle_start: l.cycle_start.map(Time),
            previous_cycle: l.previous_cycle.map(|v| money(v, 6)),
            month_to_date: Some(money(l.month, 6)),
            month_start: l.month_start.map(Time),
            accrued_at: l.at.map(Time),
            cpu_cores: Some(money(held.cpu, 3)),
            memory_bytes: Some(money(held.memory, 0)),
            storage_bytes: Some(money(held.storage, 0)),
            unpriced: (!prices.unpriced.is_empty())
                .then(|| prices.unpriced.iter().map(|s| s.to_string()).collect()),
        };
        let old = t
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c0| c0.type_ == c::BUDGET_OK));
        let status = if b.ok { "True" } else { "False" };
        let since = match old {
            Some(o) if o.status == status => o.last_transition_time.clone(),
            _ => Time(k8s_openapi::jiff::Timestamp::now()),
        };
        let condition = Condition {
            type_: c::BUDGET_OK.to_string(),
            status: status.to_string(),
            reason: b.reason.to_string(),
            message: b.message.clone(),
            last_transition_time: since,
            observed_generation: t.metadata.generation,
        };
        let patch = json!({
            "apiVersion": Tenant::api_version(&()),
            "kind": Tenant::kind(&()),
            "status": {"cost": cost, "conditions": [condition]},
        });
        let api: Api<Tenant> =
            Api::namespaced(self.client.clone(), &t.namespace().unwrap_or_default());
        self.metrics.write("Tenant/status", "apply");
        api.patch_status(
            &t.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        Ok(())
    }

    /// An Event when the budget state changes (`BudgetEnforcementLifted` when a freeze ends).
    async fn announce(&self, t: &Tenant, b: &model::BudgetState, was_enforced: bool) {
        let (type_, reason, note) = if was_enforced && !b.frozen {
            (
                EventType::Normal,
                "BudgetEnforcementLifted".to_string(),
                format!("new pods are admitted again: {}", b.message),
            )
        } else if b.ok {
            (EventType::Normal, "BudgetOK".to_string(), b.message.clone())
        } else {
            (
                EventType::Warning,
                format!("Budget{}", b.reason.trim_start_matches("Budget")),
                b.message.clone(),
            )
        };
        let event = Event {
            type_,
            reason,
            note: Some(tenant_core::status::truncate(&note, 1000)),
            action: "Cost".into(),
            secondary: None,
        };
        self.metrics.write("Event", "create");
        if let Err(e) = self.recorder.publish(&event, &t.object_ref(&())).await {
            warn!(error = %e, "publishing a budget event failed");
        }
    }
}

/// A Tenant's metrics key, `namespace/name`.
fn key(t: &Tenant) -> String {
    format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any())
}

fn written_reason_changed(old: &Option<(String, String)>, new: &(String, String)) -> bool {
    old.as_ref().is_none_or(|(r, _)| *r != new.0)
}

fn condition_reason(t: &Tenant) -> Option<String> {
    t.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c0| c0.type_ == c::BUDGET_OK)
        .map(|c0| c0.reason.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pods_requests_count_its_largest_init_container_and_overhead() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "t"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "200m"}}},
                    {"name": "c"}
                ],
                "initContainers": [
                    {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "16Mi"}}}
                ],
                "overhead": {"cpu": "50m"}
            }
        }))
        .unwrap();
        let (cpu, mem) = pod_requests(&p);
        assert!((cpu - 1.05).abs() < 1e-9, "{cpu}");
        assert!((mem - 64.0 * 1024.0 * 1024.0).abs() < 1.0, "{mem}");
        let bad: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "lots"}}}]}
        }))
        .unwrap();
        assert_eq!(pod_requests(&bad), (0.0, 0.0));
    }

    #[test]
    fn the_ledger_round_trips_through_the_status() {
        let l = Ledger {
            at: Some("2026-12-03T10:00:00Z".parse().unwrap()),
            cycle_start: Some("2026-12-01T00:00:00Z".parse().unwrap()),
            cycle: 12.345678,
            previous_cycle: Some(99.5),
            month_start: Some("2026-12-01T00:00:00Z".parse().unwrap()),
            month: 12.345678,
            egress_bytes: None,
            hourly: 0.25,
        };
        let cost = CostSummary {
            hourly: Some(money(l.hourly, 2)),
            cycle_to_date: Some(money(l.cycle, 6)),
            previous_cycle: l.previous_cycle.map(|v| money(v, 6)),
            month_to_date: Some(money(l.month, 6)),
            cycle_start: l.cycle_start.map(Time),
            month_start: l.month_start.map(Time),
            accrued_at: l.at.map(Time),
            ..CostSummary::default()
        };
        assert_eq!(ledger_of(&cost), l);
        let garbage = CostSummary {
            cycle_to_date: Some("NaN".into()),
            hourly: Some("-3".into()),
            ..CostSummary::default()
        };
        let g = ledger_of(&garbage);
        assert_eq!((g.cycle, g.hourly), (0.0, 0.0));
    }
}
