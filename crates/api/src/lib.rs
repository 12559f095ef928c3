//! Tenant and PRStack custom resource types.
