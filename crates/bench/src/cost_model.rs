//! `tenant-bench --cost-model N`: the cost model's speed, without a cluster. N tenants priced
//! like `examples/acme-corp.yaml` (shared, usage and dedicated models in turn), each with a
//! sample of pods' requests, usage where known (every third tenant has none), claims and an
//! egress counter that resets now and then; one accounting round prices, accrues and judges the
//! budget of every tenant, as the operator's cost accounting does each interval. Rounds run for
//! a simulated month (one per hour: 744 rounds), so month and cycle boundaries are crossed.

use std::time::Instant;

use anyhow::Result;
use serde_json::json;
use tenant_api::Tenant;
use tenant_core::cost::{self, Ledger, Sample, TierTable};

fn tenant(i: usize) -> Result<Tenant> {
    let model = ["shared", "usage", "dedicated"][i % 3];
    let cycle = ["hourly", "daily", "weekly", "monthly"][i % 4];
    Ok(serde_json::from_value(json!({
        "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "Tenant",
        "metadata": {"name": format!("t{i}"), "namespace": "tenants"},
        "spec": {"tenantId": format!("t{i}"), "tenantType": "production",
            "quota": {"cpuQuota": "200", "memoryQuota": "512Gi", "storageQuota": "2Ti"},
            "billing": {"billingCycle": cycle,
                "cpuHourlyRate": 0.05, "memoryHourlyRate": 0.01, "storageMonthlyRate": 0.10,
                "networkEgressRate": 0.02, "monthlyBudget": 10000.0, "budgetAlertThreshold": 0.8,
                "chargebackModel": model, "volumeDiscount": 0.1}},
    }))?)
}

fn sample(i: usize, round: usize) -> Sample {
    let f = (i % 17) as f64 + 1.0;
    let gib = 1024.0 * 1024.0 * 1024.0;
    Sample {
        cpu_requests: Some(0.25 * f),
        cpu_usage: (!i.is_multiple_of(3)).then_some(0.2 * f + (round % 5) as f64 * 0.01),
        memory_requests: Some(0.5 * f * gib),
        memory_usage: (!i.is_multiple_of(3)).then_some(0.4 * f * gib),
        storage: Some(10.0 * f * gib),
        // a counter that resets every 100 rounds
        egress_bytes: Some(((round % 100) as f64) * 1e6 * f),
        cpu_quota: Some(200.0),
        memory_quota: Some(512.0 * gib),
    }
}

pub fn run(n: usize) -> Result<()> {
    let tiers = TierTable::new();
    let tenants: Vec<Tenant> = (0..n).map(tenant).collect::<Result<_>>()?;
    let mut ledgers = vec![Ledger::default(); n];
    let start: jiff::Timestamp = "2026-11-30T20:00:00Z".parse()?;
    const ROUNDS: usize = 744;
    let mut worst = std::time::Duration::ZERO;
    let mut over = 0usize;
    let t0 = Instant::now();
    for round in 0..ROUNDS {
        let now = start + jiff::SignedDuration::from_hours(round as i64);
        let r0 = Instant::now();
        over = 0;
        for (i, t) in tenants.iter().enumerate() {
            let prices = cost::price_list(t, &tiers);
            ledgers[i] = cost::accrue(&ledgers[i], &prices, &sample(i, round), now);
            let b = cost::budget(t, &prices, &ledgers[i], now);
            if !b.ok {
                over += 1;
            }
        }
        worst = worst.max(r0.elapsed());
    }
    let total = t0.elapsed();
    let per_round = total / ROUNDS as u32;
    let per_1000 = per_round.as_secs_f64() * 1000.0 / n.max(1) as f64;
    let finite = ledgers
        .iter()
        .all(|l| l.cycle.is_finite() && l.month.is_finite());
    println!("## tenant-bench --cost-model {n}\n");
    println!("| | |\n|---|---|");
    println!("| rounds (one per simulated hour, a month) | {ROUNDS} |");
    println!(
        "| one round of {n} tenants (price, accrue, budget), mean / worst | {:.2} ms / {:.2} ms |",
        per_round.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0
    );
    println!("| per 1000 tenants | {:.2} ms |", per_1000 * 1000.0);
    println!("| tenants not within budget after the month | {over} |");
    println!("| every figure finite | {finite} |");
    Ok(())
}
