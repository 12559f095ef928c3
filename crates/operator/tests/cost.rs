//! Cost accounting on the local control plane: kwok runs the tenant's pods, so their requests are
//! real scheduled requests. A priced tenant's cost accrues in `status.cost` (written under the
//! cost accounting's own field manager) and its metrics; a low budget turns `BudgetOK` False and
//! then `BudgetExceeded` with a Warning Event; an operator restart writes nothing and does not
//! reset what was accrued; raising the budget turns `BudgetOK` back; a tenant priced by the
//! platform's tier table takes its rates and currency; a tenant without prices is not accounted.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use serde_json::json;
use tenant_api::condition as c;
use tenant_api::{CostSummary, Tenant};
use testenv::poll_until;

fn cost(t: &Tenant) -> Option<CostSummary> {
    t.status.as_ref().and_then(|s| s.cost.clone())
}

fn number(s: &Option<String>) -> f64 {
    s.as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Polls the Tenant until `check` accepts it.
async fn until<T>(
    h: &Harness,
    name: &str,
    what: &str,
    check: impl Fn(&Tenant) -> Result<T, String>,
) -> Result<T> {
    Ok(poll_until(what, TIMEOUT, || {
        let r = h.get(name);
        let check = &check;
        async move {
            let t = r.await.map_err(|e| e.to_string())?;
            check(&t)
        }
    })
    .await?)
}

/// Sets the Tenant's `billing.monthlyBudget`.
async fn set_budget(h: &Harness, name: &str, budget: f64) -> Result<()> {
    let mut t = h.get(name).await?;
    t.spec
        .billing
        .as_mut()
        .context("the Tenant has a billing section")?
        .monthly_budget = Some(budget);
    h.tenants()
        .replace(name, &PostParams::default(), &t)
        .await?;
    Ok(())
}

/// Polls until `BudgetOK` is True.
async fn until_budget_ok(h: &Harness, name: &str) -> Result<()> {
    until(h, name, "BudgetOK True again", |t| {
        let ok = condition(t, c::BUDGET_OK).ok_or("no BudgetOK")?;
        if ok.status == "True" {
            Ok(())
        } else {
            Err(format!("{ok:?}"))
        }
    })
    .await
}

/// Whether the Tenant `name` in the test namespace has an Event of this reason and type.
async fn has_event(h: &Harness, name: &str, reason: &str, type_: &str) -> Result<bool> {
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(h.admin.clone(), &h.ns)
        .list(&Default::default())
        .await?;
    Ok(events.items.iter().any(|e| {
        e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            && e.reason.as_deref() == Some(reason)
            && e.type_.as_deref() == Some(type_)
    }))
}

fn running_pods(pods: &kube::api::ObjectList<k8s_openapi::api::core::v1::Pod>) -> usize {
    pods.items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .count()
}

/// Polls until exactly `n` pods of `pods` run.
async fn until_running(
    pods: &Api<k8s_openapi::api::core::v1::Pod>,
    n: usize,
    what: &str,
) -> Result<()> {
    poll_until(what, TIMEOUT, || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            if running_pods(&list) == n {
                Ok(())
            } else {
                Err(format!("{} running", running_pods(&list)))
            }
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_tenants_pods_accrue_cost_and_a_low_budget_turns_budget_ok() -> Result<()> {
    let h = Harness::new("cost").await?;
    let mut tiers = tenant_core::cost::TierTable::new();
    tiers.insert(
        "gold".into(),
        serde_json::from_value(json!({"cpuHourlyRate": 7200.0, "currency": "EUR"}))?,
    );
    let configure = move |c: &mut tenant_operator::Config| {
        c.cost_interval = Duration::from_secs(1);
        c.cost_write_interval = Duration::from_secs(600);
        c.billing_tiers = tiers.clone();
    };
    let op = h.start_operator_with(configure.clone()).await?;

    // 0.1 CPU at 360000 per CPU-hour: 10 per second; a budget of 30 is gone in 3 s.
    let (t, ns) = running_tenant(&h, "costly", |t| {
        t.spec.billing = Some(from_json(json!({
            "cpuHourlyRate": 360000.0, "memoryHourlyRate": 0.0, "storageMonthlyRate": 0.0,
            "monthlyBudget": 30.0, "budgetAlertThreshold": 0.5, "currency": "EUR",
        })));
    })
    .await?;
    let name = t.metadata.name.clone().unwrap();
    // No pods yet: priced, nothing charged, within budget.
    until(&h, &name, "status.cost with no pods", |t| {
        let cost = cost(t).ok_or("no status.cost")?;
        let ok = condition(t, c::BUDGET_OK).ok_or("no BudgetOK")?;
        if cost.hourly.as_deref() == Some("0.00")
            && ok.status == "True"
            && ok.reason == "WithinBudget"
        {
            Ok(())
        } else {
            Err(format!("{cost:?} {ok:?}"))
        }
    })
    .await?;

    // A pod requesting 100m, which kwok runs.
    Api::<Deployment>::namespaced(h.admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "worker"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "worker"}},
                    "template": {"metadata": {"labels": {"app": "worker"}},
                        "spec": restricted_pod_spec(json!({"requests": {"cpu": "100m", "memory": "64Mi"},
                            "limits": {"cpu": "200m", "memory": "128Mi"}}))}},
            })),
        )
        .await?;
    let charged = until(&h, &name, "the pod charged for", |t| {
        let cost = cost(t).ok_or("no status.cost")?;
        if cost.hourly.as_deref() == Some("36000.00") && cost.cpu_cores.as_deref() == Some("0.100")
        {
            Ok(cost)
        } else {
            Err(format!("{cost:?}"))
        }
    })
    .await?;
    ensure!(charged.currency.as_deref() == Some("EUR"), "{charged:?}");
    // The budget: forecast over the threshold at once, then exceeded.
    let exceeded = until(&h, &name, "BudgetExceeded", |t| {
        let ok = condition(t, c::BUDGET_OK).ok_or("no BudgetOK")?;
        if ok.status == "False" && ok.reason == "BudgetExceeded" {
            Ok(t.clone())
        } else {
            Err(format!("{ok:?}"))
        }
    })
    .await?;
    let before = cost(&exceeded).context("cost")?;
    ensure!(number(&before.month_to_date) > 30.0, "{before:?}");
    ensure!(
        number(&before.budget_used_ratio) > 1.0,
        "budgetUsedRatio: {before:?}"
    );
    // `kubectl tenant cost` reads the same.
    let rows =
        kubectl_tenant::cost::live(&h.admin, Some(&h.ns), std::slice::from_ref(&name)).await?;
    ensure!(
        rows.len() == 1
            && rows[0].hourly.as_deref() == Some("36000.00")
            && rows[0].budget.as_deref() == Some("BudgetExceeded")
            && rows[0].currency.as_deref() == Some("EUR"),
        "{rows:?}"
    );
    // Status written under the cost accounting's own field manager.
    let managers: Vec<String> = exceeded
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    ensure!(
        managers
            .iter()
            .any(|m| m == tenant_operator::cost::FIELD_MANAGER),
        "{managers:?}"
    );
    let text = op.metrics.encode();
    let series = format!(
        "tenant_operator_tenant_hourly_cost{{tenant=\"{}/{name}\",namespace=\"{ns}\"}} 36000",
        h.ns
    );
    ensure!(text.contains(&series), "{series} in\n{text}");
    ensure!(
        text.contains("tenant_operator_tenants_over_budget 1"),
        "{text}"
    );
    ensure!(
        has_event(&h, &name, "BudgetExceeded", "Warning").await?,
        "a BudgetExceeded Warning Event"
    );

    // A tenant priced by the platform's tier table; one with no prices at all.
    let (gold, _) = running_tenant(&h, "gold", |t| {
        t.spec.tenant_config = Some(from_json(json!({"billingTier": "gold"})));
    })
    .await?;
    let gold_name = gold.metadata.name.clone().unwrap();
    let gold_cost = until(&h, &gold_name, "the tier's prices", |t| {
        cost(t).ok_or("no status.cost".into())
    })
    .await?;
    ensure!(
        gold_cost.currency.as_deref() == Some("EUR"),
        "{gold_cost:?}"
    );
    ensure!(
        gold_cost
            .unpriced
            .as_ref()
            .is_some_and(|u| u.contains(&"memoryHourlyRate".to_string())
                && !u.contains(&"cpuHourlyRate".to_string())),
        "{gold_cost:?}"
    );
    let (free, _) = running_tenant(&h, "free", |_| {}).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let free = h.get(&free.metadata.name.clone().unwrap()).await?;
    ensure!(
        cost(&free).is_none(),
        "no prices, no accounting: {:?}",
        free.status
    );
    ensure!(condition(&free, c::BUDGET_OK).is_none());

    // A restart: nothing is written (the status is younger than the write interval), and the
    // accrued cost is not reset.
    tokio::time::sleep(Duration::from_secs(2)).await;
    op.stop().await?;
    let since = jiff::Timestamp::now();
    let stopped_at = cost(&h.get(&name).await?).context("cost")?;
    let op = h.start_operator_with(configure.clone()).await?;
    op.wait_ready().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = operator_writes_since(h.cp, since, std::slice::from_ref(&h.ns))?;
    ensure!(writes.is_empty(), "writes after a restart: {writes:#?}");
    ensure!(
        number(&cost(&h.get(&name).await?).context("cost")?.month_to_date)
            >= number(&stopped_at.month_to_date),
        "the accrued cost survives a restart"
    );
    let text = op.metrics.encode();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "tenant_operator_tenant_cost_month_to_date{{tenant=\"{}/{name}\",namespace=\"{ns}\"}}",
                h.ns
            ))
        })
        .context("month to date series")?;
    let after: f64 = line.rsplit(' ').next().unwrap_or("").parse()?;
    ensure!(
        after > number(&stopped_at.month_to_date),
        "accrual resumed from the status: {after} after {:?}",
        stopped_at.month_to_date
    );

    // Raising the budget turns BudgetOK back.
    set_budget(&h, &name, 1e12).await?;
    until_budget_ok(&h, &name).await?;
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn an_enforced_budget_refuses_new_pods_keeps_running_ones_and_lifts_when_raised() -> Result<()>
{
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    let h = Harness::new("freeze").await?;
    let op = h
        .start_operator_with(|c: &mut tenant_operator::Config| {
            c.cost_interval = Duration::from_secs(1);
            c.cost_write_interval = Duration::from_secs(600);
        })
        .await?;
    // 0.1 CPU at 360000 per CPU-hour: 10 per second; a budget of 20 is gone in 2 s.
    let (t, ns) = running_tenant(&h, "frozen", |t| {
        t.spec.owner = Some("alice".into());
        t.spec.billing = Some(from_json(json!({
            "cpuHourlyRate": 360000.0, "monthlyBudget": 20.0, "budgetEnforcement": true,
        })));
    })
    .await?;
    let name = t.metadata.name.clone().unwrap();
    let alice = h.cp.client_as("alice").await?;
    let deployments: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
    let worker = |replicas: i32| -> Deployment {
        from_json(json!({
            "metadata": {"name": "worker"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "worker"}},
                "template": {"metadata": {"labels": {"app": "worker"}},
                    "spec": restricted_pod_spec(json!({"requests": {"cpu": "100m", "memory": "64Mi"},
                        "limits": {"cpu": "200m", "memory": "128Mi"}}))}},
        }))
    };
    deployments
        .create(&PostParams::default(), &worker(1))
        .await?;
    let enforced = until(&h, &name, "BudgetEnforced", |t| {
        let ok = condition(t, c::BUDGET_OK).ok_or("no BudgetOK")?;
        if ok.status == "False" && ok.reason == "BudgetEnforced" {
            Ok(ok.message.clone())
        } else {
            Err(format!("{ok:?}"))
        }
    })
    .await?;
    ensure!(
        enforced.contains("refuses new pods until"),
        "the condition says what happens: {enforced}"
    );
    let namespaces: Api<Namespace> = Api::all(h.admin.clone());
    let label = |n: &Namespace| {
        n.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(tenant_api::labels::BUDGET_FROZEN).cloned())
    };
    ensure!(
        label(&namespaces.get(&ns).await?).as_deref() == Some("true"),
        "the namespace is labelled frozen"
    );
    let pods: Api<Pod> = Api::namespaced(h.admin.clone(), &ns);
    let running = running_pods;
    until_running(&pods, 1, "the first replica runs").await?;

    // The tenant's owner creating a pod: refused by the API server, naming the budget.
    let pod: Pod = from_json(json!({
        "metadata": {"name": "extra"},
        "spec": restricted_pod_spec(json!({"requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "10m", "memory": "16Mi"}})),
    }));
    let alice_pods: Api<Pod> = Api::namespaced(alice.clone(), &ns);
    let message = refused(
        "alice creates a pod while frozen",
        alice_pods.create(&PostParams::default(), &pod).await,
    )?;
    ensure!(
        message.contains("budget") && message.contains("billing.monthlyBudget"),
        "{message}"
    );
    // Scaling up: the ReplicaSet controller's pod is refused too; the running pod stays.
    deployments
        .patch(
            "worker",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await?;
    stays_for("one pod while frozen", Duration::from_secs(4), || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            if list.items.len() == 1 && running(&list) == 1 {
                Ok(())
            } else {
                Err(format!(
                    "{} pods, {} running",
                    list.items.len(),
                    running(&list)
                ))
            }
        }
    })
    .await?;
    // alice cannot take the label off (nor patch her namespace at all)
    refused(
        "alice removes the freeze label",
        Api::<Namespace>::all(alice.clone())
            .patch(
                &ns,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(
                    json!({"metadata": {"labels": {tenant_api::labels::BUDGET_FROZEN: null}}}),
                ),
            )
            .await,
    )?;
    ensure!(
        has_event(&h, &name, "BudgetEnforced", "Warning").await?,
        "a BudgetEnforced Warning Event"
    );

    // Raising the budget lifts the freeze: the label goes, the second replica starts, alice
    // may create pods again, and an Event says so.
    set_budget(&h, &name, 1e12).await?;
    until_budget_ok(&h, &name).await?;
    ensure!(
        label(&namespaces.get(&ns).await?).is_none(),
        "the freeze label is gone"
    );
    until_running(&pods, 2, "the second replica runs").await?;
    alice_pods
        .create(&PostParams::default(), &pod)
        .await
        .context("alice creates a pod after the freeze is lifted")?;
    ensure!(
        has_event(&h, &name, "BudgetEnforcementLifted", "Normal").await?,
        "a BudgetEnforcementLifted Event"
    );
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn with_the_platform_setting_a_frozen_tenant_is_hibernated_and_wakes_when_lifted()
-> Result<()> {
    use tenant_api::Phase;
    let h = Harness::new("hibernate").await?;
    let op = h
        .start_operator_with(|c: &mut tenant_operator::Config| {
            c.cost_interval = Duration::from_secs(1);
            c.cost_write_interval = Duration::from_secs(600);
            c.budget_freeze_hibernates = true;
        })
        .await?;
    // Running first with a budget it cannot use up, then a budget it has already used up (a
    // low budget from the start may freeze it before it was ever seen Running).
    let (t, ns) = running_tenant(&h, "sleepy", |t| {
        t.spec.services = Some(vec!["api".into()]);
        t.spec.billing = Some(from_json(json!({
            "cpuHourlyRate": 3600000.0, "monthlyBudget": 1e15, "budgetEnforcement": true,
        })));
    })
    .await?;
    let name = t.metadata.name.clone().unwrap();
    let deployments: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
    let replicas = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    ensure!(replicas(&deployments.get("api").await?) >= 1);
    until(&h, &name, "the service's pod charged for", |t| {
        let hourly = number(&cost(t).ok_or("no status.cost")?.hourly);
        if hourly > 0.0 {
            Ok(())
        } else {
            Err(format!("hourly {hourly}"))
        }
    })
    .await?;
    set_budget(&h, &name, 0.01).await?;
    // The service's pod is charged for; the budget goes; the tenant is frozen and scaled to 0.
    let suspended = h.wait_phase(&name, Phase::Suspended).await?;
    let ready = condition(&suspended, c::READY).context("Ready")?;
    ensure!(
        ready.message.contains("over its monthly budget"),
        "{}",
        ready.message
    );
    ensure!(
        condition(&suspended, c::BUDGET_OK).is_some_and(|b| b.reason == "BudgetEnforced"),
        "{}",
        conditions(&suspended)
    );
    ensure!(
        replicas(&deployments.get("api").await?) == 0,
        "scaled to zero"
    );

    // Raising the budget lifts the freeze: the service runs again.
    set_budget(&h, &name, 1e15).await?;
    h.wait_phase(&name, Phase::Running).await?;
    ensure!(replicas(&deployments.get("api").await?) >= 1, "awake again");
    h.teardown().await?;
    op.stop().await
}
