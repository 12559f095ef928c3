//! Every way the operator can fail, one variant per failure site.
//!
//! `category()` gives a short, bounded string for metric labels and Event reasons: an error's
//! Display or Debug text never becomes a label value.

use tenant_core::build::BuildError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ----- the reconcile, by step -----
    /// Dereference: the Tenant object lacks something every stored object has (name,
    /// namespace, uid).
    #[error("tenant object has no {0}")]
    MissingField(&'static str),

    /// Build: a builder failed (a bug, or input validation should have rejected).
    #[error("building the tenant's objects: {0}")]
    Build(#[source] BuildError),

    /// Claim: reading the namespace the Tenant wants, or creating it, failed.
    #[error("claiming namespace {namespace}: {source}")]
    Claim {
        namespace: String,
        #[source]
        source: kube::Error,
    },

    /// Apply: server-side apply of a desired object (or the delete that replaces an object
    /// whose immutable field changed) failed.
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },

    /// Apply: the builders produced a kind without a registry row (a bug: the operator would
    /// apply it but never watch, prune or clean it up, so it refuses).
    #[error("{kind} {name} is of a kind the operator does not manage (no registry row)")]
    Unregistered { kind: String, name: String },

    /// Prune: deleting an object the tenant no longer wants failed.
    #[error("pruning {kind} {name}: {source}")]
    Prune {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },

    /// Cleanup: deleting one of a deleted Tenant's objects failed.
    #[error("cleaning up {kind} {name}: {source}")]
    Cleanup {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },

    /// Status: writing the Tenant's status failed.
    #[error("writing tenant status: {0}")]
    Status(#[source] kube::Error),

    /// Finalizer: adding or removing the finalizer failed.
    #[error("updating the finalizer: {0}")]
    Finalizer(#[source] kube::Error),

    // ----- start-up and the shared objects -----
    /// Reading or applying a shared object failed.
    #[error("shared object {kind} {name}: {source}")]
    Shared {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },

    /// A shared object's name is taken by an object the operator did not create.
    #[error(
        "{kind} {name} exists and is not the operator's (no app.kubernetes.io/managed-by=tenant-operator label); not taking it over"
    )]
    NotOurs { kind: String, name: String },

    /// Applying the shared admission policies at start-up failed.
    #[error("applying the shared admission policies: {0}")]
    SharedPolicies(#[source] Box<Error>),

    /// Reading or writing the leader-election Lease failed.
    #[error("leader election lease {name}: {source}")]
    Lease {
        name: String,
        #[source]
        source: kube::Error,
    },

    /// Another replica holds the lease now: this one must stop (and be restarted).
    #[error("lost the leader election lease {0}")]
    LeaseLost(String),

    /// The metrics/health HTTP server could not start or failed.
    #[error("metrics server on {addr}: {source}")]
    Server {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the API server refused an apply for want of RBAC (403 Forbidden).
    pub fn forbidden(&self) -> bool {
        matches!(self, Error::Apply { source, .. } if api_code(source) == Some(403))
    }

    /// A short, bounded category for metric labels: the step, refined by the API's answer
    /// where that tells the operator's user something (forbidden, conflict, invalid).
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingField(_) => "dereference",
            Error::Build(e) => match e.category() {
                "invalid-spec" => "build-invalid",
                _ => "build",
            },
            Error::Claim { .. } => "claim",
            Error::Apply { source, .. } => match api_code(source) {
                Some(403) => "apply-forbidden",
                Some(409) => "apply-conflict",
                Some(422) => "apply-invalid",
                _ => "apply",
            },
            Error::Unregistered { .. } => "apply-unregistered",
            Error::Prune { .. } => "prune",
            Error::Cleanup { .. } => "cleanup",
            Error::Status(_) => "status",
            Error::Finalizer(_) => "finalizer",
            Error::Shared { .. } => "shared",
            Error::SharedPolicies(_) => "shared-policies",
            Error::NotOurs { .. } => "not-ours",
            Error::Lease { .. } => "lease",
            Error::LeaseLost(_) => "lease-lost",
            Error::Server { .. } => "server",
        }
    }

    /// The Event reason for this error (PascalCase, bounded).
    pub fn event_reason(&self) -> &'static str {
        match self {
            Error::Apply { .. } | Error::Unregistered { .. } => "ApplyFailed",
            Error::Prune { .. } => "PruneFailed",
            Error::Cleanup { .. } => "CleanupFailed",
            Error::Claim { .. } => "ClaimFailed",
            Error::Build(_) => "BuildFailed",
            _ => "ReconcileFailed",
        }
    }
}

/// The HTTP status code of an API error response.
pub fn api_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api_err(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: "boom".into(),
            reason: "Forbidden".into(),
            ..Default::default()
        }))
    }

    #[test]
    fn categories_are_bounded_and_distinguish_apply_failures() {
        let e = |code| Error::Apply {
            kind: "Role".into(),
            name: "x".into(),
            source: api_err(code),
        };
        assert_eq!(e(403).category(), "apply-forbidden");
        assert_eq!(e(409).category(), "apply-conflict");
        assert_eq!(e(500).category(), "apply");
        assert_eq!(Error::LeaseLost("l".into()).category(), "lease-lost");
        assert_eq!(e(403).event_reason(), "ApplyFailed");
    }
}
