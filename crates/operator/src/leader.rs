//! Opt-in leader election on a `coordination.k8s.io/v1` Lease.
//!
//! A replica acquires the Lease when it does not exist, is free or has expired; a takeover is a
//! `replace` carrying the resourceVersion it read, so two standbys racing for an expired Lease
//! cannot both win (the loser gets 409 Conflict). The leader renews every `renew` interval. A
//! standby only reads the Lease. A leader that cannot renew within the lease duration, or finds
//! another holder, reports the loss; the caller stops and exits non-zero so the Deployment
//! restarts it as a standby.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::{info, warn};

use crate::error::{Error, Result, api_code};
use crate::metrics::Metrics;

/// What a replica should do with the Lease as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease: create it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it over (replace guarded by resourceVersion).
    TakeOver,
    /// Someone else holds a valid Lease.
    Wait { holder: String },
}

/// The pure decision from the Lease's spec.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Create;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15).max(1));
    let last = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match last {
        Some(t) if t.as_second() + duration > now.as_second() => Decision::Wait {
            holder: holder.to_string(),
        },
        _ => Decision::TakeOver,
    }
}

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    renew: Duration,
    metrics: Arc<Metrics>,
}

impl LeaderElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
        renew: Duration,
        metrics: Arc<Metrics>,
    ) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
            renew,
            metrics,
        }
    }

    fn err(&self) -> impl Fn(kube::Error) -> Error + '_ {
        move |source| Error::Lease {
            name: self.name.clone(),
            source,
        }
    }

    fn spec(&self, now: Timestamp, transitions: i32, acquire: Option<MicroTime>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.duration.as_secs()).unwrap_or(15)),
            acquire_time: acquire.or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// One attempt: `Ok(None)` when this replica holds the Lease afterwards, else the holder
    /// (empty when unknown, e.g. after losing a race).
    pub async fn try_acquire(&self) -> Result<Option<String>> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await.map_err(self.err())?;
        match decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        ) {
            Decision::Wait { holder } => Ok(Some(holder)),
            Decision::Create => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(self.spec(now, 0, None)),
                };
                self.metrics.write("Lease", "create");
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(None),
                    Err(e) if api_code(&e) == Some(409) => Ok(Some(String::new())),
                    Err(e) => Err(self.err()(e)),
                }
            }
            Decision::Renew | Decision::TakeOver => {
                let Some(mut lease) = current else {
                    return Ok(Some(String::new()));
                };
                let old = lease.spec.clone().unwrap_or_default();
                let ours = old.holder_identity.as_deref() == Some(self.identity.as_str());
                let transitions = old.lease_transitions.unwrap_or(0) + i32::from(!ours);
                let acquire = if ours { old.acquire_time } else { None };
                lease.spec = Some(self.spec(now, transitions, acquire));
                // `lease.metadata.resourceVersion` is the version we read: the replace fails
                // with 409 if anyone wrote the Lease since.
                self.metrics.write("Lease", "update");
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(None),
                    Err(e) if api_code(&e) == Some(409) => Ok(Some(String::new())),
                    Err(e) => Err(self.err()(e)),
                }
            }
        }
    }

    /// Waits until this replica holds the Lease (a standby only reads it meanwhile).
    pub async fn acquire(&self) {
        let mut last_holder = String::new();
        loop {
            match self.try_acquire().await {
                Ok(None) => {
                    info!(lease = %self.name, identity = %self.identity, "acquired the leader lease");
                    return;
                }
                Ok(Some(holder)) => {
                    if !holder.is_empty() && holder != last_holder {
                        info!(lease = %self.name, %holder, "standing by: another replica leads");
                        last_holder = holder;
                    }
                }
                Err(e) => warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.renew).await;
        }
    }

    /// Renews until the Lease is lost; returns the loss as an error.
    pub async fn hold(&self) -> Error {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.renew).await;
            match self.try_acquire().await {
                Ok(None) => last_renewal = tokio::time::Instant::now(),
                // A concurrent write made our replace fail: still ours unless the holder changed.
                Ok(Some(holder)) if holder.is_empty() => match self.api.get_opt(&self.name).await {
                    Ok(Some(l))
                        if l.spec.as_ref().and_then(|s| s.holder_identity.as_deref())
                            == Some(self.identity.as_str()) => {}
                    _ => return Error::LeaseLost(self.name.clone()),
                },
                Ok(Some(holder)) => {
                    warn!(lease = %self.name, %holder, "the leader lease was taken over");
                    return Error::LeaseLost(self.name.clone());
                }
                Err(e) => warn!(error = %e, "renewing the leader lease failed"),
            }
            if last_renewal.elapsed() >= self.duration {
                return Error::LeaseLost(self.name.clone());
            }
        }
    }

    /// Gives the Lease up on a clean shutdown, so a standby takes over at once.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        self.metrics.write("Lease", "update");
        if let Err(e) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            warn!(error = %e, "releasing the leader lease failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            renew_time: Some(MicroTime(
                Timestamp::from_second(renewed).unwrap_or(Timestamp::UNIX_EPOCH),
            )),
            lease_duration_seconds: Some(duration),
            ..Default::default()
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn missing_lease_is_created() {
        assert_eq!(decide(None, "me", at(100)), Decision::Create);
    }

    #[test]
    fn own_lease_is_renewed() {
        assert_eq!(
            decide(Some(&spec(Some("me"), 90, 15)), "me", at(100)),
            Decision::Renew
        );
    }

    #[test]
    fn valid_foreign_lease_means_standby() {
        assert_eq!(
            decide(Some(&spec(Some("other"), 90, 15)), "me", at(100)),
            Decision::Wait {
                holder: "other".into()
            }
        );
    }

    #[test]
    fn expired_or_free_lease_is_taken_over() {
        assert_eq!(
            decide(Some(&spec(Some("other"), 80, 15)), "me", at(100)),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&spec(None, 99, 15)), "me", at(100)),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&spec(Some(""), 99, 15)), "me", at(100)),
            Decision::TakeOver
        );
    }
}
