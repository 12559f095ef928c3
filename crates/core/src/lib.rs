//! The pure heart of the operator: a Tenant in, validation results and Kubernetes objects out.
//!
//! `kubectl tenant validate|render` and the operator call the same functions, so what `render`
//! prints is exactly what the operator applies.

pub mod audit;
pub mod backups;
pub mod build;
pub mod claim;
pub mod cost;
pub mod diff;
pub mod migrate;
pub mod naming;
pub mod object;
pub mod owner;
pub mod placement;
pub mod presets;
pub mod quantity;
pub mod registry;
pub mod schedule;
pub mod status;
pub mod totals;
pub mod validate;

pub use object::Object;
pub use owner::{Owner, OwnerKind};
pub use presets::Effective;
