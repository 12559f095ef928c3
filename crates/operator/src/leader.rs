//! Opt-in leader election on a `coordination.k8s.io/v1` Lease.
//!
//! A replica acquires the Lease when it does not exist, is free or has expired; a takeover is a
//! `replace` carrying the resourceVersion it read, so two standbys racing for an expired Lease
//! cannot both win (the loser gets 409 Conflict). Create and replace, not server-side apply: an
//! apply would let the second of two racing creators overwrite the first.
//!
//! Expiry is judged on the standby's own clock, never by comparing the holder's `renewTime`
//! with it (the replicas' clocks may disagree): a standby takes over when the Lease record has
//! not changed for the lease duration since it last saw it change. The leader renews every
//! `renew` interval and gives up when it has not renewed for the renew deadline (the lease
//! duration less one renew interval), so it stops writing before any standby can take over.
//! A standby only reads the Lease, every [`STANDBY_POLL`] (or every renew interval, if that is
//! shorter): a leader that stops cleanly releases the Lease, and the standby must notice within
//! about a second, not a whole renew interval later. The caller of a lost lease stops and exits
//! non-zero so the Deployment restarts it as a standby.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::{info, warn};

use crate::error::{Error, Result, api_code};
use crate::metrics::Metrics;

/// How often a standby reads the Lease (at most; a shorter renew interval wins). It bounds the
/// time from a released Lease to the standby taking it over, at one GET a second.
pub const STANDBY_POLL: Duration = Duration::from_secs(1);

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

/// The pure decision from the Lease's spec, given how long this replica has seen the same
/// Lease record (`unchanged_for`, on its own clock).
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, unchanged_for: Duration) -> Decision {
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
    let seconds = u64::try_from(spec.lease_duration_seconds.unwrap_or(15).max(1)).unwrap_or(15);
    if unchanged_for >= Duration::from_secs(seconds) {
        Decision::TakeOver
    } else {
        Decision::Wait {
            holder: holder.to_string(),
        }
    }
}

/// The Lease record a replica last saw (its resourceVersion) and since when, on its own clock.
#[derive(Default)]
struct Observation(std::sync::Mutex<Option<(String, Instant)>>);

impl Observation {
    /// Records `version` as seen at `now`; returns how long it has been the same.
    fn see(&self, version: &str, now: Instant) -> Duration {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match seen.as_ref() {
            Some((v, since)) if v == version => now.saturating_duration_since(*since),
            _ => {
                *seen = Some((version.to_string(), now));
                Duration::ZERO
            }
        }
    }
}

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    renew: Duration,
    metrics: Arc<Metrics>,
    observed: Observation,
}

impl LeaderElector {
    /// The elector of `config`'s Lease (namespace, name, identity, duration, renew interval).
    pub fn new(client: Client, config: &crate::Config, metrics: Arc<Metrics>) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, &config.lease_namespace),
            name: config.lease_name.clone(),
            identity: config.identity.clone(),
            duration: config.lease_duration,
            renew: config.lease_renew,
            metrics,
            observed: Observation::default(),
        }
    }

    /// How long the leader may go without renewing before it must stop: one renew interval
    /// short of the lease duration, so it stops before a standby can take over.
    pub fn renew_deadline(&self) -> Duration {
        self.duration
            .saturating_sub(self.renew)
            .max(self.duration / 2)
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
        let unchanged_for = current
            .as_ref()
            .and_then(|l| l.metadata.resource_version.as_deref())
            .map_or(Duration::ZERO, |v| self.observed.see(v, Instant::now()));
        match decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            unchanged_for,
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
            tokio::time::sleep(self.renew.min(STANDBY_POLL)).await;
        }
    }

    /// Renews until the Lease is lost; returns the loss as an error. The loss is reported no later
    /// than the renew deadline after the last successful renewal, even if the API server hangs.
    pub async fn hold(&self) -> Error {
        let deadline = self.renew_deadline();
        let mut last_renewal = Instant::now();
        loop {
            let left = deadline.saturating_sub(last_renewal.elapsed());
            tokio::time::sleep(self.renew.min(left)).await;
            let left = deadline.saturating_sub(last_renewal.elapsed());
            if left.is_zero() {
                warn!(lease = %self.name, ?deadline, "not renewed within the renew deadline");
                return Error::LeaseLost(self.name.clone());
            }
            // The renewal counts from when it was sent: the server may record it at any point
            // of the request.
            let attempt = Instant::now();
            match tokio::time::timeout(left, self.try_acquire()).await {
                Ok(Ok(None)) => last_renewal = attempt,
                // A concurrent write made our replace fail: still ours unless the holder changed.
                Ok(Ok(Some(holder))) if holder.is_empty() => {
                    match self.api.get_opt(&self.name).await {
                        Ok(Some(l))
                            if l.spec.as_ref().and_then(|s| s.holder_identity.as_deref())
                                == Some(self.identity.as_str()) => {}
                        _ => return Error::LeaseLost(self.name.clone()),
                    }
                }
                Ok(Ok(Some(holder))) => {
                    warn!(lease = %self.name, %holder, "the leader lease was taken over");
                    return Error::LeaseLost(self.name.clone());
                }
                Ok(Err(e)) => warn!(error = %e, "renewing the leader lease failed"),
                Err(_elapsed) => {}
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

    fn spec(holder: Option<&str>, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            renew_time: Some(MicroTime(Timestamp::UNIX_EPOCH)),
            lease_duration_seconds: Some(duration),
            ..Default::default()
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn missing_lease_is_created() {
        assert_eq!(decide(None, "me", secs(0)), Decision::Create);
    }

    #[test]
    fn own_lease_is_renewed() {
        assert_eq!(
            decide(Some(&spec(Some("me"), 15)), "me", secs(100)),
            Decision::Renew
        );
    }

    #[test]
    fn a_foreign_lease_seen_changing_within_its_duration_means_standby() {
        // The holder's renewTime is far in the past by our clock: that alone says nothing (the
        // clocks may disagree); only how long we have seen the same record counts.
        assert_eq!(
            decide(Some(&spec(Some("other"), 15)), "me", secs(14)),
            Decision::Wait {
                holder: "other".into()
            }
        );
    }

    #[test]
    fn a_lease_unchanged_for_its_duration_or_free_is_taken_over() {
        assert_eq!(
            decide(Some(&spec(Some("other"), 15)), "me", secs(15)),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&spec(None, 15)), "me", secs(0)),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&spec(Some(""), 15)), "me", secs(0)),
            Decision::TakeOver
        );
    }

    #[test]
    fn an_observation_restarts_when_the_record_changes() {
        let o = Observation::default();
        let t0 = Instant::now();
        assert_eq!(o.see("1", t0), Duration::ZERO);
        assert_eq!(o.see("1", t0 + secs(10)), secs(10));
        assert_eq!(
            o.see("2", t0 + secs(11)),
            Duration::ZERO,
            "a renewal is a new record"
        );
        assert_eq!(o.see("2", t0 + secs(14)), secs(3));
    }
}
