//! The offline validator behind `kubectl tenant validate` and the operator's SpecValid
//! condition (its `{valid, errors, checks}` shape: docs/field-origins.md).
//!
//! A document goes through four layers, in order, and stops only where the next layer cannot run:
//!
//! 1. **shape** (`document.*`, `metadata.*`): apiVersion, kind, metadata.name and the metadata
//!    rules the apiserver applies to every object;
//! 2. **schema** (`schema.*`): unknown fields (strict field validation), required fields, length
//!    and size bounds, walked against the CRD's openAPIV3Schema; then typed deserialization for
//!    types, enums and formats;
//! 3. **CEL** (`cel.*`): the CRD's `x-kubernetes-validations`, evaluated offline by kube-cel
//!    exactly as the apiserver would (schema defaults applied first);
//! 4. **cross-field** checks in Rust, for what needs several fields or more than CEL can do;
//! 5. **pending** (`pending.*`): a warning for each field the document sets that the operator
//!    accepts but does not act on yet (the table in `tenant_api::pending`).
//!
//! Every examined rule is listed in `checks` (passes too), with a stable `name`, the `field` path
//! and a message; every failed check also becomes an `errors` entry `"<field>: <message>"`.
//! Warnings never make a document invalid.

mod cel;
pub mod cron;
mod cross;
/// Seconds in a retention such as `30d` or `1w2d` (units s, m, h, d, w, y); None when malformed.
pub use cross::duration_seconds;
pub mod names;
pub mod pending;
mod quantities;
mod schema;
mod shape;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use tenant_api::{PRStack, Tenant};

/// The outcome of validating one document (`kubectl tenant validate -o json` prints it).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Report {
    /// True iff no check failed (warnings do not count).
    pub valid: bool,
    /// One line per failed check: `"<field path>: <rule>"`.
    pub errors: Vec<String>,
    /// Everything that was examined, passes and warnings included, in layer order.
    pub checks: Vec<Check>,
}

impl Report {
    /// The checks that warn.
    pub fn warnings(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == CheckStatus::Warn)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == CheckStatus::Fail)
    }
}

/// One examined rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Stable identifier, e.g. `quota.resourceLimitsAgree`.
    pub name: String,
    /// The field the result is about, e.g. `spec.resourceLimits.cpuLimit`.
    pub field: String,
    pub status: CheckStatus,
    pub message: String,
}

/// Result of one check.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Fail,
    Warn,
}

/// Validates a raw document (parsed from YAML or JSON by the caller) as a Tenant.
pub fn validate_value(doc: &Value) -> Report {
    let mut ctx = Ctx::default();
    tenant_layers(doc, None, &mut ctx);
    ctx.finish()
}

/// Validates an already-typed Tenant (the operator's path). Same layers and checks as
/// [`validate_value`] on the Tenant's serialized form.
pub fn validate_tenant(t: &Tenant) -> Report {
    match serde_json::to_value(t) {
        Ok(doc) => validate_value(&doc),
        Err(e) => serialize_failure(e),
    }
}

/// Validates an update of `old` to `new`: everything [`validate_tenant`] checks plus the CRD's
/// transition rules (immutability) and the checks that compare the two versions.
pub fn validate_update(new: &Tenant, old: &Tenant) -> Report {
    let (doc, old_doc) = match (serde_json::to_value(new), serde_json::to_value(old)) {
        (Ok(d), Ok(o)) => (d, o),
        (Err(e), _) | (_, Err(e)) => return serialize_failure(e),
    };
    let mut ctx = Ctx::default();
    if let Some(typed) = tenant_layers(&doc, Some(&old_doc), &mut ctx) {
        cross::update(&typed, old, &mut ctx);
    }
    ctx.finish()
}

/// Validates a raw PRStack document: shape, schema, CEL and the few checks that apply to it.
pub fn validate_prstack_value(doc: &Value) -> Report {
    let mut ctx = Ctx::default();
    if !shape::document(doc, shape::Kind::PRStack, &mut ctx) {
        return ctx.finish();
    }
    let Some(schema) = schema::crd_schema::<PRStack>(&mut ctx) else {
        return ctx.finish();
    };
    let pruned = schema::walk(doc, &schema.json, &mut ctx);
    let typed: Option<PRStack> = schema::typed(&pruned, &mut ctx);
    cel::run(schema, &pruned, None, typed.is_some(), &mut ctx);
    if let Some(p) = typed {
        cross::prstack(&p, &mut ctx);
    }
    pending::prstack(&mut ctx);
    ctx.finish()
}

/// Validates a document of either kind, dispatching on `kind` (a Tenant when it is neither, so
/// the report explains what was expected).
pub fn validate_document(doc: &Value) -> Report {
    match doc.get("kind").and_then(Value::as_str) {
        Some("PRStack") => validate_prstack_value(doc),
        _ => validate_value(doc),
    }
}

fn serialize_failure(e: serde_json::Error) -> Report {
    let mut ctx = Ctx::default();
    ctx.push(
        "document.serialize",
        "",
        CheckStatus::Fail,
        format!("the Tenant does not serialize: {e}"),
    );
    ctx.finish()
}

/// Layers 1-5 for a Tenant document; returns the typed Tenant when layer 2 produced one.
fn tenant_layers(doc: &Value, old: Option<&Value>, ctx: &mut Ctx) -> Option<Tenant> {
    if !shape::document(doc, shape::Kind::Tenant, ctx) {
        return None;
    }
    let schema = schema::crd_schema::<Tenant>(ctx)?;
    let pruned = schema::walk(doc, &schema.json, ctx);
    let typed: Option<Tenant> = schema::typed(&pruned, ctx);
    cel::run(schema, &pruned, old, typed.is_some(), ctx);
    if let Some(t) = &typed {
        cross::tenant(t, ctx);
    }
    // On the pruned document: a field the schema does not know is an error, not a pending field.
    pending::run(&pruned, ctx);
    typed
}

/// Collects checks; `finish` turns them into a Report.
#[derive(Default)]
pub(crate) struct Ctx {
    checks: Vec<Check>,
    /// Fields a CEL rule failed on: Rust checks that mirror a CEL rule stay silent there.
    cel_failed: BTreeSet<String>,
}

impl Ctx {
    /// Whether any check so far failed.
    pub(crate) fn has_failures(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Fail)
    }

    pub(crate) fn push(
        &mut self,
        name: &str,
        field: impl Into<String>,
        status: CheckStatus,
        message: impl Into<String>,
    ) {
        self.checks.push(Check {
            name: name.to_string(),
            field: field.into(),
            status,
            message: message.into(),
        });
    }

    /// Runs one named check. `f` records failures and warnings on the [`Group`]; when it records
    /// none, a single pass is listed for `field` with `pass_message`.
    pub(crate) fn check(
        &mut self,
        name: &'static str,
        field: &str,
        pass_message: impl Into<String>,
        f: impl FnOnce(&mut Group),
    ) {
        let mut g = Group {
            findings: Vec::new(),
            cel_failed: &self.cel_failed,
            covered: Vec::new(),
        };
        f(&mut g);
        let Group {
            findings, covered, ..
        } = g;
        if findings.is_empty() {
            // A problem only the CEL layer reported is listed there, not passed here.
            if covered.is_empty() {
                self.push(name, field, CheckStatus::Pass, pass_message);
            }
        } else {
            for (status, field, message) in findings {
                self.push(name, field, status, message);
            }
        }
    }

    fn finish(self) -> Report {
        let mut seen = BTreeSet::new();
        let errors: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .filter(|e| seen.insert(e.clone()))
            .collect();
        Report {
            valid: errors.is_empty(),
            errors,
            checks: self.checks,
        }
    }
}

/// The findings of one check (see [`Ctx::check`]).
pub(crate) struct Group<'a> {
    findings: Vec<(CheckStatus, String, String)>,
    cel_failed: &'a BTreeSet<String>,
    covered: Vec<String>,
}

impl Group<'_> {
    pub(crate) fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.findings
            .push((CheckStatus::Fail, field.into(), message.into()));
    }

    pub(crate) fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.findings
            .push((CheckStatus::Warn, field.into(), message.into()));
    }

    /// A failure that a CEL rule also catches: reported only when CEL did not already fail on
    /// the same field, so each problem is reported once.
    pub(crate) fn fail_unless_cel(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        if self.cel_failed.contains(&field) {
            self.covered.push(field);
        } else {
            self.fail(field, message);
        }
    }
}
