//! Desired-vs-live comparison: is a desired manifest already contained in the live object?
//!
//! A reconcile that has nothing to change must write nothing, so every desired object is first
//! compared with the live one: it is applied only when the desired manifest is not a *subset* of
//! the live object (see [`is_subset`]).

use serde_json::Value;

use crate::Object;
use crate::quantity::Quantity;

/// Whether `desired` is contained in `live`: every key of a desired map is present in the live
/// map with a contained value; lists have the same length and contained elements in order;
/// strings that both parse as Kubernetes quantities compare by value (the API server
/// canonicalises `0.5` to `500m`); numbers compare by value. Extra live keys (defaults, status,
/// metadata the server adds) are tolerated. A desired "empty" value (`null`, `""`, `false`, `0`,
/// `{}`, `[]`, or a map of only empty values) matches an absent live key, because the API server
/// omits empty optional fields.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => is_subset(dv, lv),
            None => is_empty(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (Value::String(a), Value::String(b)) => a == b || quantities_equal(a, b),
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            quantities_equal(&n.to_string(), s)
        }
        (d, l) => d == l || (is_empty(d) && is_empty(l)),
    }
}

/// The path of the first place where `desired` is not contained in `live` (for logs: why an
/// object is re-applied).
pub fn first_difference(desired: &Value, live: &Value) -> Option<String> {
    fn walk(d: &Value, l: Option<&Value>, path: &mut String) -> Option<String> {
        let Some(l) = l else {
            return (!is_empty(d)).then(|| format!("{path} (missing live)"));
        };
        match (d, l) {
            (Value::Object(dm), Value::Object(_)) => {
                for (k, dv) in dm {
                    let len = path.len();
                    path.push('/');
                    path.push_str(k);
                    let found = walk(dv, l.get(k), path);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Value::Array(da), Value::Array(la)) if da.len() == la.len() => {
                for (i, (dv, lv)) in da.iter().zip(la).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    let found = walk(dv, Some(lv), path);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            _ if is_subset(d, l) => None,
            _ => Some(format!("{path}: desired {d} live {l}")),
        }
    }
    walk(desired, Some(live), &mut String::new())
}

/// [`first_difference`] of an object's manifest, fit for a log line: for a Secret only the path
/// is named, never the values.
pub fn describe_difference(desired: &Object, live: &Value) -> Option<String> {
    let d = first_difference(&desired.manifest, live)?;
    if desired.kind == "Secret" {
        let path = d.split(':').next().unwrap_or_default();
        return Some(format!("{path}: {}", crate::object::REDACTED));
    }
    Some(d)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
    }
}

fn quantities_equal(a: &str, b: &str) -> bool {
    match (Quantity::parse(a), Quantity::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Whether `desired` differs from `live` in a field the API server never lets change, so the
/// object must be deleted and created again: a RoleBinding's `roleRef` (it moves between a
/// shared ClusterRole and the tenant's own Role when `rbac.roles` overrides a built-in role), a
/// Deployment's `selector`.
pub fn needs_replace(desired: &Object, live: &Value) -> bool {
    let differs = |pointer: &str| match (desired.manifest.pointer(pointer), live.pointer(pointer)) {
        (Some(d), Some(l)) => !is_subset(d, l),
        _ => false,
    };
    match desired.kind.as_str() {
        "RoleBinding" | "ClusterRoleBinding" => differs("/roleRef"),
        // (it changed once: when the stable and canary tracks came in)
        "Deployment" => {
            differs("/spec/selector")
                || match (
                    desired.manifest.pointer("/spec/selector"),
                    live.pointer("/spec/selector"),
                ) {
                    (Some(d), Some(l)) => !is_subset(l, d),
                    _ => false,
                }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_are_tolerated() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"hard": {"pods": "10"}}});
        let live = json!({
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "5", "labels": {"x": "1", "y": "2"}},
            "spec": {"hard": {"pods": "10"}, "scopes": null},
            "status": {"hard": {"pods": "10"}}
        });
        assert!(is_subset(&desired, &live));
    }

    #[test]
    fn changed_or_missing_values_are_not_a_subset() {
        let live = json!({"metadata": {"labels": {"x": "1"}}});
        assert!(!is_subset(
            &json!({"metadata": {"labels": {"x": "2"}}}),
            &live
        ));
        assert!(!is_subset(
            &json!({"metadata": {"labels": {"z": "1"}}}),
            &live
        ));
        assert!(!is_subset(&json!({"spec": {"a": 1}}), &live));
    }

    #[test]
    fn quantities_compare_by_value() {
        assert!(is_subset(&json!({"cpu": "0.5"}), &json!({"cpu": "500m"})));
        assert!(is_subset(
            &json!({"memory": "1Gi"}),
            &json!({"memory": "1024Mi"})
        ));
        assert!(is_subset(&json!({"cpu": "2"}), &json!({"cpu": "2000m"})));
        assert!(!is_subset(&json!({"cpu": "2"}), &json!({"cpu": "3"})));
        assert!(is_subset(&json!({"port": 53}), &json!({"port": 53})));
        assert!(is_subset(&json!({"n": 1}), &json!({"n": 1.0})));
        // Non-quantity strings compare exactly.
        assert!(!is_subset(&json!({"name": "abc"}), &json!({"name": "abd"})));
    }

    #[test]
    fn lists_compare_elementwise_with_the_same_rule() {
        let live = json!({"rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": null},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}
        ]});
        let same = json!({"rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}
        ]});
        assert!(is_subset(&same, &live));
        let reordered = json!({"rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
        ]});
        assert!(!is_subset(&reordered, &live));
        let shorter =
            json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        assert!(!is_subset(&shorter, &live));
    }

    #[test]
    fn empty_desired_values_match_absent_live_keys() {
        let live = json!({"spec": {"podSelector": {}}});
        assert!(is_subset(
            &json!({"spec": {"podSelector": {}, "ingress": [], "x": "", "f": false, "selector": {"matchLabels": {}}}}),
            &live
        ));
        assert!(!is_subset(&json!({"spec": {"ingress": [{}]}}), &live));
        assert!(!is_subset(&json!({"spec": {"enabled": true}}), &live));
    }

    #[test]
    fn a_changed_role_ref_needs_a_new_binding() {
        let binding = |kind: &str| {
            Object::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "tenant-admins", "namespace": "t"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": "tenant-admin"},
                "subjects": [{"kind": "User", "name": "alice"}]
            }))
        };
        let live = binding("Role").manifest;
        assert!(needs_replace(&binding("ClusterRole"), &live));
        assert!(!needs_replace(&binding("Role"), &live));
        // other kinds and other fields are patched in place
        let mut subjects_changed = binding("Role");
        subjects_changed.manifest["subjects"] = json!([{"kind": "User", "name": "bob"}]);
        assert!(!needs_replace(&subjects_changed, &live));
        let ns = Object::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
        );
        assert!(!needs_replace(&ns, &json!({"metadata": {"name": "n"}})));
    }
}
