//! Layer 3: the CRD's CEL rules (`x-kubernetes-validations`), evaluated offline by kube-cel the
//! way the apiserver evaluates them (schema defaults applied first; transition rules only when an
//! old object is given).

use super::schema::CrdSchema;
use super::{CheckStatus, Ctx};
use kube::core::cel::{ErrorKind, Validator};
use serde_json::Value;

/// How many CEL rules a schema carries (for the pass message).
fn count_rules(schema: &Value) -> (usize, usize) {
    let mut create = 0;
    let mut transition = 0;
    let mut stack = vec![schema];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "x-kubernetes-validations" {
                        for rule in v.as_array().into_iter().flatten() {
                            let text = rule.get("rule").and_then(Value::as_str).unwrap_or_default();
                            if text.contains("oldSelf") {
                                transition += 1;
                            } else {
                                create += 1;
                            }
                        }
                    } else {
                        stack.push(v);
                    }
                }
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    (create, transition)
}

/// Evaluates the rules. When the document did not deserialize (`typed_ok` false), only plain
/// rule failures are reported: evaluation errors there are echoes of the type errors already
/// reported by the schema layer.
pub(crate) fn run(
    schema: &CrdSchema,
    doc: &Value,
    old: Option<&Value>,
    typed_ok: bool,
    ctx: &mut Ctx,
) {
    let (create, transition) = count_rules(&schema.json);
    let errors = match Validator::new().validate_compiled(&schema.cel, doc, old) {
        Ok(()) => Vec::new(),
        Err(e) => e.into_vec(),
    };
    let mut failed_create = false;
    let mut failed_transition = false;
    for e in errors {
        let is_failure = e.kind == ErrorKind::ValidationFailure;
        if !typed_ok && !is_failure {
            continue;
        }
        let transition_rule = e.rule.contains("oldSelf");
        let name = if transition_rule {
            failed_transition = true;
            "cel.transitionRules"
        } else {
            failed_create = true;
            "cel.rules"
        };
        let message = if is_failure {
            e.message.clone()
        } else {
            // A rule kube-cel could not evaluate: fail closed, as the apiserver would reject it too.
            format!(
                "CEL rule {:?} could not be evaluated ({:?}): {}",
                e.rule, e.kind, e.message
            )
        };
        ctx.cel_failed.insert(e.field_path.clone());
        ctx.push(name, e.field_path, CheckStatus::Fail, message);
    }
    if !failed_create {
        ctx.push(
            "cel.rules",
            "",
            CheckStatus::Pass,
            format!("all {create} CEL rules of the CRD hold"),
        );
    }
    if old.is_some() && !failed_transition {
        ctx.push(
            "cel.transitionRules",
            "",
            CheckStatus::Pass,
            format!("all {transition} CEL transition rules (immutability) hold"),
        );
    }
}
