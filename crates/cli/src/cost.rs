//! `kubectl tenant cost [TENANT...]`: each Tenant's accrued cost as the operator recorded it in
//! `status.cost` and `BudgetOK` (docs/cost.md).

use anyhow::{Context, Result, bail};
use kube::Client;
use kube::api::{Api, ListParams};
use serde::Serialize;
use tenant_api::{Tenant, condition as c};

/// One Tenant's cost.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// `namespace/name`.
    pub tenant: String,
    pub currency: Option<String>,
    pub hourly: Option<String>,
    pub cycle_to_date: Option<String>,
    pub cycle_forecast: Option<String>,
    pub month_to_date: Option<String>,
    pub monthly_projected: Option<String>,
    pub monthly_budget: Option<String>,
    /// Month to date over the budget, as a percentage.
    pub budget_used_percent: Option<String>,
    /// `BudgetOK`'s reason (`WithinBudget`, `BudgetExceeded`, ...).
    pub budget: Option<String>,
    /// When the figures were accrued up to.
    pub accrued_at: Option<String>,
}

fn two(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| format!("{v:.2}"))
}

/// The row of one Tenant (`None`: the operator does not account it: no prices).
pub fn row(t: &Tenant) -> Row {
    let cost = t
        .status
        .as_ref()
        .and_then(|s| s.cost.clone())
        .unwrap_or_default();
    let reason = t
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|x| x.type_ == c::BUDGET_OK))
        .map(|x| x.reason.clone());
    Row {
        tenant: format!(
            "{}/{}",
            t.metadata.namespace.clone().unwrap_or_default(),
            t.metadata.name.clone().unwrap_or_default()
        ),
        currency: cost.currency.clone(),
        hourly: cost.hourly.clone(),
        cycle_to_date: two(&cost.cycle_to_date),
        cycle_forecast: cost.cycle_forecast.clone(),
        month_to_date: two(&cost.month_to_date),
        monthly_projected: cost.monthly_projected.clone(),
        monthly_budget: cost.monthly_budget.clone(),
        budget_used_percent: cost
            .budget_used_ratio
            .as_deref()
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| format!("{:.0}%", v * 100.0)),
        budget: reason,
        accrued_at: cost
            .accrued_at
            .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
    }
}

/// The rows of the Tenants named in `namespace` (all of them when `names` is empty), or of
/// every namespace's Tenants when `namespace` is `None`.
pub async fn live(client: &Client, namespace: Option<&str>, names: &[String]) -> Result<Vec<Row>> {
    let api: Api<Tenant> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut tenants = if names.is_empty() {
        api.list(&ListParams::default())
            .await
            .context("listing Tenants")?
            .items
    } else {
        let mut out = Vec::new();
        for n in names {
            match api
                .get_opt(n)
                .await
                .with_context(|| format!("reading Tenant {n}"))?
            {
                Some(t) => out.push(t),
                None => bail!(
                    "Tenant {n} not found in namespace {}",
                    namespace.unwrap_or("(all)")
                ),
            }
        }
        out
    };
    tenants.sort_by_key(|t| (t.metadata.namespace.clone(), t.metadata.name.clone()));
    Ok(tenants.iter().map(row).collect())
}

/// The rows as a table; Tenants the operator does not account show `-`.
/// The rows as a table; `wide` adds the projected month and when the figures were accrued.
pub fn table(rows: &[Row], wide: bool) -> String {
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let mut lines: Vec<Vec<String>> = vec![
        [
            "TENANT",
            "CURRENCY",
            "HOURLY",
            "CYCLE-TO-DATE",
            "CYCLE-FORECAST",
            "MONTH-TO-DATE",
            "BUDGET",
            "USED",
            "BUDGET-STATE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    if wide {
        lines[0].extend(["MONTH-PROJECTED", "ACCRUED-AT"].map(String::from));
    }
    for r in rows {
        lines.push(vec![
            r.tenant.clone(),
            dash(&r.currency),
            dash(&r.hourly),
            dash(&r.cycle_to_date),
            dash(&r.cycle_forecast),
            dash(&r.month_to_date),
            dash(&r.monthly_budget),
            dash(&r.budget_used_percent),
            dash(&r.budget),
        ]);
        if wide && let Some(row) = lines.last_mut() {
            row.extend([dash(&r.monthly_projected), dash(&r.accrued_at)]);
        }
    }
    let mut out = crate::columns(&lines);
    if rows.iter().any(|r| r.hourly.is_none()) {
        out.push_str(
            "(-: no prices, so the operator does not account that tenant; see docs/cost.md)\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_row_reads_the_status_and_a_table_lines_up() {
        let t: Tenant = serde_json::from_value(json!({
            "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "Tenant",
            "metadata": {"name": "shop", "namespace": "tenants"},
            "spec": {"tenantId": "shop", "tenantType": "production"},
            "status": {
                "cost": {"currency": "EUR", "hourly": "0.42", "cycleToDate": "12.345678",
                    "monthToDate": "12.345678", "monthlyBudget": "100.00", "budgetUsedRatio": "0.12",
                    "accruedAt": "2026-12-03T10:00:00Z"},
                "conditions": [{"type": "BudgetOK", "status": "True", "reason": "WithinBudget",
                    "message": "", "lastTransitionTime": "2026-12-03T10:00:00Z"}]
            }
        }))
        .unwrap();
        let r = row(&t);
        assert_eq!(r.tenant, "tenants/shop");
        assert_eq!(r.cycle_to_date.as_deref(), Some("12.35"));
        assert_eq!(r.budget_used_percent.as_deref(), Some("12%"));
        assert_eq!(r.budget.as_deref(), Some("WithinBudget"));
        let mut bare = t.clone();
        bare.status = None;
        let rows = [r, row(&bare)];
        let text = table(&rows, false);
        let lines: Vec<&str> = text.lines().collect();
        let col = lines[0].find("HOURLY").unwrap();
        assert_eq!(lines[1].find("0.42"), Some(col), "{text}");
        assert!(text.contains("no prices"), "{text}");
        assert!(!text.contains("ACCRUED-AT"), "{text}");
        let wide = table(&rows, true);
        let header = wide.lines().next().unwrap();
        assert!(header.ends_with("MONTH-PROJECTED   ACCRUED-AT"), "{wide}");
    }
}
