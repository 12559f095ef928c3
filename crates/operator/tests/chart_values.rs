#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

//! Offline checks of the Helm chart (deploy/chart) against the operator's flags: every flag of
//! `tenant-operator run` is a chart value under `config` (or derived from the release, as
//! values.yaml says), the Deployment template passes each, and values.schema.json types every
//! value. A new flag without a chart value fails here.

use std::collections::BTreeSet;

use clap::CommandFactory;
use serde_json::Value;
use tenant_operator::context::Cli;

/// Flags the chart derives from the release instead of a `config` value, and where from.
const DERIVED: &[(&str, &str)] = &[
    ("metrics_addr", "metrics.port"),
    ("leader_elect", "leaderElection.enabled"),
    ("lease_namespace", "the release namespace"),
    ("operator_namespace", "the release namespace (downward API)"),
    ("operator_user", "the release's service account"),
    ("identity", "the pod name (downward API)"),
];

fn chart_file(rel: &str) -> String {
    let path = format!("{}/../../deploy/chart/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn camel(id: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in id.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// (arg id, long flag) of every option of `tenant-operator run`.
fn run_flags() -> Vec<(String, String)> {
    let cli = Cli::command();
    let run = cli
        .get_subcommands()
        .find(|c| c.get_name() == "run")
        .expect("a run subcommand");
    run.get_arguments()
        .filter_map(|a| Some((a.get_id().to_string(), a.get_long()?.to_string())))
        .filter(|(id, _)| id != "help")
        .collect()
}

#[test]
fn every_operator_flag_is_a_chart_value_passed_by_the_deployment() {
    let values: Value = serde_saphyr::from_str(&chart_file("values.yaml")).expect("values.yaml");
    let config: BTreeSet<String> = values["config"]
        .as_object()
        .expect("values.yaml has config")
        .keys()
        .cloned()
        .collect();
    let deployment = chart_file("templates/deployment.yaml");
    let mut expected = BTreeSet::new();
    for (id, long) in run_flags() {
        if DERIVED.iter().any(|(d, _)| *d == id) {
            continue;
        }
        assert!(
            deployment.contains(&format!("- --{long}")),
            "templates/deployment.yaml does not pass --{long}"
        );
        let key = camel(&id);
        assert!(
            config.contains(&key),
            "--{long} has no value config.{key} in deploy/chart/values.yaml"
        );
        expected.insert(key);
    }
    let stale: Vec<_> = config.difference(&expected).collect();
    assert!(stale.is_empty(), "config values without a flag: {stale:?}");
}

#[test]
fn the_values_schema_types_every_value_and_nothing_else() {
    let values: Value = serde_saphyr::from_str(&chart_file("values.yaml")).expect("values.yaml");
    let schema: Value =
        serde_json::from_str(&chart_file("values.schema.json")).expect("values.schema.json");
    fn walk(values: &Value, schema: &Value, path: &str, missing: &mut Vec<String>) {
        let Some(map) = values.as_object() else {
            return;
        };
        let props = &schema["properties"];
        if props.is_null() {
            return; // a free-form object (resources, affinity, labels)
        }
        for (k, v) in map {
            let p = format!("{path}.{k}");
            if props[k].is_null() {
                missing.push(p);
            } else {
                walk(v, &props[k], &p, missing);
            }
        }
        if let Some(ps) = props.as_object() {
            for k in ps.keys() {
                if !map.contains_key(k) && k != "global" {
                    missing.push(format!("{path}.{k} (in the schema only)"));
                }
            }
        }
    }
    let mut missing = Vec::new();
    walk(&values, &schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "values and values.schema.json differ: {missing:?}"
    );
    assert_eq!(schema["additionalProperties"], Value::Bool(false));
}
