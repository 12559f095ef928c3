//! validateTenant (seed 004): schema, CEL rules and cross-field checks.
