//! The cost model: what a tenant's allocation costs, accrued over time, per billing cycle and
//! per calendar month, and where it stands against its budget. Pure: the operator feeds it what
//! it measured (requests, usage where metrics exist, volume claims, an egress counter) and keeps
//! the [`Ledger`]; `kubectl tenant cost --offline` feeds it a spec's quota.
//!
//! Decisions (docs/cost.md):
//! - **Rates** come from `spec.billing` field by field, else from the platform's tier table entry
//!   named by `tenantConfig.billingTier`, else are unpriced (0, and listed as such). Currency:
//!   `billing.currency`, else the tier's, else USD.
//! - **Allocation** per chargeback model: `shared` (default) pays the larger of request and
//!   usage where usage is known, requests otherwise (OpenCost's allocation); `usage` pays usage
//!   where known, requests otherwise; `dedicated` pays the quota's hard limits (reserved capacity,
//!   used or not), falling back to `shared` for a resource without a limit.
//! - **Storage** is the requested size of the tenant's volume claims, at the monthly rate spread
//!   over [`HOURS_PER_MONTH`]; **egress** is the increase of a byte counter times the rate per
//!   GiB (a counter that went down was reset: its new value is the increase).
//! - **Discounts** multiply: `(1 - volume) * (1 - commitment)`.
//! - A figure that is missing, negative, NaN or infinite counts as missing: usage falls back to
//!   requests, a missing request or size to 0; nothing panics and nothing becomes NaN.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tenant_api::{BillingCycle, ChargebackModel, Tenant};

/// Hours in an average month (365 × 24 / 12): monthly rates and projections use it.
pub const HOURS_PER_MONTH: f64 = 730.0;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Prices per unit: one CPU for an hour, one GiB of memory for an hour, one GiB of storage for a
/// month, one GiB of egress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rates {
    pub cpu_hourly_rate: Option<f64>,
    pub memory_hourly_rate: Option<f64>,
    pub storage_monthly_rate: Option<f64>,
    pub network_egress_rate: Option<f64>,
}

/// One entry of the platform's tier table (`tenantConfig.billingTier` names it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    #[serde(flatten)]
    pub rates: Rates,
    pub currency: Option<String>,
}

/// The platform's tier table: tier name -> rates.
pub type TierTable = BTreeMap<String, Tier>;

/// Everything needed to price a tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceList {
    pub cpu_hour: f64,
    pub memory_gib_hour: f64,
    pub storage_gib_month: f64,
    pub egress_gib: f64,
    pub currency: String,
    /// `(1 - volume) * (1 - commitment)`.
    pub factor: f64,
    pub model: ChargebackModel,
    pub cycle: BillingCycle,
    /// The rates neither the spec nor a tier gives (priced at 0).
    pub unpriced: Vec<&'static str>,
    /// The tier named but missing from the table.
    pub unknown_tier: Option<String>,
}

impl PriceList {
    /// Whether any of the four rates is given (by the spec or the tier).
    pub fn has_a_rate(&self) -> bool {
        self.unpriced.len() < RATES
    }
}

/// How many rates a price list has.
const RATES: usize = 4;

/// A finite, non-negative figure, or none.
pub fn sane(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

fn fraction(v: Option<f64>) -> f64 {
    sane(v).filter(|x| *x < 1.0).unwrap_or(0.0)
}

/// The tenant's price list: the spec's rates, else its tier's, else unpriced.
pub fn price_list(tenant: &Tenant, tiers: &TierTable) -> PriceList {
    let billing = tenant.spec.billing.clone().unwrap_or_default();
    let tier_name = tenant
        .spec
        .tenant_config
        .as_ref()
        .and_then(|c| c.billing_tier.clone());
    let tier = tier_name.as_ref().and_then(|n| tiers.get(n));
    let mut unpriced = Vec::new();
    let mut pick =
        |name: &'static str, own: Option<f64>, tier: Option<f64>| match sane(own).or(sane(tier)) {
            Some(v) => v,
            None => {
                unpriced.push(name);
                0.0
            }
        };
    let t = tier.map(|t| t.rates).unwrap_or_default();
    let cpu_hour = pick("cpuHourlyRate", billing.cpu_hourly_rate, t.cpu_hourly_rate);
    let memory_gib_hour = pick(
        "memoryHourlyRate",
        billing.memory_hourly_rate,
        t.memory_hourly_rate,
    );
    let storage_gib_month = pick(
        "storageMonthlyRate",
        billing.storage_monthly_rate,
        t.storage_monthly_rate,
    );
    let egress_gib = pick(
        "networkEgressRate",
        billing.network_egress_rate,
        t.network_egress_rate,
    );
    PriceList {
        cpu_hour,
        memory_gib_hour,
        storage_gib_month,
        egress_gib,
        currency: billing
            .currency
            .clone()
            .or_else(|| tier.and_then(|t| t.currency.clone()))
            .unwrap_or_else(|| "USD".into()),
        factor: (1.0 - fraction(billing.volume_discount))
            * (1.0 - fraction(billing.commitment_discount)),
        model: billing.chargeback_model.unwrap_or(ChargebackModel::Shared),
        cycle: billing.billing_cycle.unwrap_or(BillingCycle::Monthly),
        unpriced,
        unknown_tier: tier_name.filter(|n| !tiers.contains_key(n)),
    }
}

/// What the tenant holds at one moment, as measured. `None`: not known (no metric).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Sum of the CPU requests of the tenant's running pods, in cores.
    pub cpu_requests: Option<f64>,
    /// CPU in use, in cores (metrics).
    pub cpu_usage: Option<f64>,
    /// Sum of the memory requests, in bytes.
    pub memory_requests: Option<f64>,
    /// Memory in use (working set), in bytes.
    pub memory_usage: Option<f64>,
    /// Requested size of the tenant's volume claims, in bytes.
    pub storage: Option<f64>,
    /// A counter of bytes sent out of the cluster (it may reset).
    pub egress_bytes: Option<f64>,
    /// The quota's hard limits (for `dedicated`): CPU cores, memory bytes.
    pub cpu_quota: Option<f64>,
    pub memory_quota: Option<f64>,
}

/// What one resource is charged for under `model`.
fn allocated(
    model: ChargebackModel,
    request: Option<f64>,
    usage: Option<f64>,
    quota: Option<f64>,
) -> f64 {
    let request = sane(request);
    let usage = sane(usage);
    let shared = match (request, usage) {
        (Some(r), Some(u)) => r.max(u),
        (r, u) => r.or(u).unwrap_or(0.0),
    };
    match model {
        ChargebackModel::Shared => shared,
        ChargebackModel::Usage => usage.or(request).unwrap_or(0.0),
        ChargebackModel::Dedicated => sane(quota).unwrap_or(shared),
    }
}

/// The tenant's cost per hour at `s` (egress excluded: it is charged by volume, not time).
pub fn hourly(prices: &PriceList, s: &Sample) -> f64 {
    let cpu = allocated(prices.model, s.cpu_requests, s.cpu_usage, s.cpu_quota);
    let mem = allocated(
        prices.model,
        s.memory_requests,
        s.memory_usage,
        s.memory_quota,
    ) / GIB;
    let storage = sane(s.storage).unwrap_or(0.0) / GIB;
    let raw = cpu * prices.cpu_hour
        + mem * prices.memory_gib_hour
        + storage * prices.storage_gib_month / HOURS_PER_MONTH;
    finite(raw * prices.factor)
}

fn finite(v: f64) -> f64 {
    if v.is_finite() && v >= 0.0 { v } else { 0.0 }
}

/// The increase of a counter from `before` to `now`; a decrease is a reset, after which the
/// counter counted `now` from zero.
pub fn counter_increase(before: Option<f64>, now: Option<f64>) -> f64 {
    match (sane(before), sane(now)) {
        (Some(b), Some(n)) if n >= b => n - b,
        (Some(_), Some(n)) => n,
        _ => 0.0,
    }
}

/// The start of the cycle holding `t` (UTC): the hour, the day, the ISO week (Monday) or the
/// month.
pub fn cycle_start(cycle: BillingCycle, t: Timestamp) -> Timestamp {
    let dt = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let date: Date = dt.date();
    let start = match cycle {
        BillingCycle::Hourly => date.at(dt.hour(), 0, 0, 0),
        BillingCycle::Daily => date.at(0, 0, 0, 0),
        BillingCycle::Weekly => {
            let back = date.weekday().to_monday_zero_offset();
            date.checked_sub((back as i64).days())
                .unwrap_or(date)
                .at(0, 0, 0, 0)
        }
        BillingCycle::Monthly => date.first_of_month().at(0, 0, 0, 0),
    };
    start
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(t)
}

/// The start of the cycle after the one holding `t`.
pub fn cycle_end(cycle: BillingCycle, t: Timestamp) -> Timestamp {
    let start = cycle_start(cycle, t).to_zoned(jiff::tz::TimeZone::UTC);
    let next = match cycle {
        BillingCycle::Hourly => start.checked_add(1.hour()),
        BillingCycle::Daily => start.checked_add(1.day()),
        BillingCycle::Weekly => start.checked_add(1.week()),
        BillingCycle::Monthly => start.checked_add(1.month()),
    };
    next.map(|z| z.timestamp()).unwrap_or(t)
}

/// What a tenant has cost so far: kept by the operator across restarts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// When the ledger was last brought up to date.
    pub at: Option<Timestamp>,
    /// The billing cycle the ledger counts (its start).
    pub cycle_start: Option<Timestamp>,
    /// Cost in the current billing cycle so far.
    pub cycle: f64,
    /// Cost in the previous billing cycle.
    pub previous_cycle: Option<f64>,
    /// The calendar month the ledger counts (its start): budgets are monthly.
    pub month_start: Option<Timestamp>,
    /// Cost in the current month so far.
    pub month: f64,
    /// The egress counter as last seen.
    pub egress_bytes: Option<f64>,
    /// The hourly cost at the last sample (for forecasts).
    pub hourly: f64,
}

/// The longest gap accrued in one step: after a longer one (the operator was down) the time in
/// between is charged at the allocation seen now, up to this bound, since nothing better is
/// known; the rest is not charged.
pub const MAX_GAP_HOURS: f64 = 6.0;

/// Brings `ledger` up to `now` with the allocation `s`: the time since the last step is charged
/// at the current hourly cost (split at cycle and month boundaries), egress by the counter's
/// increase. Time going backwards charges nothing.
pub fn accrue(ledger: &Ledger, prices: &PriceList, s: &Sample, now: Timestamp) -> Ledger {
    let rate = hourly(prices, s);
    let mut l = ledger.clone();
    let cycle_now = cycle_start(prices.cycle, now);
    let month_now = cycle_start(BillingCycle::Monthly, now);
    let egress =
        counter_increase(l.egress_bytes, s.egress_bytes) / GIB * prices.egress_gib * prices.factor;
    let egress = finite(egress);
    let from = l.at.filter(|a| *a <= now);
    // The part of [from, now) in each cycle/month, charged at `rate`.
    let hours_between =
        |a: Timestamp, b: Timestamp| (b.as_second() - a.as_second()).max(0) as f64 / 3600.0;
    let charged = |start: Timestamp| -> f64 {
        match from {
            Some(f) => {
                let begin = if f > start { f } else { start };
                hours_between(begin, now).min(MAX_GAP_HOURS) * rate
            }
            None => 0.0,
        }
    };
    let earlier = |start: Timestamp, recorded: Option<Timestamp>| -> f64 {
        // the part before `start` that still belonged to the recorded period
        match (from, recorded) {
            (Some(f), Some(r)) if r < start && f < start => {
                hours_between(f, start).min(MAX_GAP_HOURS) * rate
            }
            _ => 0.0,
        }
    };
    if l.cycle_start != Some(cycle_now) {
        if l.cycle_start.is_some() {
            l.previous_cycle = Some(finite(l.cycle + earlier(cycle_now, l.cycle_start)));
        }
        l.cycle = 0.0;
        l.cycle_start = Some(cycle_now);
    }
    if l.month_start != Some(month_now) {
        l.month = 0.0;
        l.month_start = Some(month_now);
    }
    l.cycle = finite(l.cycle + charged(cycle_now) + egress);
    l.month = finite(l.month + charged(month_now) + egress);
    l.at = Some(now);
    if sane(s.egress_bytes).is_some() {
        l.egress_bytes = sane(s.egress_bytes);
    }
    l.hourly = rate;
    l
}

/// The cost of the current billing cycle when it ends, at the current hourly cost.
pub fn cycle_forecast(l: &Ledger, prices: &PriceList, now: Timestamp) -> f64 {
    let end = cycle_end(prices.cycle, now);
    let left = (end.as_second() - now.as_second()).max(0) as f64 / 3600.0;
    finite(l.cycle + l.hourly * left)
}

/// The cost of the current month when it ends, at the current hourly cost.
pub fn month_forecast(l: &Ledger, now: Timestamp) -> f64 {
    let end = cycle_end(BillingCycle::Monthly, now);
    let left = (end.as_second() - now.as_second()).max(0) as f64 / 3600.0;
    finite(l.month + l.hourly * left)
}

/// Where a tenant stands against its monthly budget.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetState {
    /// `BudgetOK`'s status.
    pub ok: bool,
    /// `WithinBudget`, `ForecastOverThreshold`, `OverThreshold`, `BudgetExceeded`,
    /// `BudgetEnforced` (exceeded with `budgetEnforcement`: no new pods) or `NoBudget`.
    pub reason: &'static str,
    pub message: String,
    /// Month-to-date cost over the budget.
    pub used: f64,
    /// Forecast month cost over the budget.
    pub forecast: f64,
    /// The tenant is over budget and enforcement is on: no new pods.
    pub frozen: bool,
}

/// The default `budgetAlertThreshold`.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// The budget state of a tenant with `ledger` at `now`.
pub fn budget(tenant: &Tenant, prices: &PriceList, l: &Ledger, now: Timestamp) -> BudgetState {
    let b = tenant.spec.billing.clone().unwrap_or_default();
    let Some(limit) = sane(b.monthly_budget).filter(|x| *x > 0.0) else {
        return BudgetState {
            ok: true,
            reason: "NoBudget",
            message: "no monthlyBudget".into(),
            used: 0.0,
            forecast: 0.0,
            frozen: false,
        };
    };
    let threshold = sane(b.budget_alert_threshold)
        .filter(|t| *t <= 1.0)
        .unwrap_or(DEFAULT_THRESHOLD);
    let used = l.month / limit;
    let forecast = month_forecast(l, now) / limit;
    let c = &prices.currency;
    let money = |v: f64| format!("{v:.2} {c}");
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    let (ok, reason, message) = if l.month > limit {
        (
            false,
            "BudgetExceeded",
            format!(
                "month to date {} is over the budget {}",
                money(l.month),
                money(limit)
            ),
        )
    } else if used >= threshold {
        (
            false,
            "OverThreshold",
            format!(
                "month to date {} is {} of the budget {} (threshold {})",
                money(l.month),
                pct(used),
                money(limit),
                pct(threshold)
            ),
        )
    } else if forecast >= threshold {
        (
            false,
            "ForecastOverThreshold",
            format!(
                "the month is forecast at {}, {} of the budget {} (threshold {})",
                money(month_forecast(l, now)),
                pct(forecast),
                money(limit),
                pct(threshold)
            ),
        )
    } else {
        (
            true,
            "WithinBudget",
            format!(
                "month to date {} ({} of {}), forecast {}",
                money(l.month),
                pct(used),
                money(limit),
                money(month_forecast(l, now))
            ),
        )
    };
    let frozen = reason == "BudgetExceeded" && b.budget_enforcement == Some(true);
    let (reason, message) = if frozen {
        let next = cycle_end(BillingCycle::Monthly, now);
        (
            ENFORCED,
            format!(
                "{message}; billing.budgetEnforcement: the API server refuses new pods until {} \
                 (the next month) or a higher monthlyBudget; running pods are not touched",
                next.strftime("%Y-%m-%dT%H:%MZ")
            ),
        )
    } else {
        (reason, message)
    };
    BudgetState {
        ok,
        reason,
        message,
        used,
        forecast,
        frozen,
    }
}

/// `BudgetOK`'s reason while the tenant is frozen (over budget with `budgetEnforcement`).
pub const ENFORCED: &str = "BudgetEnforced";

/// Whether `reason` (a [`BudgetState`]'s) says the month to date is over the budget.
pub fn over_budget(reason: &str) -> bool {
    reason == "BudgetExceeded" || reason == ENFORCED
}

/// The most a tenant can cost in a month from its spec alone: its quota's CPU and memory (limits,
/// else requests) for [`HOURS_PER_MONTH`] and its storage quota for a month, at its rates and
/// discounts. Egress is not bounded by a quota and is not included. `None` for a resource the
/// quota leaves unbounded.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfflineCost {
    pub currency: String,
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub storage: Option<f64>,
    /// The sum, when every part is bounded.
    pub total: Option<f64>,
    /// Resources without a quota bound (their cost has no ceiling).
    pub unbounded: Vec<&'static str>,
    pub unpriced: Vec<&'static str>,
}

/// [`OfflineCost`] from the quota keys a tenant's ResourceQuotas set (tightest per key).
pub fn offline(
    prices: &PriceList,
    hard: &BTreeMap<String, crate::quantity::Quantity>,
) -> OfflineCost {
    let get = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| hard.get(*k))
            .map(|q| q.as_f64())
            .and_then(|v| sane(Some(v)))
    };
    let mut unbounded = Vec::new();
    let months = HOURS_PER_MONTH * prices.factor;
    // (a resource at no price costs nothing, bounded or not)
    let mut part = |name: &'static str, keys: &[&str], per_unit: f64| {
        if per_unit == 0.0 {
            return Some(0.0);
        }
        let v = get(keys).map(|q| finite(q * per_unit));
        if v.is_none() {
            unbounded.push(name);
        }
        v
    };
    let cpu = part(
        "cpu",
        &["limits.cpu", "requests.cpu", "cpu"],
        prices.cpu_hour * months,
    );
    let memory = part(
        "memory",
        &["limits.memory", "requests.memory", "memory"],
        prices.memory_gib_hour * months / GIB,
    );
    let storage = part(
        "storage",
        &["requests.storage"],
        prices.storage_gib_month * prices.factor / GIB,
    );
    let total = match (cpu, memory, storage) {
        (Some(a), Some(b), Some(c)) => Some(a + b + c),
        _ => None,
    };
    OfflineCost {
        currency: prices.currency.clone(),
        cpu,
        memory,
        storage,
        total,
        unbounded,
        unpriced: prices.unpriced.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant(billing: serde_json::Value) -> Tenant {
        serde_json::from_value(json!({
            "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "Tenant",
            "metadata": {"name": "shop", "namespace": "tenants"},
            "spec": {"tenantId": "shop", "tenantType": "production", "billing": billing},
        }))
        .unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const GI: f64 = GIB;

    fn priced() -> PriceList {
        price_list(
            &tenant(json!({"cpuHourlyRate": 0.05, "memoryHourlyRate": 0.01,
                "storageMonthlyRate": 0.10, "networkEgressRate": 0.09})),
            &TierTable::new(),
        )
    }

    #[test]
    fn the_spec_rates_win_then_the_tier_then_nothing() {
        let mut tiers = TierTable::new();
        tiers.insert(
            "premium".into(),
            Tier {
                rates: Rates {
                    cpu_hourly_rate: Some(0.08),
                    memory_hourly_rate: Some(0.02),
                    ..Rates::default()
                },
                currency: Some("EUR".into()),
            },
        );
        let mut t = tenant(json!({"cpuHourlyRate": 0.05}));
        t.spec.tenant_config =
            Some(serde_json::from_value(json!({"billingTier": "premium"})).unwrap());
        let p = price_list(&t, &tiers);
        assert_eq!(p.cpu_hour, 0.05, "the spec's own rate");
        assert_eq!(p.memory_gib_hour, 0.02, "the tier's");
        assert_eq!(p.currency, "EUR");
        assert_eq!(p.unpriced, ["storageMonthlyRate", "networkEgressRate"]);
        assert_eq!(p.unknown_tier, None);
        t.spec.tenant_config =
            Some(serde_json::from_value(json!({"billingTier": "gold"})).unwrap());
        let p = price_list(&t, &tiers);
        assert_eq!(p.unknown_tier.as_deref(), Some("gold"));
        assert_eq!(p.currency, "USD");
    }

    #[test]
    fn allocation_follows_the_chargeback_model() {
        let s = Sample {
            cpu_requests: Some(1.0),
            cpu_usage: Some(1.5),
            memory_requests: Some(2.0 * GI),
            memory_usage: Some(1.0 * GI),
            cpu_quota: Some(4.0),
            memory_quota: Some(8.0 * GI),
            ..Sample::default()
        };
        let mut p = priced();
        // shared: max(request, usage): 1.5 CPU, 2 GiB
        assert!((hourly(&p, &s) - (1.5 * 0.05 + 2.0 * 0.01)).abs() < 1e-12);
        p.model = ChargebackModel::Usage;
        assert!((hourly(&p, &s) - (1.5 * 0.05 + 1.0 * 0.01)).abs() < 1e-12);
        p.model = ChargebackModel::Dedicated;
        assert!((hourly(&p, &s) - (4.0 * 0.05 + 8.0 * 0.01)).abs() < 1e-12);
    }

    #[test]
    fn missing_and_nonsense_figures_fall_back_without_nan() {
        let p = priced();
        let nan = Sample {
            cpu_requests: Some(2.0),
            cpu_usage: Some(f64::NAN),
            memory_requests: Some(f64::INFINITY),
            memory_usage: Some(-5.0),
            storage: Some(f64::NAN),
            ..Sample::default()
        };
        let h = hourly(&p, &nan);
        assert!((h - 2.0 * 0.05).abs() < 1e-12, "{h}");
        // a tenant with no pods costs nothing and breaks nothing
        assert_eq!(hourly(&p, &Sample::default()), 0.0);
        let l = accrue(
            &Ledger::default(),
            &p,
            &Sample::default(),
            at("2026-12-03T10:00:00Z"),
        );
        let l = accrue(&l, &p, &Sample::default(), at("2026-12-03T11:00:00Z"));
        assert_eq!(l.cycle, 0.0);
        assert!(cycle_forecast(&l, &p, at("2026-12-03T11:00:00Z")).is_finite());
    }

    #[test]
    fn discounts_multiply() {
        let mut t =
            tenant(json!({"cpuHourlyRate": 1.0, "volumeDiscount": 0.1, "commitmentDiscount": 0.2}));
        let s = Sample {
            cpu_requests: Some(1.0),
            ..Sample::default()
        };
        let p = price_list(&t, &TierTable::new());
        assert!((hourly(&p, &s) - 0.72).abs() < 1e-12);
        t.spec.billing.as_mut().unwrap().volume_discount = Some(f64::NAN);
        let p = price_list(&t, &TierTable::new());
        assert!((hourly(&p, &s) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn accrual_charges_time_at_the_rate_and_splits_at_the_month() {
        let p = priced();
        let one_cpu = Sample {
            cpu_requests: Some(1.0),
            ..Sample::default()
        };
        let l0 = accrue(&Ledger::default(), &p, &one_cpu, at("2026-11-30T22:00:00Z"));
        assert_eq!(l0.cycle, 0.0, "the first sample only starts the clock");
        let l1 = accrue(&l0, &p, &one_cpu, at("2026-11-30T23:30:00Z"));
        assert!((l1.month - 1.5 * 0.05).abs() < 1e-12, "{l1:?}");
        // across midnight into December: the new month counts only its own half hour
        let l2 = accrue(&l1, &p, &one_cpu, at("2026-12-01T00:30:00Z"));
        assert!((l2.month - 0.5 * 0.05).abs() < 1e-12, "{l2:?}");
        assert!(
            (l2.previous_cycle.unwrap() - 2.0 * 0.05).abs() < 1e-12,
            "{l2:?}"
        );
        // time going backwards charges nothing
        let back = accrue(&l2, &p, &one_cpu, at("2026-12-01T00:00:00Z"));
        assert_eq!(back.month, l2.month);
        // a long outage is charged for at most MAX_GAP_HOURS
        let later = accrue(&l2, &p, &one_cpu, at("2026-12-03T00:30:00Z"));
        assert!((later.month - l2.month - MAX_GAP_HOURS * 0.05).abs() < 1e-9);
    }

    #[test]
    fn egress_is_charged_by_the_counters_increase_and_survives_a_reset() {
        let p = priced();
        let s = |bytes: f64| Sample {
            egress_bytes: Some(bytes),
            ..Sample::default()
        };
        let l = accrue(
            &Ledger::default(),
            &p,
            &s(10.0 * GI),
            at("2026-12-03T10:00:00Z"),
        );
        assert_eq!(l.month, 0.0, "the counter's first value is not an increase");
        let l = accrue(&l, &p, &s(12.0 * GI), at("2026-12-03T10:05:00Z"));
        assert!((l.month - 2.0 * 0.09).abs() < 1e-12);
        // the exporter restarted: the counter starts from 0 again
        let l = accrue(&l, &p, &s(1.0 * GI), at("2026-12-03T10:10:00Z"));
        assert!((l.month - 3.0 * 0.09).abs() < 1e-12, "{l:?}");
        // a missing sample keeps the last value
        let l2 = accrue(&l, &p, &Sample::default(), at("2026-12-03T10:15:00Z"));
        assert_eq!(l2.egress_bytes, l.egress_bytes);
    }

    #[test]
    fn cycles_start_at_their_boundaries() {
        let t = at("2026-12-03T10:42:17Z"); // a Thursday
        assert_eq!(
            cycle_start(BillingCycle::Hourly, t),
            at("2026-12-03T10:00:00Z")
        );
        assert_eq!(
            cycle_start(BillingCycle::Daily, t),
            at("2026-12-03T00:00:00Z")
        );
        assert_eq!(
            cycle_start(BillingCycle::Weekly, t),
            at("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            cycle_start(BillingCycle::Monthly, t),
            at("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            cycle_end(BillingCycle::Monthly, t),
            at("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            cycle_end(BillingCycle::Weekly, t),
            at("2026-12-07T00:00:00Z")
        );
    }

    #[test]
    fn the_budget_turns_at_the_threshold_and_freezes_only_when_enforced() {
        let t = tenant(json!({"cpuHourlyRate": 1.0, "monthlyBudget": 100.0,
            "budgetAlertThreshold": 0.5, "budgetEnforcement": true}));
        let p = price_list(&t, &TierTable::new());
        let now = at("2026-12-15T00:00:00Z");
        let ledger = |month: f64, hourly: f64| Ledger {
            month,
            hourly,
            ..Ledger::default()
        };
        let ok = budget(&t, &p, &ledger(10.0, 0.0), now);
        assert!(ok.ok && ok.reason == "WithinBudget" && !ok.frozen, "{ok:?}");
        // 10 so far, but 1/h for the 17 days left: forecast over half the budget
        let f = budget(&t, &p, &ledger(10.0, 1.0), now);
        assert_eq!((f.ok, f.reason), (false, "ForecastOverThreshold"), "{f:?}");
        let o = budget(&t, &p, &ledger(60.0, 0.0), now);
        assert_eq!((o.ok, o.reason, o.frozen), (false, "OverThreshold", false));
        let x = budget(&t, &p, &ledger(100.01, 0.0), now);
        assert_eq!((x.ok, x.reason, x.frozen), (false, "BudgetEnforced", true));
        assert!(
            x.message
                .contains("refuses new pods until 2027-01-01T00:00Z"),
            "{}",
            x.message
        );
        assert!(over_budget(x.reason));
        let mut not_enforced = t.clone();
        not_enforced
            .spec
            .billing
            .as_mut()
            .unwrap()
            .budget_enforcement = None;
        let y = budget(&not_enforced, &p, &ledger(100.01, 0.0), now);
        assert_eq!((y.reason, y.frozen), ("BudgetExceeded", false));
        assert!(over_budget(y.reason) && !over_budget(o.reason));
        let none = budget(&tenant(json!({})), &p, &ledger(1e9, 1e9), now);
        assert_eq!((none.ok, none.reason), (true, "NoBudget"));
    }

    #[test]
    fn offline_cost_is_the_quota_at_the_rates() {
        use crate::quantity::Quantity;
        let p = priced();
        let mut hard = BTreeMap::new();
        hard.insert("limits.cpu".to_string(), Quantity::parse("2").unwrap());
        hard.insert("limits.memory".to_string(), Quantity::parse("4Gi").unwrap());
        hard.insert(
            "requests.storage".to_string(),
            Quantity::parse("10Gi").unwrap(),
        );
        let c = offline(&p, &hard);
        assert!((c.cpu.unwrap() - 2.0 * 0.05 * 730.0).abs() < 1e-9);
        assert!((c.memory.unwrap() - 4.0 * 0.01 * 730.0).abs() < 1e-9);
        assert!((c.storage.unwrap() - 10.0 * 0.10).abs() < 1e-9);
        assert!((c.total.unwrap() - (73.0 + 29.2 + 1.0)).abs() < 1e-9);
        hard.remove("requests.storage");
        let c = offline(&p, &hard);
        assert_eq!(c.total, None);
        assert_eq!(c.unbounded, ["storage"]);
        // unpriced: nothing to bound
        let free = price_list(&tenant(json!({})), &TierTable::new());
        let c = offline(&free, &BTreeMap::new());
        assert_eq!(c.total, Some(0.0));
        assert!(c.unbounded.is_empty());
    }
}
