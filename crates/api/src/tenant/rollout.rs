//! `spec.hibernation`, `spec.maintenanceWindow`, `spec.releaseChannel`, `spec.canary`: when the
//! tenant's services sleep, and when and how new releases reach them.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

const CRON_RULE: &str = r"self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([0-9A-Za-z*/,?-]+\\s+){4}[0-9A-Za-z*/,?-]+)$')";

/// A sleep/wake timetable: the services scale to zero at each `sleep` time and come back at each
/// `wake` time, as with `active: false` (which always wins).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hibernation {
    /// Sleep and wake times; the tenant sleeps when the latest time that has come is a sleep.
    #[schemars(length(min = 1, max = 8))]
    pub schedules: Vec<HibernationSchedule>,
    /// IANA time zone the times are in (e.g. `Europe/Budapest`). Default UTC.
    #[schemars(length(max = 64))]
    pub time_zone: Option<String>,
}

/// One pair of sleep and wake times.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HibernationSchedule {
    /// When to scale to zero: five cron fields (minute hour day-of-month month day-of-week) or a
    /// macro such as `@daily`, e.g. `0 20 * * 1-5`.
    #[x_kube(validation = Rule::new(CRON_RULE).message("must be five cron fields (minute hour day-of-month month day-of-week) or a macro such as @daily"))]
    #[schemars(length(max = 128))]
    pub sleep: String,
    /// When to scale back, e.g. `0 7 * * 1-5`.
    #[x_kube(validation = Rule::new(CRON_RULE).message("must be five cron fields (minute hour day-of-month month day-of-week) or a macro such as @daily"))]
    #[schemars(length(max = 128))]
    pub wake: String,
}

/// When the tenant's releases may roll out: a window opening at each `schedule` time for
/// `duration`. A changed image tag, release or `deployedAt` waits for the window (the status
/// shows the pending rollout and when it runs); guardrails and configuration never wait.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// When the window opens: five cron fields or a macro, e.g. `0 2 * * 6` (Saturdays 02:00).
    #[x_kube(validation = Rule::new(CRON_RULE).message("must be five cron fields (minute hour day-of-month month day-of-week) or a macro such as @daily"))]
    #[schemars(length(max = 128))]
    pub schedule: String,
    /// How long it stays open: `4h`, `90m`, `1h30m` (units m, h, d).
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(m|h|d))+$')").message("must be a duration such as 4h or 1h30m (units m, h, d)"))]
    #[schemars(length(max = 32))]
    pub duration: String,
    /// IANA time zone of `schedule`. Default UTC.
    #[schemars(length(max = 64))]
    pub time_zone: Option<String>,
}

/// A canary release: part of every service's replicas run `imageTag` behind the same Service.
/// Promote by setting the spec's `imageTag` to it and removing `canary`; abort by removing
/// `canary`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Canary {
    /// The image tag the canary replicas run.
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')").message("must be a valid image tag: letters, digits, '_', '.', '-', at most 128 characters"))]
    #[schemars(length(max = 128))]
    pub image_tag: String,
    /// Percent of each service's replicas on the canary (at least one replica). Default 10.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 99").message("must be a percentage 1-99"))]
    pub weight: Option<i32>,
}
