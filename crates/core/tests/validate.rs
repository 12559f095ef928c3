//! validateTenant: one test per rule (each asserts the exact field path it reports), plus the
//! public API's contract (report shape, layering, typed and update paths, PRStacks).

// Test helpers fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use tenant_api::Tenant;
use tenant_core::validate::{
    CheckStatus, Report, validate_document, validate_prstack_value, validate_tenant,
    validate_update, validate_value,
};

const BASE: &str = "
apiVersion: shop.pilab.hu/v1alpha1
kind: Tenant
metadata:
  name: shop
  namespace: default
spec:
  tenantId: shop
  tenantType: staging
";

fn yaml(s: &str) -> Value {
    serde_saphyr::from_str(s).unwrap_or_else(|e| panic!("{e}\n{s}"))
}

/// RFC 7386 merge patch: objects merge, null deletes, everything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The base tenant with `patch` (YAML) merged in.
fn doc(patch: &str) -> Value {
    let mut d = yaml(BASE);
    if !patch.trim().is_empty() {
        merge(&mut d, &yaml(patch));
    }
    d
}

fn explain(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default()
}

fn assert_fails(r: &Report, name: &str, field: &str) {
    assert!(!r.valid, "should be invalid\n{}", explain(r));
    assert!(
        r.checks
            .iter()
            .any(|c| c.status == CheckStatus::Fail && c.name == name && c.field == field),
        "{name} did not fail at {field}\n{}",
        explain(r)
    );
    assert!(
        r.errors
            .iter()
            .any(|e| e.starts_with(&format!("{field}: "))),
        "no error names {field}\n{}",
        explain(r)
    );
}

fn assert_warns(r: &Report, name: &str, field: &str) {
    assert!(
        r.checks
            .iter()
            .any(|c| c.status == CheckStatus::Warn && c.name == name && c.field == field),
        "{name} did not warn at {field}\n{}",
        explain(r)
    );
    assert!(
        r.valid,
        "warnings alone must not invalidate\n{}",
        explain(r)
    );
}

macro_rules! fails {
    ($test:ident, $name:literal, $field:literal, $patch:literal) => {
        #[test]
        fn $test() {
            assert_fails(&validate_value(&doc($patch)), $name, $field);
        }
    };
}

macro_rules! warns {
    ($test:ident, $name:literal, $field:literal, $patch:literal) => {
        #[test]
        fn $test() {
            assert_warns(&validate_value(&doc($patch)), $name, $field);
        }
    };
}

// ----- layer 1: document shape -----

fails!(
    api_version_not_served,
    "document.apiVersion",
    "apiVersion",
    "apiVersion: shop.pilab.hu/v1"
);
fails!(
    api_version_other_group,
    "document.apiVersion",
    "apiVersion",
    "apiVersion: apps/v1"
);
fails!(kind_other, "document.kind", "kind", "kind: ConfigMap");
fails!(
    metadata_name_missing,
    "metadata.name",
    "metadata.name",
    "metadata: {name: null}"
);
fails!(
    metadata_name_not_subdomain,
    "metadata.name",
    "metadata.name",
    "metadata: {name: Shop_1}"
);
fails!(
    metadata_namespace_not_label,
    "metadata.namespace",
    "metadata.namespace",
    "metadata: {namespace: my.ns}"
);
fails!(
    metadata_unknown_field,
    "metadata.knownFields",
    "metadata.lables",
    "metadata: {lables: {a: b}}"
);
fails!(
    metadata_label_value,
    "metadata.labels",
    "metadata.labels[team]",
    "metadata: {labels: {team: 'a b'}}"
);
fails!(
    metadata_annotation_key,
    "metadata.annotations",
    "metadata.annotations[a/b/c]",
    "metadata: {annotations: {a/b/c: x}}"
);

#[test]
fn a_document_that_is_not_a_mapping() {
    let r = validate_value(&json!(["not", "an", "object"]));
    assert!(!r.valid);
    assert_eq!(r.checks.len(), 1);
    assert_eq!(r.checks[0].name, "document.shape");
}

#[test]
fn a_prstack_given_as_a_tenant_is_named_as_such() {
    let r = validate_value(&yaml(
        "apiVersion: shop.pilab.hu/v1alpha1\nkind: PRStack\nmetadata: {name: pr-1}\nspec: {prNumber: 1}\n",
    ));
    assert!(!r.valid);
    assert_eq!(r.errors.len(), 1, "{}", explain(&r));
    assert!(
        r.errors[0].starts_with("kind: this is a PRStack, not a Tenant"),
        "{}",
        r.errors[0]
    );
    // and no later layer ran on it
    assert!(!r.checks.iter().any(|c| c.name.starts_with("schema.")));
}

// ----- layer 2: schema -----

fails!(
    unknown_spec_field,
    "schema.knownFields",
    "spec.quota.cpuQuotaa",
    "spec: {quota: {cpuQuotaa: '1'}}"
);
fails!(
    unknown_field_in_map_value,
    "schema.knownFields",
    "spec.serviceSettings.api.replica",
    "spec: {services: [api], serviceSettings: {api: {replica: 2}}}"
);
fails!(
    unknown_top_level_field,
    "schema.knownFields",
    "specs",
    "specs: {}"
);
fails!(
    required_field,
    "schema.required",
    "spec.tenantType",
    "spec: {tenantType: null}"
);
fails!(
    required_nested_field,
    "schema.required",
    "spec.mongoPasswordSecretRef.key",
    "spec: {mongoURI: 'mongodb://db', mongoPasswordSecretRef: {name: s}}"
);
fails!(required_spec, "schema.required", "spec", "spec: null");
fails!(
    max_length,
    "schema.bounds",
    "spec.tenantId",
    "spec: {tenantId: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}"
);
fails!(
    max_items,
    "schema.bounds",
    "spec.quota.scopes",
    "spec: {quota: {scopes: [BestEffort, BestEffort, BestEffort, BestEffort, BestEffort, BestEffort, BestEffort]}}"
);
fails!(
    enum_value,
    "schema.types",
    "spec.isolation.isolationLevel",
    "spec: {isolation: {isolationLevel: paranoid}}"
);
fails!(
    wrong_type,
    "schema.types",
    "spec.quota.podQuota",
    "spec: {quota: {podQuota: lots}}"
);
fails!(
    bad_timestamp,
    "schema.types",
    "spec.deployedAt",
    "spec: {deployedAt: yesterday}"
);

#[test]
fn enum_errors_read_like_the_brief() {
    let r = validate_value(&doc("spec: {isolation: {isolationLevel: paranoid}}"));
    assert!(r.errors.contains(
        &"spec.isolation.isolationLevel: unknown variant \"paranoid\", expected one of strict, standard, permissive".to_string()
    ), "{}", explain(&r));
}

#[test]
fn maps_accept_any_key_and_nulls_are_pruned() {
    let r = validate_value(&doc(
        "spec: {active: null, services: [api], serviceSettings: {api: {env: {ANY_NAME: x}}}, tenantConfig: {labels: {team: a}}}",
    ));
    assert!(r.valid, "{}", explain(&r));
}

#[test]
fn a_type_error_stops_before_the_cross_field_layer() {
    let r = validate_value(&doc(
        "spec: {quota: {podQuota: lots, cpuQuota: '8'}, resourceLimits: {cpuLimit: '2'}}",
    ));
    assert!(!r.valid);
    assert!(
        !r.checks.iter().any(|c| c.name.starts_with("quota.")),
        "{}",
        explain(&r)
    );
    assert!(r.warnings().any(|c| c.name == "schema.types"));
}

// ----- layer 3: CEL -----

fails!(
    cel_tenant_id,
    "cel.rules",
    "spec.tenantId",
    "spec: {tenantId: Shop}"
);
fails!(
    cel_tls_needs_domain,
    "cel.rules",
    "spec.ingressTlsSecretName",
    "spec: {ingressTlsSecretName: tls}"
);
fails!(
    cel_quantity,
    "cel.rules",
    "spec.resourceLimits.cpuLimit",
    "spec: {resourceLimits: {cpuLimit: two}}"
);
fails!(
    cel_cidr,
    "cel.rules",
    "spec.networkPolicy.allowedExternalCIDRs",
    "spec: {networkPolicy: {allowedExternalCIDRs: [10.0.0.300/8]}}"
);
fails!(
    cel_priority_class_reserved,
    "cel.rules",
    "spec.isolation.allowedPriorityClasses",
    "spec: {isolation: {allowedPriorityClasses: [system-cluster-critical]}}"
);
fails!(
    cel_priority_class_name,
    "cel.rules",
    "spec.isolation.allowedPriorityClasses",
    "spec: {isolation: {allowedPriorityClasses: ['tenant..high']}}"
);
fails!(
    cel_unique_services,
    "cel.rules",
    "spec.services",
    "spec: {services: [api, api]}"
);

#[test]
fn cel_runs_on_the_raw_document_even_when_it_does_not_deserialize() {
    let r = validate_value(&doc("spec: {tenantId: Shop, quota: {podQuota: lots}}"));
    assert!(
        r.failures()
            .any(|c| c.name == "cel.rules" && c.field == "spec.tenantId"),
        "{}",
        explain(&r)
    );
}

#[test]
fn a_problem_cel_and_rust_both_see_is_reported_once() {
    let r = validate_value(&doc("spec: {billing: {budgetEnforcement: true}}"));
    let about: Vec<&String> = r
        .errors
        .iter()
        .filter(|e| e.starts_with("spec.billing.monthlyBudget"))
        .collect();
    assert_eq!(about.len(), 1, "{}", explain(&r));
    assert!(
        !r.checks
            .iter()
            .any(|c| c.name == "billing.budget" && c.status == CheckStatus::Pass)
    );
}

// ----- layer 4: quota and limits -----

fails!(
    quantity_negative,
    "quantities.valid",
    "spec.limits.burstCpu",
    "spec: {limits: {burstCpu: '-1'}}"
);
warns!(
    quantity_milli_bytes,
    "quantities.valid",
    "spec.quota.memoryQuota",
    "spec: {quota: {memoryQuota: 512m}}"
);
warns!(
    quantity_binary_cpu,
    "quantities.valid",
    "spec.limits.podCpuLimit",
    "spec: {limits: {podCpuLimit: 2Gi}}"
);
fails!(
    resource_limits_cpu,
    "quota.resourceLimitsAgree",
    "spec.quota.cpuLimit",
    "spec: {resourceLimits: {cpuLimit: '2'}, quota: {cpuLimit: 2500m}}"
);
fails!(
    resource_limits_memory,
    "quota.resourceLimitsAgree",
    "spec.quota.memoryLimit",
    "spec: {resourceLimits: {memoryLimit: 4Gi}, quota: {memoryLimit: 4G}}"
);
fails!(
    resource_limits_storage,
    "quota.resourceLimitsAgree",
    "spec.quota.storageQuota",
    "spec: {resourceLimits: {storageLimit: 20Gi}, quota: {storageQuota: 30Gi}}"
);
fails!(
    pv_pvc_disagree,
    "quota.pvQuotaAgree",
    "spec.quota.pvQuota",
    "spec: {quota: {pvQuota: 3, pvcQuota: 4}}"
);
fails!(
    requests_above_limits_cpu,
    "quota.requestsWithinLimits",
    "spec.quota.cpuQuota",
    "spec: {quota: {cpuQuota: '4', cpuLimit: '2'}}"
);
fails!(
    requests_above_limits_memory,
    "quota.requestsWithinLimits",
    "spec.quota.memoryQuota",
    "spec: {resourceLimits: {memoryLimit: 1Gi}, quota: {memoryQuota: 2Gi}}"
);
fails!(
    scopes_conflict,
    "quota.scopes",
    "spec.quota.scopes",
    "spec: {quota: {podQuota: 5, scopes: [Terminating, NotTerminating]}}"
);
fails!(
    container_limit_above_quota,
    "limits.withinQuota",
    "spec.limits.containerCpuLimit",
    "spec: {resourceLimits: {cpuLimit: '2'}, limits: {containerCpuLimit: '3'}}"
);
fails!(
    pod_limit_above_quota,
    "limits.withinQuota",
    "spec.limits.podMemoryLimit",
    "spec: {quota: {memoryLimit: 2Gi}, limits: {podMemoryLimit: 4Gi}}"
);
fails!(
    burst_above_quota,
    "limits.withinQuota",
    "spec.limits.burstCpu",
    "spec: {quota: {cpuLimit: '1'}, limits: {burstCpu: '2'}}"
);
fails!(
    request_above_request_quota,
    "limits.withinQuota",
    "spec.limits.podCpuRequest",
    "spec: {quota: {cpuQuota: 500m}, limits: {podCpuRequest: '1'}}"
);
fails!(
    ephemeral_above_quota,
    "limits.withinQuota",
    "spec.limits.ephemeralStorageLimit",
    "spec: {quota: {ephemeralStorageQuota: 1Gi}, limits: {ephemeralStorageLimit: 2Gi}}"
);
fails!(
    container_above_pod,
    "limits.containerWithinPod",
    "spec.limits.containerCpuLimit",
    "spec: {limits: {containerCpuLimit: '4', podCpuLimit: '2'}}"
);
fails!(
    default_request_above_max,
    "limits.defaultsWithinMax",
    "spec.limits.podMemoryRequest",
    "spec: {limits: {podMemoryRequest: 2Gi, containerMemoryLimit: 1Gi}}"
);
fails!(
    default_limit_above_max,
    "limits.defaultsWithinMax",
    "spec.limits.burstCpu",
    "spec: {limits: {burstCpu: '2', containerCpuLimit: '1'}}"
);
fails!(
    default_limit_below_request,
    "limits.defaultLimitAboveRequest",
    "spec.limits.burstCpu",
    "spec: {limits: {burstCpu: 100m, podCpuRequest: 200m}}"
);
fails!(
    guaranteed_with_bursting,
    "limits.qosClass",
    "spec.limits.allowBursting",
    "spec: {limits: {qosClass: Guaranteed, allowBursting: true}}"
);
fails!(
    guaranteed_limit_not_request,
    "limits.qosClass",
    "spec.limits.burstMemory",
    "spec: {limits: {qosClass: Guaranteed, podMemoryRequest: 1Gi, burstMemory: 2Gi}}"
);
warns!(
    best_effort_with_defaults,
    "limits.qosClass",
    "spec.limits.podCpuRequest",
    "spec: {limits: {qosClass: BestEffort, podCpuRequest: 100m}}"
);
warns!(
    best_effort_with_quota,
    "limits.qosClass",
    "spec.limits.qosClass",
    "spec: {limits: {qosClass: BestEffort}, quota: {cpuQuota: '2'}}"
);
fails!(
    no_bursting_but_burst,
    "limits.bursting",
    "spec.limits.burstCpu",
    "spec: {limits: {allowBursting: false, podCpuRequest: 100m, burstCpu: 200m}}"
);
fails!(
    min_replicas_above_pods,
    "limits.minReplicasFitQuota",
    "spec.limits.minReplicas",
    "spec: {limits: {minReplicas: 4}, quota: {podQuota: 3}}"
);
fails!(
    service_below_min_replicas,
    "services.replicasAtLeastMin",
    "spec.serviceSettings.worker.replicas",
    "spec: {services: [worker], limits: {minReplicas: 2}, serviceSettings: {worker: {replicas: 0}}}"
);
fails!(
    own_services_pods,
    "quota.fitsOwnServices",
    "spec.quota.podQuota",
    "spec: {services: [api, frontend], serviceSettings: {api: {replicas: 3}}, quota: {podQuota: 3}}"
);
warns!(
    own_services_no_rollout_room,
    "quota.fitsOwnServices",
    "spec.quota.podQuota",
    "spec: {services: [api, frontend], quota: {podQuota: 2}}"
);
fails!(
    own_services_services,
    "quota.fitsOwnServices",
    "spec.quota.serviceQuota",
    "spec: {services: [api, frontend], quota: {serviceQuota: 1}}"
);
fails!(
    own_services_ingress,
    "quota.fitsOwnServices",
    "spec.quota.ingressQuota",
    "spec: {customDomain: shop.example.com, services: [frontend], quota: {ingressQuota: 0}}"
);
fails!(
    own_services_memory,
    "quota.fitsOwnServices",
    "spec.quota.memoryLimit",
    "spec: {services: [api], serviceSettings: {api: {replicas: 2, memoryLimit: 1Gi}}, quota: {memoryLimit: 1Gi}}"
);
fails!(
    service_request_above_limit,
    "services.resources",
    "spec.serviceSettings.api.memoryRequest",
    "spec: {services: [api], serviceSettings: {api: {memoryRequest: 2Gi, memoryLimit: 1Gi}}}"
);
fails!(
    service_request_above_default_limit,
    "services.resources",
    "spec.serviceSettings.api.cpuRequest",
    "spec: {services: [api], limits: {burstCpu: 500m}, serviceSettings: {api: {cpuRequest: '1'}}}"
);
fails!(
    service_limit_above_container_max,
    "services.resources",
    "spec.serviceSettings.api.cpuLimit",
    "spec: {services: [api], limits: {containerCpuLimit: '1'}, serviceSettings: {api: {cpuLimit: '2'}}}"
);

#[test]
fn scoped_quotas_that_do_not_count_deployment_pods_are_not_held_against_them() {
    let scoped = validate_value(&doc(
        "spec: {services: [api, web], limits: {minReplicas: 3}, quota: {podQuota: 2, scopes: [Terminating]}}",
    ));
    assert!(scoped.valid, "{}", explain(&scoped));
    let counted = validate_value(&doc(
        "spec: {services: [api, web], limits: {minReplicas: 3}, quota: {podQuota: 2, scopes: [NotTerminating]}}",
    ));
    assert_fails(
        &counted,
        "limits.minReplicasFitQuota",
        "spec.limits.minReplicas",
    );
    assert_fails(&counted, "quota.fitsOwnServices", "spec.quota.podQuota");
}

#[test]
fn contradiction_errors_read_like_the_brief() {
    let r = validate_value(&doc(
        "spec: {resourceLimits: {cpuLimit: '2'}, quota: {cpuLimit: '3'}}",
    ));
    assert_eq!(
        r.errors,
        vec!["spec.quota.cpuLimit: must equal spec.resourceLimits.cpuLimit (\"2\") when both are set (both set the ResourceQuota's limits.cpu)".to_string()]
    );
}

#[test]
fn equal_quantities_in_other_units_agree() {
    let r = validate_value(&doc(
        "spec: {resourceLimits: {cpuLimit: '2', memoryLimit: 1Gi}, quota: {cpuLimit: 2000m, memoryLimit: 1024Mi}}",
    ));
    assert!(r.valid, "{}", explain(&r));
}

// ----- services and the namespace -----

fails!(
    namespace_too_long,
    "namespace.name",
    "spec.namespaceConfig",
    "spec: {tenantId: abcdefghijabcdefghijabcdefghijabcdefghij, environment: abcdefghijabcdefghij}"
);
fails!(
    namespace_explicit_name,
    "namespace.name",
    "spec.namespaceConfig.name",
    "spec: {namespaceConfig: {name: '-x'}}"
);
fails!(
    service_name_digit,
    "services.names",
    "spec.services[1]",
    "spec: {services: [api, 2fa]}"
);
fails!(
    settings_for_unknown_service,
    "services.settingsKnown",
    "spec.serviceSettings.admin",
    "spec: {services: [api], serviceSettings: {admin: {port: 80}}}"
);
fails!(
    duplicate_ingress_path,
    "services.ingressPaths",
    "spec.serviceSettings.shop.ingressPath",
    "spec: {customDomain: shop.example.com, services: [frontend, shop], serviceSettings: {shop: {ingressPath: /}}}"
);
warns!(
    ingress_path_without_domain,
    "services.ingressPaths",
    "spec.serviceSettings.worker.ingressPath",
    "spec: {services: [worker], serviceSettings: {worker: {ingressPath: /jobs}}}"
);
warns!(
    domain_without_routes,
    "services.ingressPaths",
    "spec.customDomain",
    "spec: {customDomain: shop.example.com, services: [worker]}"
);
fails!(
    env_name_invalid,
    "services.env",
    "spec.serviceSettings.api.env[A=B]",
    "spec: {services: [api], serviceSettings: {api: {env: {A=B: x}}}}"
);
warns!(
    env_name_operator_owned,
    "services.env",
    "spec.serviceSettings.api.env[LOG_LEVEL]",
    "spec: {services: [api], serviceSettings: {api: {env: {LOG_LEVEL: debug}}}}"
);
fails!(
    service_image_invalid,
    "services.images",
    "spec.serviceSettings.api.image",
    "spec: {services: [api], serviceSettings: {api: {image: 'ghcr.io/org/api:'}}}"
);

#[test]
fn the_namespace_error_names_the_parts_and_the_length() {
    let r = validate_value(&doc(
        "spec: {namespaceConfig: {prefix: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, suffix: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}}",
    ));
    let e = r
        .errors
        .iter()
        .find(|e| e.starts_with("spec.namespaceConfig: "))
        .unwrap_or_else(|| panic!("{}", explain(&r)));
    for part in [
        "is 81 characters",
        "at most 63",
        "prefix \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        "pattern \"tenant-{tenantId}-{environment}\"",
        "suffix \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"",
    ] {
        assert!(e.contains(part), "{part:?} missing from {e}");
    }
}

// ----- isolation -----

fails!(
    registry_allowed_and_blocked,
    "isolation.registries",
    "spec.isolation.allowedRegistries[1]",
    "spec: {isolation: {allowedRegistries: [ghcr.io, quay.io], blockedRegistries: [quay.io]}}"
);
fails!(
    registry_malformed,
    "isolation.registries",
    "spec.isolation.allowedRegistries[0]",
    "spec: {isolation: {allowedRegistries: ['ghcr.io/*']}}"
);
warns!(
    registry_shadowed,
    "isolation.registries",
    "spec.isolation.allowedRegistries[0]",
    "spec: {isolation: {allowedRegistries: [docker.io/acme], blockedRegistries: [docker.io]}}"
);
fails!(
    own_images_not_allowed,
    "isolation.ownImagesAllowed",
    "spec.imageRepository",
    "spec: {services: [api], imageRepository: quay.io/acme, isolation: {allowedRegistries: [ghcr.io]}}"
);
fails!(
    own_images_blocked,
    "isolation.ownImagesAllowed",
    "spec.services",
    "spec: {services: [api], isolation: {blockedRegistries: [ghcr.io/pilab-hu]}}"
);
fails!(
    own_image_blocked_as_the_policy_qualifies_it,
    "isolation.ownImagesAllowed",
    "spec.serviceSettings.web.image",
    "spec: {services: [web], serviceSettings: {web: {image: 'nginx:1.27'}}, isolation: {blockedRegistries: [index.docker.io/library]}}"
);
warns!(
    strict_without_registries,
    "isolation.strictRegistries",
    "spec.isolation.allowedRegistries",
    "spec: {isolation: {isolationLevel: strict, allowedStorageClasses: [ssd]}}"
);
fails!(
    dedicated_label_invalid,
    "isolation.dedicatedNodeLabel",
    "spec.isolation.dedicatedNodeLabel",
    "spec: {isolation: {dedicatedNodes: true, dedicatedNodeLabel: 'node role'}}"
);
warns!(
    dedicated_label_unused,
    "isolation.dedicatedNodeLabel",
    "spec.isolation.dedicatedNodeLabel",
    "spec: {isolation: {dedicatedNodeLabel: example.com/pool}}"
);
fails!(
    pinning_fractional_burst,
    "isolation.cpuPinning",
    "spec.limits.burstCpu",
    "spec: {isolation: {cpuPinning: true}, limits: {burstCpu: 1500m}}"
);
fails!(
    pinning_service_cpu,
    "isolation.cpuPinning",
    "spec.serviceSettings.api.cpuRequest",
    "spec: {services: [api], isolation: {cpuPinning: true}, serviceSettings: {api: {cpuRequest: 250m}}}"
);
warns!(
    pinning_with_bursting,
    "isolation.cpuPinning",
    "spec.limits.allowBursting",
    "spec: {isolation: {cpuPinning: true}, limits: {allowBursting: true}}"
);
fails!(
    storage_class_invalid,
    "isolation.storageClasses",
    "spec.isolation.allowedStorageClasses[0]",
    "spec: {isolation: {storageIsolation: true, allowedStorageClasses: [Fast]}}"
);
warns!(
    storage_isolation_without_classes,
    "isolation.storageClasses",
    "spec.isolation.allowedStorageClasses",
    "spec: {isolation: {storageIsolation: true}}"
);
warns!(
    storage_classes_without_isolation,
    "isolation.storageClasses",
    "spec.isolation.allowedStorageClasses",
    "spec: {isolation: {allowedStorageClasses: [ssd]}}"
);
fails!(
    priority_class_reserved,
    "isolation.priorityClasses",
    "spec.isolation.allowedPriorityClasses[1]",
    "spec: {isolation: {allowedPriorityClasses: [tenant-high, system-node-critical]}}"
);
fails!(
    priority_class_invalid,
    "isolation.priorityClasses",
    "spec.isolation.allowedPriorityClasses[0]",
    "spec: {isolation: {allowedPriorityClasses: [High_Priority]}}"
);
warns!(
    weaker_pod_security,
    "isolation.weakerThanPreset",
    "spec.isolation.podSecurityPolicy",
    "spec: {isolation: {podSecurityPolicy: privileged}}"
);
warns!(
    weaker_host_path,
    "isolation.weakerThanPreset",
    "spec.isolation.allowHostPath",
    "spec: {isolation: {allowHostPath: true}}"
);
warns!(
    audit_level_unused,
    "isolation.auditLevel",
    "spec.isolation.auditLevel",
    "spec: {isolation: {apiAudit: false, auditLevel: Request}}"
);
warns!(
    node_ports_budgeted_but_forbidden,
    "isolation.serviceTypeQuota",
    "spec.quota.nodePortQuota",
    "spec: {quota: {nodePortQuota: 2}}"
);
warns!(
    load_balancers_allowed_but_no_quota,
    "isolation.serviceTypeQuota",
    "spec.quota.loadBalancerQuota",
    "spec: {isolation: {allowLoadBalancers: true}, quota: {loadBalancerQuota: 0}}"
);

// ----- network -----

fails!(
    port_allowed_and_blocked,
    "network.ports",
    "spec.networkPolicy.blockedPorts[1]",
    "spec: {networkPolicy: {allowedPorts: [80, 443], blockedPorts: [22, 80]}}"
);
warns!(
    egress_rules_without_egress,
    "network.egressRules",
    "spec.networkPolicy.allowToNamespaces",
    "spec: {networkPolicy: {egressEnabled: false, allowToNamespaces: [db]}}"
);
warns!(
    external_cidrs_without_external,
    "network.externalCidrs",
    "spec.networkPolicy.allowedExternalCIDRs",
    "spec: {networkPolicy: {allowToExternal: false, allowedExternalCIDRs: [192.0.2.0/24]}}"
);
warns!(
    network_policy_without_isolation,
    "network.isolationOff",
    "spec.networkPolicy",
    "spec: {isolation: {isolationLevel: permissive}, networkPolicy: {allowToDns: true}}"
);
fails!(
    pod_selector_invalid,
    "network.podSelectors",
    "spec.networkPolicy.allowFromPods[0]",
    "spec: {networkPolicy: {allowFromPods: [{app: 'a b'}]}}"
);
fails!(
    pod_selector_empty,
    "network.podSelectors",
    "spec.networkPolicy.allowFromPods[0]",
    "spec: {networkPolicy: {allowFromPods: [{}]}}"
);
warns!(
    pod_selector_redundant_with_same_tenant,
    "network.podSelectors",
    "spec.networkPolicy.allowFromPods",
    "spec: {networkPolicy: {allowFromPods: [{app.kubernetes.io/name: prometheus}]}}"
);

#[test]
fn pod_selector_without_same_tenant_is_quiet() {
    let r = validate_value(&doc(
        "spec: {networkPolicy: {allowFromSameTenant: false, allowFromPods: [{app: backup}]}}",
    ));
    assert!(r.valid, "{}", explain(&r));
    assert!(
        !r.warnings().any(|c| c.name == "network.podSelectors"),
        "{}",
        explain(&r)
    );
}

fails!(
    pods_in_namespaces_label_invalid,
    "network.podsInNamespaces",
    "spec.networkPolicy.allowFromPodsInNamespaces[0].podLabels",
    "spec: {networkPolicy: {allowFromPodsInNamespaces: [{namespaces: [monitoring], podLabels: {app: 'a b'}}]}}"
);
fails!(
    cel_pods_in_namespaces_no_labels,
    "cel.rules",
    "spec.networkPolicy.allowFromPodsInNamespaces[0].podLabels",
    "spec: {networkPolicy: {allowFromPodsInNamespaces: [{namespaces: [monitoring], podLabels: {}}]}}"
);
fails!(
    cel_pods_in_namespaces_namespace_name,
    "cel.rules",
    "spec.networkPolicy.allowFromPodsInNamespaces[0].namespaces",
    "spec: {networkPolicy: {allowFromPodsInNamespaces: [{namespaces: [Monitoring], podLabels: {app: x}}]}}"
);

#[test]
fn pods_in_namespaces_need_both_parts() {
    for patch in [
        "spec: {networkPolicy: {allowFromPodsInNamespaces: [{namespaces: [], podLabels: {app: x}}]}}",
        "spec: {networkPolicy: {allowFromPodsInNamespaces: [{podLabels: {app: x}}]}}",
        "spec: {networkPolicy: {allowFromPodsInNamespaces: [{namespaces: [monitoring]}]}}",
    ] {
        let r = validate_value(&doc(patch));
        assert!(!r.valid, "{patch}\n{}", explain(&r));
    }
    let r = validate_value(&doc(
        "spec: {networkPolicy: {allowFromPodsInNamespaces: [{namespaces: [monitoring], podLabels: {app.kubernetes.io/name: prometheus}}]}}",
    ));
    assert!(r.valid, "{}", explain(&r));
    assert!(
        r.warnings().all(|w| w.name == "quota.presetCompute"),
        "{}",
        explain(&r)
    );
}

fails!(
    cel_dns_cidr,
    "cel.rules",
    "spec.networkPolicy.allowedDnsCIDRs",
    "spec: {networkPolicy: {allowedDnsCIDRs: [kube-dns]}}"
);
warns!(
    dns_cidrs_with_open_dns,
    "network.dnsCidrs",
    "spec.networkPolicy.allowedDnsCIDRs",
    "spec: {isolation: {dnsIsolation: false}, networkPolicy: {allowedDnsCIDRs: [169.254.20.10/32]}}"
);
warns!(
    dns_cidrs_without_dns,
    "network.dnsCidrs",
    "spec.networkPolicy.allowedDnsCIDRs",
    "spec: {networkPolicy: {allowToDns: false, allowedDnsCIDRs: [169.254.20.10/32]}}"
);
warns!(
    dns_open_weakens_every_preset,
    "isolation.weakerThanPreset",
    "spec.isolation.dnsIsolation",
    "spec: {isolation: {dnsIsolation: false}}"
);
fails!(
    ingress_controller_namespace_invalid,
    "network.ingressControllerNamespaces",
    "spec.networkPolicy.ingressControllerNamespaces[0]",
    "spec: {networkPolicy: {ingressControllerNamespaces: [Ingress]}}"
);
warns!(
    ingress_off_with_domain,
    "network.ingressControllerNamespaces",
    "spec.networkPolicy.ingressEnabled",
    "spec: {customDomain: shop.example.com, networkPolicy: {ingressEnabled: false}}"
);

// ----- rbac -----

fails!(
    role_wildcard_resource,
    "rbac.customRoles",
    "spec.rbac.roles.ci.resources",
    "spec: {rbac: {roles: {ci: {verbs: [get], resources: ['*']}}}}"
);
fails!(
    role_writes_network_policies,
    "rbac.customRoles",
    "spec.rbac.roles.net.resources",
    "spec: {rbac: {roles: {net: {verbs: [patch], resources: [networking.k8s.io/networkpolicies]}}}}"
);
fails!(
    role_writes_tenant_policies,
    "rbac.customRoles",
    "spec.rbac.roles.ops.resources",
    "spec: {rbac: {roles: {ops: {verbs: [create], resources: [tenantpolicies]}}}}"
);
fails!(
    role_writes_limit_range_status,
    "rbac.customRoles",
    "spec.rbac.roles.ops.resources",
    "spec: {rbac: {roles: {ops: {verbs: [update], resources: [limitranges/status]}}}}"
);
fails!(
    role_impersonates,
    "rbac.customRoles",
    "spec.rbac.roles.ops.verbs",
    "spec: {rbac: {roles: {ops: {verbs: [impersonate], resources: [users]}}}}"
);
fails!(
    role_unknown_verb,
    "rbac.customRoles",
    "spec.rbac.roles.ops.verbs",
    "spec: {rbac: {roles: {ops: {verbs: [read], resources: [pods]}}}}"
);
warns!(
    service_account_role_unused,
    "rbac.serviceAccountRole",
    "spec.rbac.serviceAccountRole",
    "spec: {rbac: {serviceAccountRole: viewer}}"
);
warns!(
    allowed_tenants_without_access,
    "rbac.crossTenant",
    "spec.rbac.allowedTenants",
    "spec: {rbac: {allowedTenants: [other]}}"
);
warns!(
    access_without_tenants,
    "rbac.crossTenant",
    "spec.rbac.allowCrossTenantAccess",
    "spec: {rbac: {allowCrossTenantAccess: true}}"
);
warns!(
    allowed_tenants_self,
    "rbac.crossTenant",
    "spec.rbac.allowedTenants[0]",
    "spec: {rbac: {allowCrossTenantAccess: true, allowedTenants: [shop]}}"
);
fails!(
    empty_subject,
    "rbac.subjects",
    "spec.rbac.viewers[1]",
    "spec: {rbac: {viewers: [a, ' ']}}"
);
fails!(
    empty_owner,
    "rbac.subjects",
    "spec.owner",
    "spec: {owner: ''}"
);
warns!(
    duplicate_subject,
    "rbac.subjects",
    "spec.admins[1]",
    "spec: {admins: [a, a]}"
);

#[test]
fn read_only_roles_on_guardrails_and_writes_elsewhere_are_fine() {
    let r = validate_value(&doc(
        "spec: {rbac: {roles: {auditor: {verbs: [get, list, watch], resources: [resourcequotas, limitranges, tenants]}, dev: {verbs: [create, delete], resources: [apps/deployments, pods/exec]}}}}",
    ));
    assert!(r.valid, "{}", explain(&r));
}

// ----- data stores -----

warns!(
    mongo_password_plain,
    "data.plaintextPasswords",
    "spec.mongoPassword",
    "spec: {mongoURI: 'mongodb://db', mongoPassword: x}"
);
warns!(
    password_in_url,
    "data.plaintextPasswords",
    "spec.redisURL",
    "spec: {redisURL: 'redis://:secret@cache:6379'}"
);
warns!(
    username_without_uri,
    "data.credentialsWithoutUrl",
    "spec.mongoUsername",
    "spec: {mongoUsername: shop}"
);
warns!(
    redis_password_without_url,
    "data.credentialsWithoutUrl",
    "spec.redisURL",
    "spec: {redisPassword: x}"
);
warns!(
    data_isolation_without_url,
    "data.credentialsWithoutUrl",
    "spec.dataIsolation.natsSubjectPrefix",
    "spec: {dataIsolation: {natsSubjectPrefix: shop}}"
);
fails!(
    redis_prefix_in_the_operators_own,
    "data.redisReservedPrefix",
    "spec.dataIsolation.redisKeyPrefix",
    "spec: {dataIsolation: {redisKeyPrefix: 'tenant-operator:shop:'}}"
);
fails!(
    redis_prefix_with_a_glob,
    "cel.rules",
    "spec.dataIsolation.redisKeyPrefix",
    "spec: {dataIsolation: {redisKeyPrefix: 'shop:*'}}"
);
fails!(
    mongo_database_too_long,
    "data.isolationNames",
    "spec.dataIsolation.mongoDatabase",
    "spec: {tenantId: abcdefghijabcdefghijabcdefghijabcdefghij, environment: abcdefghijabcdefghij, mongoURI: 'mongodb://db', namespaceConfig: {name: shop}}"
);

// ----- backup -----

fails!(
    cron_minute_range,
    "backup.schedule",
    "spec.backupConfig.schedule",
    "spec: {backupConfig: {enabled: true, schedule: '61 2 * * *'}}"
);
fails!(
    cron_month_name,
    "backup.schedule",
    "spec.backupConfig.schedule",
    "spec: {backupConfig: {enabled: true, schedule: '0 2 * FOO *'}}"
);
fails!(
    cron_restore_dow,
    "backup.restoreSchedule",
    "spec.backupConfig.restoreSchedule",
    "spec: {backupConfig: {enabled: true, schedule: '@daily', restoreSchedule: '0 0 * * 8'}}"
);
fails!(
    retention_zero,
    "backup.retention",
    "spec.backupConfig.retention",
    "spec: {backupConfig: {enabled: true, schedule: '@daily', retention: 0h0m}}"
);
fails!(
    include_and_exclude,
    "backup.resources",
    "spec.backupConfig.backupExcludeResources[0]",
    "spec: {backupConfig: {backupIncludeResources: [pods], backupExcludeResources: [pods]}}"
);
fails!(
    storage_location_name,
    "backup.storageLocation",
    "spec.backupConfig.backupStorageLocation",
    "spec: {backupConfig: {backupStorageLocation: 'S3 main'}}"
);
warns!(
    schedule_without_enabled,
    "backup.enabled",
    "spec.backupConfig.enabled",
    "spec: {backupConfig: {schedule: '@daily'}}"
);
warns!(
    production_without_backups,
    "backup.enabled",
    "spec.backupConfig.enabled",
    "spec: {tenantType: production}"
);
warns!(
    restore_source_without_consent,
    "backup.enabled",
    "spec.backupConfig.restoreFromNamespace",
    "spec: {backupConfig: {restoreSchedule: '@daily', restoreFromNamespace: tenant-shop-production}}"
);
warns!(
    restore_source_without_schedule,
    "backup.enabled",
    "spec.backupConfig.restoreFromNamespace",
    "spec: {backupConfig: {allowCrossTenantRestore: true, restoreFromNamespace: tenant-shop-production}}"
);
warns!(
    restore_drill_refused,
    "backup.enabled",
    "spec.backupConfig.restoreSchedule",
    "spec: {backupConfig: {enabled: true, schedule: '@daily', restoreEnabled: false, restoreSchedule: '@weekly'}}"
);

#[test]
fn cron_errors_name_the_field_and_range() {
    let r = validate_value(&doc(
        "spec: {backupConfig: {enabled: true, schedule: '0 24 * * *'}}",
    ));
    assert_eq!(
        r.errors,
        vec!["spec.backupConfig.schedule: \"0 24 * * *\": hour field \"24\": 24 is above the maximum 23".to_string()],
        "{}",
        explain(&r)
    );
}

// ----- billing -----

fails!(
    enforcement_without_budget,
    "cel.rules",
    "spec.billing.monthlyBudget",
    "spec: {billing: {budgetEnforcement: true}}"
);
fails!(
    threshold_out_of_range,
    "cel.rules",
    "spec.billing.budgetAlertThreshold",
    "spec: {billing: {monthlyBudget: 10, budgetAlertThreshold: -0.5}}"
);
warns!(
    threshold_without_budget,
    "billing.budget",
    "spec.billing.budgetAlertThreshold",
    "spec: {billing: {budgetAlertThreshold: 0.5}}"
);
warns!(
    threshold_zero,
    "billing.alertThreshold",
    "spec.billing.budgetAlertThreshold",
    "spec: {billing: {monthlyBudget: 10, budgetAlertThreshold: 0}}"
);
fails!(
    discounts_reach_one,
    "billing.discounts",
    "spec.billing.commitmentDiscount",
    "spec: {billing: {volumeDiscount: 0.5, commitmentDiscount: 0.5}}"
);

// ----- tenantConfig -----

fails!(
    label_reserved_prefix,
    "tenantConfig.labels",
    "spec.tenantConfig.labels[shop.pilab.hu/tenant-id]",
    "spec: {tenantConfig: {labels: {shop.pilab.hu/tenant-id: other}}}"
);
fails!(
    label_managed_by,
    "tenantConfig.labels",
    "spec.tenantConfig.labels[app.kubernetes.io/managed-by]",
    "spec: {tenantConfig: {labels: {app.kubernetes.io/managed-by: me}}}"
);
fails!(
    label_namespace_name,
    "tenantConfig.labels",
    "spec.tenantConfig.labels[kubernetes.io/metadata.name]",
    "spec: {tenantConfig: {labels: {kubernetes.io/metadata.name: other}}}"
);
fails!(
    label_value_too_long,
    "tenantConfig.labels",
    "spec.tenantConfig.labels[team]",
    "spec: {tenantConfig: {labels: {team: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}}"
);
warns!(
    label_kubernetes_prefix,
    "tenantConfig.labels",
    "spec.tenantConfig.labels[topology.kubernetes.io/region]",
    "spec: {tenantConfig: {labels: {topology.kubernetes.io/region: eu}}}"
);
warns!(
    label_part_of,
    "tenantConfig.labels",
    "spec.tenantConfig.labels[app.kubernetes.io/part-of]",
    "spec: {tenantConfig: {labels: {app.kubernetes.io/part-of: suite}}}"
);
fails!(
    annotation_reserved,
    "tenantConfig.annotations",
    "spec.tenantConfig.annotations[shop.pilab.hu/owner]",
    "spec: {tenantConfig: {annotations: {shop.pilab.hu/owner: x}}}"
);
fails!(
    annotation_key_invalid,
    "tenantConfig.annotations",
    "spec.tenantConfig.annotations[a b]",
    "spec: {tenantConfig: {annotations: {a b: x}}}"
);
warns!(
    feature_twice,
    "tenantConfig.features",
    "spec.tenantConfig.features[1]",
    "spec: {tenantConfig: {features: [beta, beta]}}"
);

// ----- monitoring -----

fails!(
    receiver_not_email,
    "monitoring.alertReceivers",
    "spec.monitoring.alertReceivers[1]",
    "spec: {monitoring: {alertReceivers: [ops@example.com, ops]}}"
);
warns!(
    receivers_without_alerting,
    "monitoring.alertReceivers",
    "spec.monitoring.alertReceivers",
    "spec: {monitoring: {alertingEnabled: false, alertReceivers: [ops@example.com]}}"
);
fails!(
    dashboard_not_object,
    "monitoring.dashboards",
    "spec.monitoring.customDashboards[0].json",
    "spec: {monitoring: {customDashboards: [{name: a, json: '[1]'}]}}"
);
fails!(
    dashboard_name_twice,
    "monitoring.dashboards",
    "spec.monitoring.customDashboards[1].name",
    "spec: {monitoring: {customDashboards: [{name: a, json: '{}'}, {name: a, json: '{}'}]}}"
);
warns!(
    retention_keeps_nothing,
    "monitoring.retention",
    "spec.monitoring.logRetention",
    "spec: {monitoring: {logRetention: 0d}}"
);

#[test]
fn a_tenant_without_compute_quota_is_told_what_bounds_it() {
    let warned = |patch: &str| {
        let r = validate_value(&doc(patch));
        assert!(r.valid, "{}", explain(&r));
        r.warnings()
            .filter(|w| w.name == "quota.presetCompute")
            .map(|w| w.message.clone())
            .collect::<Vec<_>>()
    };
    let w = warned("");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("sets no cpu, memory and pod count quota")
            && w[0].contains("default compute quota"),
        "{w:?}"
    );
    let w = warned("spec: {quota: {cpuQuota: '4', podQuota: 10}}");
    assert!(w[0].contains("sets no memory quota"), "{w:?}");
    let w = warned("spec: {isolation: {isolationLevel: permissive}, quota: {memoryLimit: 4Gi}}");
    assert!(
        w[0].contains("permissive preset adds none") && w[0].contains("all of the cluster's cpu"),
        "{w:?}"
    );
    assert!(warned("spec: {quota: {cpuLimit: '4', memoryQuota: 4Gi, podQuota: 10}}").is_empty());
}

// ----- the API -----

#[test]
fn report_serializes_as_valid_errors_checks() {
    let r = validate_value(&doc("spec: {quota: {pvQuota: 1, pvcQuota: 2}}"));
    let v = serde_json::to_value(&r).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["checks", "errors", "valid"]);
    assert_eq!(v["valid"], json!(false));
    let statuses: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"pass") && statuses.contains(&"fail"));
    let c = &v["checks"][0];
    for k in ["name", "field", "status", "message"] {
        assert!(c.get(k).is_some(), "check without {k}: {c}");
    }
}

#[test]
fn check_names_are_stable() {
    // The names a minimal valid Tenant lists, in order: tools match on them.
    let r = validate_value(&doc(""));
    assert!(r.valid, "{}", explain(&r));
    // the only finding: it sets no compute quota, so the platform's default applies
    assert!(
        r.checks
            .iter()
            .all(|c| c.status == CheckStatus::Pass || c.name == "quota.presetCompute"),
        "{}",
        explain(&r)
    );
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "document.apiVersion",
            "document.kind",
            "metadata.name",
            "metadata.namespace",
            "metadata.knownFields",
            "metadata.labels",
            "metadata.annotations",
            "schema.knownFields",
            "schema.required",
            "schema.bounds",
            "schema.types",
            "cel.rules",
            "quantities.valid",
            "quota.resourceLimitsAgree",
            "quota.presetCompute",
            "quota.pvQuotaAgree",
            "quota.requestsWithinLimits",
            "quota.scopes",
            "limits.withinQuota",
            "limits.containerWithinPod",
            "limits.defaultsWithinMax",
            "limits.defaultLimitAboveRequest",
            "limits.qosClass",
            "limits.bursting",
            "limits.minReplicasFitQuota",
            "services.replicasAtLeastMin",
            "quota.fitsOwnServices",
            "services.resources",
            "namespace.name",
            "services.names",
            "services.settingsKnown",
            "services.ingressPaths",
            "services.env",
            "services.images",
            "isolation.registries",
            "isolation.ownImagesAllowed",
            "isolation.strictRegistries",
            "isolation.dedicatedNodeLabel",
            "isolation.cpuPinning",
            "isolation.storageClasses",
            "isolation.priorityClasses",
            "isolation.weakerThanPreset",
            "isolation.auditLevel",
            "isolation.serviceTypeQuota",
            "network.ports",
            "network.egressRules",
            "network.externalCidrs",
            "network.isolationOff",
            "network.podSelectors",
            "network.podsInNamespaces",
            "network.dnsCidrs",
            "network.ingressControllerNamespaces",
            "rbac.customRoles",
            "rbac.serviceAccountRole",
            "rbac.crossTenant",
            "rbac.subjects",
            "data.plaintextPasswords",
            "data.credentialsWithoutUrl",
            "data.redisReservedPrefix",
            "data.isolationNames",
            "backup.schedule",
            "backup.restoreSchedule",
            "backup.retention",
            "backup.resources",
            "backup.storageLocation",
            "backup.enabled",
            "billing.budget",
            "billing.alertThreshold",
            "billing.discounts",
            "tenantConfig.labels",
            "tenantConfig.annotations",
            "tenantConfig.features",
            "monitoring.alertReceivers",
            "monitoring.dashboards",
            "monitoring.retention",
            "releaseChannel.imageTag",
            "build.renders",
            "pending.notActedOn",
            "pending.partlyActedOn",
        ]
    );
}

fn seed_example() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/customer-shop-1.yaml"
    );
    yaml(&std::fs::read_to_string(path).unwrap())
}

#[test]
fn the_typed_path_reports_what_the_raw_path_reports() {
    for d in [
        seed_example(),
        doc(
            "spec: {resourceLimits: {cpuLimit: '2'}, quota: {cpuLimit: '3'}, services: [api], isolation: {allowedRegistries: [quay.io]}}",
        ),
    ] {
        let t: Tenant = serde_json::from_value(d.clone()).unwrap();
        assert_eq!(validate_tenant(&t), validate_value(&d));
    }
    assert!(validate_tenant(&serde_json::from_value(seed_example()).unwrap()).valid);
}

fn tenant(patch: &str) -> Tenant {
    serde_json::from_value(doc(patch)).unwrap()
}

#[test]
fn update_checks_the_transition_rules() {
    let old = tenant("spec: {environment: eu}");
    let same = validate_update(&old, &old);
    assert!(same.valid, "{}", explain(&same));
    assert!(
        same.checks
            .iter()
            .any(|c| c.name == "cel.transitionRules" && c.status == CheckStatus::Pass)
    );

    let renamed = tenant("spec: {tenantId: shop2, environment: eu}");
    let r = validate_update(&renamed, &old);
    assert_fails(&r, "cel.transitionRules", "spec.tenantId");
    assert!(
        r.errors
            .iter()
            .any(|e| e == "spec.tenantId: tenantId is immutable: it names the namespace"),
        "{}",
        explain(&r)
    );

    let r = validate_update(&tenant("spec: {environment: us}"), &old);
    assert_fails(&r, "cel.transitionRules", "spec.environment");
    // creation does not evaluate transition rules
    assert!(validate_tenant(&renamed).valid);
}

#[test]
fn update_catches_a_namespace_move_the_transition_rules_miss() {
    // environment unset follows tenantType, so changing tenantType moves the namespace.
    let r = validate_update(&tenant("spec: {tenantType: production}"), &tenant(""));
    assert_fails(&r, "update.namespaceUnchanged", "spec.tenantType");
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("\"tenant-shop-staging\" to \"tenant-shop-production\"")),
        "{}",
        explain(&r)
    );
}

#[test]
fn update_warns_when_data_moves() {
    let r = validate_update(
        &tenant("spec: {mongoURI: 'mongodb://db', dataIsolation: {mongoDatabase: b}}"),
        &tenant("spec: {mongoURI: 'mongodb://db', dataIsolation: {mongoDatabase: a}}"),
    );
    assert_warns(
        &r,
        "update.dataIsolation",
        "spec.dataIsolation.mongoDatabase",
    );
}

const PRSTACK: &str = "
apiVersion: shop.pilab.hu/v1alpha1
kind: PRStack
metadata:
  name: pr-42
spec:
  prNumber: 42
  services: [api]
";

#[test]
fn prstacks_are_validated_on_their_own_terms() {
    let ok = yaml(PRSTACK);
    assert!(validate_prstack_value(&ok).valid);
    assert_eq!(validate_document(&ok), validate_prstack_value(&ok));
    let mut bad = ok.clone();
    merge(
        &mut bad,
        &yaml("spec: {prNumber: -1, resourceLimits: {memoryLimit: '-1Gi'}, tenantId: x}"),
    );
    let r = validate_document(&bad);
    assert_fails(&r, "cel.rules", "spec.prNumber");
    assert_fails(&r, "schema.knownFields", "spec.tenantId");
    assert_fails(&r, "quantities.valid", "spec.resourceLimits.memoryLimit");
    let t = validate_prstack_value(&doc(""));
    assert_fails(&t, "document.kind", "kind");
}

#[test]
fn a_live_tenant_with_server_metadata_and_status_is_valid() {
    // What the operator reads from the apiserver: server-set metadata and a status.
    let live = doc(r#"
metadata:
  uid: 0b5e8a4e-1111-2222-3333-444455556666
  resourceVersion: "12345"
  generation: 3
  creationTimestamp: "2026-01-01T00:00:00Z"
  finalizers: [shop.pilab.hu/cleanup]
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"shop.pilab.hu/v1alpha1"}'
  managedFields:
    - manager: kubectl
      operation: Apply
      apiVersion: shop.pilab.hu/v1alpha1
      fieldsType: FieldsV1
      fieldsV1: {f:spec: {f:tenantId: {}}}
status:
  phase: Running
  observedGeneration: 3
  namespace: tenant-shop-staging
  isolationLevel: standard
  conditions:
    - type: Ready
      status: "True"
      reason: Reconciled
      message: ""
      lastTransitionTime: "2026-01-01T00:01:00Z"
  quota:
    hard: {limits.cpu: "2"}
    used: {limits.cpu: 500m}
  cost:
    currency: USD
    monthlyProjected: "12.00"
  servicesReady: 0/0
"#);
    let r = validate_value(&live);
    assert!(r.valid, "{}", explain(&r));
    let t: Tenant = serde_json::from_value(live).unwrap();
    assert!(validate_tenant(&t).valid);
}
