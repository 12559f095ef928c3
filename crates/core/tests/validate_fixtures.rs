//! Every fixture under tests/fixtures: each invalid one breaks exactly the rule its file name
//! names (`<check name>[--variant].yaml`) at the field its `# expect:` line names; each valid one
//! (and every example in examples/) passes. A fixture breaks one thing: any other failure must be
//! named by an `# also: <field path>` line.

// Test helpers fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use tenant_core::validate::{CheckStatus, Report, validate_document};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(sub)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of a `# key: value` header line.
fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .map(|v| v.trim().to_string())
}

fn explain(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

#[test]
fn every_invalid_fixture_fails_its_rule_at_its_field() {
    let files = yaml_files(&dir("tests/fixtures/invalid"));
    assert!(
        files.len() >= 60,
        "expected a fixture per rule, found {}",
        files.len()
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let rule = name.split("--").next().unwrap().to_string();
        let expect = header(&text, "expect")
            .unwrap_or_else(|| panic!("{name}: no '# expect: <field path>' line"));
        let reported_by = header(&text, "reported-by").unwrap_or_else(|| rule.clone());
        let docs = documents(&path);
        assert_eq!(docs.len(), 1, "{name}: one document per fixture");
        let r = validate_document(&docs[0]);
        assert!(!r.valid, "{name}: should be invalid\n{}", explain(&r));
        assert!(
            r.errors.iter().any(|e| e.contains(&expect)),
            "{name}: no error mentions {expect:?}\n{}",
            explain(&r)
        );
        assert!(
            r.checks.iter().any(|c| c.status == CheckStatus::Fail
                && c.name == reported_by
                && c.field == expect),
            "{name}: check {reported_by:?} did not fail at {expect:?}\n{}",
            explain(&r)
        );
        // A fixture breaks one thing: other failures only where its `# also:` line says.
        let also = header(&text, "also").unwrap_or_default();
        for c in r.failures() {
            assert!(
                c.field == expect || also.split_whitespace().next() == Some(c.field.as_str()),
                "{name}: breaks more than {expect:?}: {} failed at {:?}\n{}",
                c.name,
                c.field,
                explain(&r)
            );
        }
    }
}

#[test]
fn every_valid_fixture_and_example_passes() {
    let mut files = yaml_files(&dir("tests/fixtures/valid"));
    files.extend(yaml_files(&dir("../../examples")));
    assert!(files.iter().any(|p| p.ends_with("customer-shop-1.yaml")));
    for path in files {
        for doc in documents(&path) {
            let r = validate_document(&doc);
            assert!(
                r.valid,
                "{}: should be valid\n{}",
                path.display(),
                explain(&r)
            );
            assert!(r.errors.is_empty());
        }
    }
}

#[test]
fn the_warnings_fixture_warns_about_each_thing_it_says() {
    let docs = documents(&dir("tests/fixtures/valid/warnings-only.yaml"));
    let r = validate_document(&docs[0]);
    assert!(r.valid, "{}", explain(&r));
    let warned: Vec<(&str, &str)> = r
        .warnings()
        .map(|c| (c.name.as_str(), c.field.as_str()))
        .collect();
    for want in [
        ("data.plaintextPasswords", "spec.redisPassword"),
        ("data.credentialsWithoutUrl", "spec.mongoUsername"),
        ("rbac.crossTenant", "spec.rbac.allowedTenants"),
        ("network.egressRules", "spec.networkPolicy.allowToDns"),
        ("backup.enabled", "spec.backupConfig.enabled"),
        (
            "services.ingressPaths",
            "spec.serviceSettings.api.ingressPath",
        ),
    ] {
        assert!(
            warned.contains(&want),
            "missing warning {want:?} in {warned:?}"
        );
    }
}
