//! The shared admission policies, evaluated offline against sample requests: for each policy an
//! allowed object and each denied variant, with the parameters `tenant_policy` renders for a
//! strict and a permissive tenant; and the exempt users.
//!
//! Everything evaluated here is the rendered output of `shared_policies` and `tenant_policy`,
//! never a copy of an expression.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::*;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use tenant_api::{
    IsolationLevel, IsolationSpec, LimitsSpec, Tenant, TenantSpec, TenantType, labels,
};
use tenant_core::Effective;
use tenant_core::build::BuildContext;
use tenant_core::build::policy::{shared_policies, tenant_policy};

const OPERATOR: &str = "system:serviceaccount:tenant-system:tenant-operator";
/// The strict tenant's namespace.
const STRICT: &str = "tenant-acme-production";
/// The permissive tenant's namespace.
const OPEN: &str = "tenant-open-development";
/// A standard-level tenant's namespace.
const STD: &str = "tenant-std-staging";
/// A tenant namespace whose TenantPolicy has not been written (yet, or any more).
const NO_PARAMS: &str = "tenant-new-production";

fn strict_tenant() -> Tenant {
    let mut spec = TenantSpec::new("acme", TenantType::Production);
    spec.isolation = Some(IsolationSpec {
        isolation_level: Some(IsolationLevel::Strict),
        allowed_registries: Some(vec!["ghcr.io/acme".into(), "registry.local:5000".into()]),
        blocked_registries: Some(vec!["ghcr.io/acme/forbidden".into()]),
        dedicated_nodes: Some(true),
        cpu_pinning: Some(true),
        allowed_storage_classes: Some(vec!["fast".into(), "standard".into()]),
        allowed_priority_classes: Some(vec!["tenant-high".into()]),
        ..Default::default()
    });
    spec.limits = Some(LimitsSpec {
        min_replicas: Some(2),
        ..Default::default()
    });
    Tenant::new("acme", spec)
}

fn open_tenant() -> Tenant {
    let mut spec = TenantSpec::new("open", TenantType::Development);
    spec.isolation = Some(IsolationSpec {
        isolation_level: Some(IsolationLevel::Permissive),
        ..Default::default()
    });
    Tenant::new("open", spec)
}

fn std_tenant(isolation: IsolationSpec) -> Tenant {
    let mut spec = TenantSpec::new("std", TenantType::Staging);
    spec.isolation = Some(isolation);
    Tenant::new("std", spec)
}

fn params_of(t: &Tenant) -> (String, Json) {
    let eff = Effective::of(t);
    let obj = tenant_policy(t, &eff, &BuildContext::default()).unwrap();
    (obj.namespace.clone().unwrap(), obj.manifest)
}

fn tenant_ns(id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::TENANT_NAMESPACE.to_string(), "true".to_string()),
        (labels::TENANT_ID.to_string(), id.to_string()),
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
    ])
}

/// A cluster with the strict, permissive and standard tenants (the standard one with `std`'s
/// isolation), one tenant namespace without params, and `default`.
fn cluster_with(std: IsolationSpec) -> Cluster {
    let mut params = BTreeMap::new();
    for t in [strict_tenant(), open_tenant(), std_tenant(std)] {
        let (ns, p) = params_of(&t);
        params.insert(ns, p);
    }
    assert!(params.contains_key(STRICT) && params.contains_key(OPEN) && params.contains_key(STD));
    Cluster {
        objects: shared_policies(&BuildContext::default()).unwrap(),
        namespaces: BTreeMap::from([
            (STRICT.to_string(), tenant_ns("acme")),
            (OPEN.to_string(), tenant_ns("open")),
            (STD.to_string(), tenant_ns("std")),
            (NO_PARAMS.to_string(), tenant_ns("new")),
            ("default".to_string(), BTreeMap::new()),
        ]),
        params,
    }
}

fn cluster() -> Cluster {
    cluster_with(IsolationSpec::default())
}

#[track_caller]
fn allowed(c: &Cluster, req: &Request) {
    if let Err(e) = c.admit(req) {
        panic!(
            "expected {} {} in {} to be allowed, got {e:#?}",
            req.op, req.kind.kind, req.namespace
        );
    }
}

/// Asserts a denial whose messages contain every one of `needles`.
#[track_caller]
fn denied(c: &Cluster, req: &Request, needles: &[&str]) {
    match c.admit(req) {
        Ok(()) => panic!(
            "expected {} {} in {} to be denied",
            req.op, req.kind.kind, req.namespace
        ),
        Err(msgs) => {
            let all = msgs.join("\n");
            for n in needles {
                assert!(all.contains(n), "denial should mention {n:?}, got:\n{all}");
            }
        }
    }
}

// ----- fixtures -----

/// A container that passes the strict tenant's rules.
fn good_container(name: &str) -> Json {
    json!({
        "name": name,
        "image": "ghcr.io/acme/app:1.0",
        "imagePullPolicy": "Always",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
    })
}

/// A pod spec that passes the strict tenant's rules.
fn good_pod_spec() -> Json {
    json!({
        "containers": [good_container("app")],
        "nodeSelector": {"shop.pilab.hu/tenant-id": "acme"},
        "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
    })
}

fn pod(spec: Json) -> Json {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": spec})
}

fn deployment(spec: Json, replicas: Option<i64>) -> Json {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}},
    });
    if let Some(r) = replicas {
        d["spec"]["replicas"] = json!(r);
    }
    d
}

fn cronjob(spec: Json) -> Json {
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}},
    })
}

/// `good_pod_spec` with `f` applied.
fn pod_spec_with(f: impl FnOnce(&mut Json)) -> Json {
    let mut s = good_pod_spec();
    f(&mut s);
    s
}

// ----- every expression compiles -----

#[test]
fn every_rendered_expression_compiles() {
    let objs = shared_policies(&BuildContext::default()).unwrap();
    let exprs = all_expressions(&objs);
    assert!(
        exprs.len() > 40,
        "expected the policies' expressions, got {}",
        exprs.len()
    );
    for (at, e) in exprs {
        if let Err(err) = compiles(&e) {
            panic!("{at} does not compile: {err}\n{e}");
        }
    }
}

// ----- 1. workloads -----

#[test]
fn workloads_good_pod_deployment_and_cronjob_pass_the_strict_tenant() {
    let c = cluster();
    allowed(&c, &Request::create(POD, STRICT, pod(good_pod_spec())));
    allowed(
        &c,
        &Request::create(DEPLOYMENT, STRICT, deployment(good_pod_spec(), Some(2))),
    );
    allowed(
        &c,
        &Request::create(CRONJOB, STRICT, cronjob(good_pod_spec())),
    );
    allowed(
        &c,
        &Request::create(
            JOB,
            STRICT,
            json!({"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": good_pod_spec()}}}),
        ),
    );
    allowed(
        &c,
        &Request::create(
            DAEMONSET,
            STRICT,
            json!({"kind": "DaemonSet", "metadata": {"name": "d"}, "spec": {"template": {"spec": good_pod_spec()}}}),
        ),
    );
}

#[test]
fn workloads_images_must_come_from_allowed_registries() {
    let c = cluster();
    let with_image = |img: &str| pod_spec_with(|s| s["containers"][0]["image"] = json!(img));
    for ok in [
        "ghcr.io/acme/app:1.0",
        "ghcr.io/acme/team/app@sha256:0123",
        "registry.local:5000/tools/x:1",
    ] {
        allowed(&c, &Request::create(POD, STRICT, pod(with_image(ok))));
    }
    for bad in [
        "nginx",
        "docker.io/library/nginx:1.27",
        "ghcr.io/acmecorp/app:1",
        "registry.local/x",
    ] {
        denied(
            &c,
            &Request::create(POD, STRICT, pod(with_image(bad))),
            &[
                &format!("container app image {bad} at spec is not from an allowed registry"),
                "ghcr.io/acme, registry.local:5000",
            ],
        );
    }
    // the Deployment's own apply fails, naming the template path
    denied(
        &c,
        &Request::create(
            DEPLOYMENT,
            STRICT,
            deployment(with_image("quay.io/x/y:1"), Some(2)),
        ),
        &[
            "container app image quay.io/x/y:1 at spec.template.spec is not from an allowed registry",
        ],
    );
    denied(
        &c,
        &Request::create(CRONJOB, STRICT, cronjob(with_image("quay.io/x/y:1"))),
        &["at spec.jobTemplate.spec.template.spec"],
    );
    // init and ephemeral containers are images too
    let init = pod_spec_with(|s| {
        s["initContainers"] = json!([{"name": "migrate", "image": "busybox", "imagePullPolicy": "Always",
            "resources": {"limits": {"cpu": "1"}}}]);
    });
    denied(
        &c,
        &Request::create(POD, STRICT, pod(init)),
        &["container migrate image busybox"],
    );
    let old = pod(good_pod_spec());
    let debug = pod(pod_spec_with(|s| {
        s["ephemeralContainers"] =
            json!([{"name": "debugger", "image": "alpine", "imagePullPolicy": "Always"}]);
    }));
    denied(
        &c,
        &Request::update(POD, STRICT, old.clone(), debug.clone()),
        &["container debugger image alpine"],
    );
    // `kubectl debug` adds it through the pods/ephemeralcontainers subresource
    denied(
        &c,
        &Request::update(POD_EPHEMERAL, STRICT, old.clone(), debug),
        &["container debugger image alpine"],
    );
    let debug_ok = pod(pod_spec_with(|s| {
        s["ephemeralContainers"] = json!([{"name": "debugger", "image": "ghcr.io/acme/debug:1",
            "imagePullPolicy": "Always"}]);
    }));
    allowed(&c, &Request::update(POD_EPHEMERAL, STRICT, old, debug_ok));
    // the permissive tenant takes any registry
    allowed(&c, &Request::create(POD, OPEN, pod(with_image("nginx"))));
}

#[test]
fn workloads_blocked_registries_see_through_docker_hub_short_names() {
    let c = cluster_with(IsolationSpec {
        blocked_registries: Some(vec!["docker.io".into(), "quay.io/evil".into()]),
        ..Default::default()
    });
    let spec = |img: &str| json!({"containers": [{"name": "app", "image": img}]});
    for bad in [
        "nginx",
        "nginx:1.27",
        "bitnami/redis:7",
        "docker.io/nginx",
        "index.docker.io/library/nginx",
        "quay.io/evil/miner",
        "quay.io/evil:latest",
    ] {
        denied(
            &c,
            &Request::create(POD, STD, pod(spec(bad))),
            &[
                &format!("container app image {bad} at spec is from a blocked registry"),
                "docker.io, quay.io/evil",
            ],
        );
    }
    for ok in [
        "ghcr.io/acme/app",
        "quay.io/evilcorp/app",
        "docker.io.example.com/x",
        "localhost/app",
        "localhost:5000/app",
    ] {
        allowed(&c, &Request::create(POD, STD, pod(spec(ok))));
    }
    // the strict tenant blocks a path under an allowed prefix
    let c = cluster();
    let forbidden =
        pod_spec_with(|s| s["containers"][0]["image"] = json!("ghcr.io/acme/forbidden/x:1"));
    denied(
        &c,
        &Request::create(POD, STRICT, pod(forbidden)),
        &["is from a blocked registry (isolation.blockedRegistries: ghcr.io/acme/forbidden)"],
    );
}

#[test]
fn workloads_image_pull_policy_always() {
    let c = cluster();
    for policy in [json!("IfNotPresent"), json!("Never"), Json::Null] {
        let spec = pod_spec_with(|s| {
            if policy.is_null() {
                s["containers"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("imagePullPolicy");
            } else {
                s["containers"][0]["imagePullPolicy"] = policy.clone();
            }
        });
        denied(
            &c,
            &Request::create(POD, STRICT, pod(spec)),
            &["containers app must set spec.containers[*].imagePullPolicy: Always"],
        );
    }
    allowed(
        &c,
        &Request::create(
            POD,
            OPEN,
            pod(
                json!({"containers": [{"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"}]}),
            ),
        ),
    );
}

#[test]
fn workloads_host_namespaces_and_ports() {
    let c = cluster();
    for (field, needle) in [
        ("hostNetwork", "hostNetwork"),
        ("hostPID", "hostPID"),
        ("hostIPC", "hostIPC"),
    ] {
        let spec = pod_spec_with(|s| s[field] = json!(true));
        denied(
            &c,
            &Request::create(POD, STRICT, pod(spec.clone())),
            &[needle, "isolation.allowHostNamespaces"],
        );
        allowed(&c, &Request::create(POD, OPEN, pod(spec)));
    }
    let spec = pod_spec_with(|s| s["hostNetwork"] = json!(false));
    allowed(&c, &Request::create(POD, STRICT, pod(spec)));
    let spec = pod_spec_with(|s| {
        s["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 8080}])
    });
    denied(
        &c,
        &Request::create(POD, STRICT, pod(spec)),
        &["hostPort (container app)"],
    );
    let spec = pod_spec_with(|s| s["containers"][0]["ports"] = json!([{"containerPort": 80}]));
    allowed(&c, &Request::create(POD, STRICT, pod(spec)));
}

#[test]
fn workloads_host_path_volumes() {
    let c = cluster();
    let spec = pod_spec_with(|s| {
        s["volumes"] = json!([{"name": "cache", "emptyDir": {}}, {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]);
    });
    denied(
        &c,
        &Request::create(DEPLOYMENT, STRICT, deployment(spec.clone(), Some(2))),
        &["hostPath volumes docker at spec.template.spec.volumes"],
    );
    allowed(&c, &Request::create(POD, OPEN, pod(spec)));
    let spec = pod_spec_with(|s| s["volumes"] = json!([{"name": "cache", "emptyDir": {}}]));
    allowed(&c, &Request::create(POD, STRICT, pod(spec)));
}

#[test]
fn workloads_app_armor() {
    let c = cluster();
    let none = pod_spec_with(|s| {
        s.as_object_mut().unwrap().remove("securityContext");
    });
    denied(
        &c,
        &Request::create(POD, STRICT, pod(none.clone())),
        &["containers app need securityContext.appArmorProfile.type"],
    );
    allowed(&c, &Request::create(POD, OPEN, pod(none.clone())));
    // a container may set its own profile
    let own = {
        let mut s = none.clone();
        s["containers"][0]["securityContext"] =
            json!({"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-app"}});
        s
    };
    allowed(&c, &Request::create(POD, STRICT, pod(own)));
    // but not opt out of the pod's
    let unconfined = pod_spec_with(|s| {
        s["containers"][0]["securityContext"] = json!({"appArmorProfile": {"type": "Unconfined"}})
    });
    denied(
        &c,
        &Request::create(POD, STRICT, pod(unconfined)),
        &["containers app need"],
    );
}

#[test]
fn workloads_selinux() {
    let c = cluster();
    for (opts, ok) in [
        (json!({"level": "s0:c123,c456"}), true),
        (json!({"type": "container_t"}), true),
        (json!({"type": "spc_t"}), false),
        (json!({"user": "system_u"}), false),
        (json!({"role": "sysadm_r"}), false),
    ] {
        let on_container = pod_spec_with(|s| {
            s["containers"][0]["securityContext"] = json!({"seLinuxOptions": opts})
        });
        let on_pod = pod_spec_with(|s| s["securityContext"]["seLinuxOptions"] = opts.clone());
        if ok {
            allowed(&c, &Request::create(POD, STRICT, pod(on_container)));
            allowed(&c, &Request::create(POD, STRICT, pod(on_pod)));
        } else {
            denied(
                &c,
                &Request::create(POD, STRICT, pod(on_container.clone())),
                &["container app at spec sets securityContext.seLinuxOptions"],
            );
            denied(
                &c,
                &Request::create(POD, STRICT, pod(on_pod)),
                &["pod at spec sets securityContext.seLinuxOptions"],
            );
            allowed(&c, &Request::create(POD, OPEN, pod(on_container)));
        }
    }
}

#[test]
fn workloads_dedicated_nodes() {
    let c = cluster();
    let missing = pod_spec_with(|s| {
        s.as_object_mut().unwrap().remove("nodeSelector");
    });
    denied(
        &c,
        &Request::create(POD, STRICT, pod(missing.clone())),
        &["spec.nodeSelector must contain shop.pilab.hu/tenant-id: acme"],
    );
    let other = pod_spec_with(|s| {
        s["nodeSelector"] = json!({"shop.pilab.hu/tenant-id": "globex", "disk": "ssd"})
    });
    denied(
        &c,
        &Request::create(DEPLOYMENT, STRICT, deployment(other, Some(2))),
        &["spec.template.spec.nodeSelector must contain"],
    );
    allowed(&c, &Request::create(POD, OPEN, pod(missing)));
}

#[test]
fn workloads_cpu_pinning() {
    let c = cluster();
    let with_resources = |r: Json| pod_spec_with(|s| s["containers"][0]["resources"] = r);
    for ok in [
        json!({"limits": {"cpu": "2"}, "requests": {"cpu": "2"}}),
        json!({"limits": {"cpu": "2000m"}, "requests": {"cpu": "2"}}),
        json!({"limits": {"cpu": "1"}}),
    ] {
        allowed(&c, &Request::create(POD, STRICT, pod(with_resources(ok))));
    }
    for bad in [
        json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "500m"}}),
        json!({"limits": {"cpu": "2"}, "requests": {"cpu": "1"}}),
        json!({"requests": {"cpu": "1"}}),
        json!({"limits": {"cpu": "0"}}),
        json!({}),
    ] {
        denied(
            &c,
            &Request::create(POD, STRICT, pod(with_resources(bad.clone()))),
            &["containers app at spec must set resources.limits.cpu to a whole number"],
        );
        allowed(&c, &Request::create(POD, OPEN, pod(with_resources(bad))));
    }
    // init containers are pinned too
    let init = pod_spec_with(|s| {
        s["initContainers"] =
            json!([{"name": "init", "image": "ghcr.io/acme/init", "imagePullPolicy": "Always"}])
    });
    denied(
        &c,
        &Request::create(POD, STRICT, pod(init)),
        &["containers init at spec must set"],
    );
}

/// `good_pod_spec` naming a PriorityClass.
fn with_priority(class: &str) -> Json {
    pod_spec_with(|s| s["priorityClassName"] = json!(class))
}

#[test]
fn workloads_priority_classes_system_ones_never() {
    let c = cluster();
    for ns in [STRICT, STD, OPEN] {
        for class in ["system-node-critical", "system-cluster-critical"] {
            denied(
                &c,
                &Request::create(POD, ns, pod(with_priority(class))),
                &[
                    &format!("spec.priorityClassName {class} is reserved"),
                    "isolation.allowedPriorityClasses",
                ],
            );
            denied(
                &c,
                &Request::create(DEPLOYMENT, ns, deployment(with_priority(class), Some(2))),
                &[&format!(
                    "spec.template.spec.priorityClassName {class} is reserved"
                )],
            );
            denied(
                &c,
                &Request::create(CRONJOB, ns, cronjob(with_priority(class))),
                &[&format!(
                    "spec.jobTemplate.spec.template.spec.priorityClassName {class} is reserved"
                )],
            );
        }
    }
    // even parameters that list one (written by hand, not by the operator) do not open them
    let mut c = cluster();
    if let Some(p) = c.params.get_mut(STD) {
        p["spec"]["allowedPriorityClasses"] = json!(["system-node-critical"]);
        p["spec"]["defaultPriorityClass"] = json!("system-cluster-critical");
    }
    for class in ["system-node-critical", "system-cluster-critical"] {
        denied(
            &c,
            &Request::create(POD, STD, pod(with_priority(class))),
            &["is reserved"],
        );
    }
    // the exempt users (the controllers creating pods from templates) are not checked
    allowed(
        &c,
        &Request::create(POD, STD, pod(with_priority("system-node-critical"))).by(
            "system:serviceaccount:kube-system:replicaset-controller",
            &["system:serviceaccounts"],
        ),
    );
}

#[test]
fn workloads_priority_classes_only_from_the_allowed_list() {
    let c = cluster();
    // no class: the cluster's default priority, everywhere
    for ns in [STRICT, STD, OPEN] {
        allowed(&c, &Request::create(POD, ns, pod(good_pod_spec())));
    }
    // the strict tenant allows tenant-high
    allowed(
        &c,
        &Request::create(POD, STRICT, pod(with_priority("tenant-high"))),
    );
    allowed(
        &c,
        &Request::create(
            DEPLOYMENT,
            STRICT,
            deployment(with_priority("tenant-high"), Some(2)),
        ),
    );
    denied(
        &c,
        &Request::create(POD, STRICT, pod(with_priority("tenant-urgent"))),
        &[
            "spec.priorityClassName tenant-urgent is not allowed in this tenant (isolation.allowedPriorityClasses: tenant-high)",
        ],
    );
    // no preset allows any: the standard and permissive tenants name none
    for ns in [STD, OPEN] {
        denied(
            &c,
            &Request::create(POD, ns, pod(with_priority("tenant-high"))),
            &[
                "spec.priorityClassName tenant-high is not allowed in this tenant (isolation.allowedPriorityClasses: none)",
                "if the pod named no class, this is the globalDefault PriorityClass",
            ],
        );
        let Err(msgs) = c.admit(&Request::create(
            DEPLOYMENT,
            ns,
            deployment(with_priority("tenant-high"), Some(2)),
        )) else {
            panic!("a template naming tenant-high must be denied in {ns}");
        };
        let all = msgs.join("\n");
        assert!(
            all.contains("spec.template.spec.priorityClassName tenant-high is not allowed"),
            "{all}"
        );
        assert!(
            !all.contains("globalDefault"),
            "the pod hint is for pods only: {all}"
        );
    }
    // a pod's class is immutable: its updates (labels, kubectl debug) are not held against it
    let old = pod(with_priority("tenant-urgent"));
    let mut labelled = old.clone();
    labelled["metadata"]["labels"] = json!({"debug": "yes"});
    allowed(&c, &Request::update(POD, STRICT, old, labelled));
    // a template's class can change, so every write of it is checked
    denied(
        &c,
        &Request::update(
            DEPLOYMENT,
            STRICT,
            deployment(good_pod_spec(), Some(2)),
            deployment(with_priority("tenant-urgent"), Some(2)),
        ),
        &["spec.template.spec.priorityClassName tenant-urgent is not allowed"],
    );
}

#[test]
fn workloads_priority_classes_the_platform_default_is_allowed_everywhere() {
    let ctx = BuildContext {
        default_priority_class: "tenant-default",
        ..Default::default()
    };
    let mut c = cluster();
    for t in [
        strict_tenant(),
        open_tenant(),
        std_tenant(IsolationSpec::default()),
    ] {
        let obj = tenant_policy(&t, &Effective::of(&t), &ctx).unwrap();
        c.params
            .insert(obj.namespace.clone().unwrap(), obj.manifest);
    }
    for ns in [STRICT, STD, OPEN] {
        // what the API server writes into a pod that names no class
        allowed(
            &c,
            &Request::create(POD, ns, pod(with_priority("tenant-default"))),
        );
        allowed(
            &c,
            &Request::create(
                DEPLOYMENT,
                ns,
                deployment(with_priority("tenant-default"), Some(2)),
            ),
        );
    }
    allowed(
        &c,
        &Request::create(POD, STRICT, pod(with_priority("tenant-high"))),
    );
    denied(
        &c,
        &Request::create(POD, STD, pod(with_priority("tenant-high"))),
        &[
            "(isolation.allowedPriorityClasses: none; the platform default tenant-default is allowed too)",
        ],
    );
}

#[test]
fn workloads_exempt_users_pass_and_tenant_service_accounts_do_not() {
    let c = cluster();
    let bad = pod(json!({"hostNetwork": true, "containers": [{"name": "a", "image": "nginx"}]}));
    let req = Request::create(POD, STRICT, bad.clone());
    denied(&c, &req, &["hostNetwork"]);
    allowed(
        &c,
        &req.clone().by(
            OPERATOR,
            &["system:serviceaccounts", "system:authenticated"],
        ),
    );
    allowed(
        &c,
        &req.clone()
            .by("admin", &["system:masters", "system:authenticated"]),
    );
    allowed(
        &c,
        &req.clone().by(
            "system:serviceaccount:kube-system:replicaset-controller",
            &["system:serviceaccounts"],
        ),
    );
    allowed(
        &c,
        &req.clone()
            .by("system:kube-controller-manager", &["system:authenticated"]),
    );
    denied(
        &c,
        &req.clone().by(
            "system:serviceaccount:tenant-acme-production:ci",
            &["system:serviceaccounts"],
        ),
        &["hostNetwork"],
    );
    // a look-alike of the operator in another namespace is not the operator
    denied(
        &c,
        &req.clone().by(
            "system:serviceaccount:tenant-acme-production:tenant-operator",
            &[],
        ),
        &["hostNetwork"],
    );
    // another operator identity from the build context
    let ctx = BuildContext {
        operator_user: "system:serviceaccount:ops:tenancy",
        ..Default::default()
    };
    let c2 = Cluster {
        objects: shared_policies(&ctx).unwrap(),
        ..cluster()
    };
    allowed(
        &c2,
        &req.clone().by("system:serviceaccount:ops:tenancy", &[]),
    );
    denied(&c2, &req.by(OPERATOR, &[]), &["hostNetwork"]);
}

#[test]
fn workloads_outside_tenant_namespaces_are_not_checked() {
    let c = cluster();
    let bad = pod(json!({"hostNetwork": true, "containers": [{"name": "a", "image": "nginx"}]}));
    allowed(&c, &Request::create(POD, "default", bad.clone()));
    allowed(&c, &Request::create(POD, "kube-system", bad));
}

#[test]
fn missing_params_deny_creates_for_everyone_but_not_updates() {
    let c = cluster();
    let p = pod(json!({"containers": [{"name": "a", "image": "nginx"}]}));
    denied(
        &c,
        &Request::create(POD, NO_PARAMS, p.clone()),
        &["no params found"],
    );
    // the apiserver resolves params before matchConditions: even the operator is denied
    denied(
        &c,
        &Request::create(POD, NO_PARAMS, p.clone()).by(OPERATOR, &[]),
        &["no params found"],
    );
    // updates (finalizer removal while the namespace is deleted) still pass
    let mut finalized = p.clone();
    finalized["metadata"]["finalizers"] = json!([]);
    allowed(
        &c,
        &Request::update(POD, NO_PARAMS, p, finalized)
            .by("system:serviceaccount:kube-system:job-controller", &[]),
    );
    let pvc = json!({"metadata": {"name": "data", "finalizers": ["kubernetes.io/pvc-protection"]}, "spec": {}});
    let released = json!({"metadata": {"name": "data"}, "spec": {}});
    allowed(
        &c,
        &Request::update(PVC, NO_PARAMS, pvc, released).by(
            "system:serviceaccount:kube-system:pvc-protection-controller",
            &[],
        ),
    );
}

// ----- 2. services -----

fn service(kind: &str, extra: Json) -> Json {
    let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": kind, "ports": [{"port": 80}], "selector": {"app": "web"}}});
    if let (Some(spec), Some(extra)) = (s["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    s
}

#[test]
fn services_node_ports_load_balancers_and_external_ips() {
    let c = cluster();
    allowed(
        &c,
        &Request::create(SERVICE, STRICT, service("ClusterIP", json!({}))),
    );
    let mut untyped = service("ClusterIP", json!({}));
    untyped["spec"].as_object_mut().unwrap().remove("type");
    allowed(&c, &Request::create(SERVICE, STRICT, untyped));
    denied(
        &c,
        &Request::create(SERVICE, STRICT, service("NodePort", json!({}))),
        &[
            "Service web: spec.type NodePort is not allowed",
            "isolation.allowNodePorts",
        ],
    );
    denied(
        &c,
        &Request::create(SERVICE, STRICT, service("LoadBalancer", json!({}))),
        &[
            "spec.type LoadBalancer is not allowed",
            "isolation.allowLoadBalancers",
        ],
    );
    // strict refuses load balancers for what they are, not for their node ports
    let Err(msgs) = c.admit(&Request::create(
        SERVICE,
        STRICT,
        service(
            "LoadBalancer",
            json!({"allocateLoadBalancerNodePorts": true}),
        ),
    )) else {
        panic!("a LoadBalancer in the strict tenant must be denied");
    };
    assert!(
        msgs.iter()
            .all(|m| !m.contains("allocateLoadBalancerNodePorts")),
        "{msgs:#?}"
    );
    // the standard preset: no NodePort, no externalIPs, and load balancers without node ports
    denied(
        &c,
        &Request::create(SERVICE, STD, service("NodePort", json!({}))),
        &["NodePort"],
    );
    for lb in [
        service("LoadBalancer", json!({})),
        service(
            "LoadBalancer",
            json!({"allocateLoadBalancerNodePorts": true}),
        ),
    ] {
        denied(
            &c,
            &Request::create(SERVICE, STD, lb),
            &[
                "Service web: a LoadBalancer must set spec.allocateLoadBalancerNodePorts: false",
                "isolation.allowNodePorts",
            ],
        );
    }
    allowed(
        &c,
        &Request::create(
            SERVICE,
            STD,
            service(
                "LoadBalancer",
                json!({"allocateLoadBalancerNodePorts": false}),
            ),
        ),
    );
    denied(
        &c,
        &Request::create(
            SERVICE,
            STD,
            service(
                "LoadBalancer",
                json!({"allocateLoadBalancerNodePorts": false,
                       "ports": [{"port": 80}, {"port": 443, "nodePort": 30443}]}),
            ),
        ),
        &["Service web: spec.ports[*].nodePort (30443) is not allowed"],
    );
    // turning a ClusterIP Service into a load balancer with node ports is checked too
    denied(
        &c,
        &Request::update(
            SERVICE,
            STD,
            service("ClusterIP", json!({})),
            service("LoadBalancer", json!({})),
        ),
        &["allocateLoadBalancerNodePorts: false"],
    );
    denied(
        &c,
        &Request::create(
            SERVICE,
            STD,
            service("ClusterIP", json!({"externalIPs": ["10.0.0.10"]})),
        ),
        &[
            "spec.externalIPs (10.0.0.10) is not allowed",
            "CVE-2020-8554",
        ],
    );
    // changing the type later is checked too
    denied(
        &c,
        &Request::update(
            SERVICE,
            STD,
            service("ClusterIP", json!({})),
            service("NodePort", json!({})),
        ),
        &["NodePort"],
    );
    for kind in ["NodePort", "LoadBalancer"] {
        allowed(
            &c,
            &Request::create(
                SERVICE,
                OPEN,
                service(kind, json!({"externalIPs": ["10.0.0.10"]})),
            ),
        );
    }
    allowed(
        &c,
        &Request::create(
            SERVICE,
            OPEN,
            service(
                "LoadBalancer",
                json!({"ports": [{"port": 80, "nodePort": 30080}]}),
            ),
        ),
    );
    // a standard tenant whose NodePorts are allowed keeps its load balancers' node ports
    let np = cluster_with(IsolationSpec {
        allow_node_ports: Some(true),
        ..Default::default()
    });
    allowed(
        &np,
        &Request::create(SERVICE, STD, service("LoadBalancer", json!({}))),
    );
    allowed(
        &c,
        &Request::create(SERVICE, STRICT, service("NodePort", json!({}))).by(OPERATOR, &[]),
    );
}

/// What a Service counts against `services.nodeports` and `services.loadbalancers`, as the
/// API server's quota evaluator counts it: every port of a NodePort Service; every port of a
/// LoadBalancer, unless it sets `allocateLoadBalancerNodePorts: false`, when only the ports
/// naming a `nodePort` count.
fn quota_usage(svc: &Json) -> (usize, usize) {
    let spec = &svc["spec"];
    let ports = spec["ports"].as_array().cloned().unwrap_or_default();
    match spec["type"].as_str() {
        Some("NodePort") => (ports.len(), 0),
        Some("LoadBalancer") if spec["allocateLoadBalancerNodePorts"] == json!(false) => (
            ports
                .iter()
                .filter(|p| p["nodePort"].as_i64().is_some_and(|n| n != 0))
                .count(),
            1,
        ),
        Some("LoadBalancer") => (ports.len(), 1),
        _ => (0, 0),
    }
}

/// The presets are consistent: every Service the services policy admits fits the tenant's
/// quota, so no Service is admitted by one guardrail only to be refused by the other; and where
/// the isolation settings allow load balancers, at least one form of them is admitted.
#[test]
fn services_the_policy_admits_fit_the_quota() {
    let level = |l: IsolationLevel, f: fn(&mut IsolationSpec)| {
        let mut i = IsolationSpec {
            isolation_level: Some(l),
            ..Default::default()
        };
        f(&mut i);
        i
    };
    let settings = [
        level(IsolationLevel::Strict, |_| {}),
        level(IsolationLevel::Standard, |_| {}),
        level(IsolationLevel::Permissive, |_| {}),
        level(IsolationLevel::Standard, |i| {
            i.allow_node_ports = Some(true)
        }),
        level(IsolationLevel::Strict, |i| {
            i.allow_load_balancers = Some(true)
        }),
        level(IsolationLevel::Permissive, |i| {
            i.allow_node_ports = Some(false)
        }),
    ];
    let candidates = [
        service("ClusterIP", json!({})),
        service("NodePort", json!({})),
        service("LoadBalancer", json!({})),
        service(
            "LoadBalancer",
            json!({"allocateLoadBalancerNodePorts": true}),
        ),
        service(
            "LoadBalancer",
            json!({"allocateLoadBalancerNodePorts": false}),
        ),
        service(
            "LoadBalancer",
            json!({"allocateLoadBalancerNodePorts": false, "ports": [{"port": 80, "nodePort": 30080}]}),
        ),
    ];
    for isolation in settings {
        let t = std_tenant(isolation.clone());
        let eff = Effective::of(&t);
        let (ns, params) = params_of(&t);
        let c = Cluster {
            objects: shared_policies(&BuildContext::default()).unwrap(),
            namespaces: BTreeMap::from([(ns.clone(), tenant_ns("std"))]),
            params: BTreeMap::from([(ns.clone(), params)]),
        };
        let hard = tenant_core::build::quota::hard_limits(&t, &eff, &BuildContext::default())
            .unwrap()
            .unscoped;
        let limit = |key: &str| hard.get(key).map(|q| q.0.parse::<usize>().unwrap());
        let mut admitted_lb = false;
        for svc in &candidates {
            if c.admit(&Request::create(SERVICE, &ns, svc.clone()))
                .is_err()
            {
                continue;
            }
            let (node_ports, lbs) = quota_usage(svc);
            admitted_lb |= lbs > 0;
            assert!(
                limit("services.nodeports").is_none_or(|n| node_ports <= n),
                "{isolation:?}: admitted {svc} takes {node_ports} node ports, quota {hard:?}"
            );
            assert!(
                limit("services.loadbalancers").is_none_or(|n| lbs <= n),
                "{isolation:?}: admitted {svc} is a load balancer, quota {hard:?}"
            );
        }
        assert_eq!(
            admitted_lb, eff.isolation.allow_load_balancers,
            "{isolation:?}: load balancers allowed but none admitted (or the reverse)"
        );
    }
}

// ----- 3. storage -----

fn pvc(spec: Json) -> Json {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "spec": spec})
}

#[test]
fn storage_classes_volume_names_and_data_sources() {
    let c = cluster();
    let base =
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
    let with = |extra: Json| {
        let mut s = base.clone();
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        pvc(s)
    };
    allowed(
        &c,
        &Request::create(PVC, STRICT, with(json!({"storageClassName": "fast"}))),
    );
    denied(
        &c,
        &Request::create(PVC, STRICT, with(json!({}))),
        &[
            "PersistentVolumeClaim data: spec.storageClassName must be set",
            "allowed: fast, standard",
        ],
    );
    denied(
        &c,
        &Request::create(PVC, STRICT, with(json!({"storageClassName": "premium"}))),
        &["spec.storageClassName premium is not allowed"],
    );
    denied(
        &c,
        &Request::create(PVC, STRICT, with(json!({"storageClassName": ""}))),
        &["spec.storageClassName  is not allowed"],
    );
    // naming a PersistentVolume, at creation or later while unbound
    denied(
        &c,
        &Request::create(
            PVC,
            STRICT,
            with(json!({"storageClassName": "fast", "volumeName": "pv-of-globex"})),
        ),
        &["spec.volumeName pv-of-globex may not name a pre-existing PersistentVolume"],
    );
    let unbound = with(json!({"storageClassName": "fast"}));
    let claimed = with(json!({"storageClassName": "fast", "volumeName": "pv-of-globex"}));
    denied(
        &c,
        &Request::update(PVC, STRICT, unbound.clone(), claimed.clone()),
        &["spec.volumeName pv-of-globex"],
    );
    // the PV controller binds (exempt), after which a resize passes
    allowed(
        &c,
        &Request::update(PVC, STRICT, unbound, claimed.clone()).by(
            "system:serviceaccount:kube-system:persistent-volume-binder",
            &[],
        ),
    );
    let mut resized = claimed.clone();
    resized["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
    allowed(&c, &Request::update(PVC, STRICT, claimed, resized));
    // a PVC made before the class list existed can still be resized
    let legacy = with(json!({}));
    let mut legacy_resized = legacy.clone();
    legacy_resized["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
    allowed(&c, &Request::update(PVC, STRICT, legacy, legacy_resized));
    denied(
        &c,
        &Request::create(
            PVC,
            STRICT,
            with(
                json!({"storageClassName": "fast", "dataSourceRef": {"kind": "VolumeSnapshot", "name": "s", "namespace": "tenant-globex-production"}}),
            ),
        ),
        &["spec.dataSourceRef.namespace tenant-globex-production is another namespace"],
    );
    allowed(
        &c,
        &Request::create(
            PVC,
            STRICT,
            with(
                json!({"storageClassName": "fast", "dataSourceRef": {"kind": "VolumeSnapshot", "name": "s", "namespace": STRICT}}),
            ),
        ),
    );
    // the permissive tenant: no class list, no PV access control
    allowed(
        &c,
        &Request::create(PVC, OPEN, with(json!({"volumeName": "pv-1"}))),
    );
}

// ----- 4. replicas -----

#[test]
fn replicas_minimum_for_deployments_scale_and_hpas() {
    let c = cluster();
    allowed(
        &c,
        &Request::create(DEPLOYMENT, STRICT, deployment(good_pod_spec(), Some(2))),
    );
    denied(
        &c,
        &Request::create(DEPLOYMENT, STRICT, deployment(good_pod_spec(), Some(1))),
        &[
            "replicas: Deployment web: spec.replicas is 1 but this tenant requires at least 2 (limits.minReplicas)",
        ],
    );
    denied(
        &c,
        &Request::create(DEPLOYMENT, STRICT, deployment(good_pod_spec(), None)),
        &["spec.replicas is 1"],
    );
    let sts = json!({"kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"replicas": 0, "template": {"spec": good_pod_spec()}}});
    denied(
        &c,
        &Request::create(STATEFULSET, STRICT, sts),
        &["StatefulSet db: spec.replicas is 0"],
    );
    // kubectl scale goes through the scale subresource; replicas 0 is omitted there
    let scale = |r: Option<i64>| {
        let mut s = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {}});
        if let Some(r) = r {
            s["spec"]["replicas"] = json!(r);
        }
        s
    };
    denied(
        &c,
        &Request::update(DEPLOYMENT_SCALE, STRICT, scale(Some(2)), scale(Some(1))),
        &["Scale web: spec.replicas is 1"],
    );
    denied(
        &c,
        &Request::update(DEPLOYMENT_SCALE, STRICT, scale(Some(2)), scale(None)),
        &["spec.replicas is 0"],
    );
    allowed(
        &c,
        &Request::update(DEPLOYMENT_SCALE, STRICT, scale(Some(2)), scale(Some(3))),
    );
    let hpa = |min: Option<i64>, target: &str| {
        let mut h = json!({"kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": target, "name": "web"}, "maxReplicas": 5}});
        if let Some(m) = min {
            h["spec"]["minReplicas"] = json!(m);
        }
        h
    };
    denied(
        &c,
        &Request::create(HPA, STRICT, hpa(None, "Deployment")),
        &["HorizontalPodAutoscaler web: spec.minReplicas is 1"],
    );
    allowed(
        &c,
        &Request::create(HPA, STRICT, hpa(Some(2), "Deployment")),
    );
    allowed(&c, &Request::create(HPA, STRICT, hpa(None, "Rollout")));
    // no minimum: anything goes
    allowed(
        &c,
        &Request::create(
            DEPLOYMENT,
            OPEN,
            deployment(
                json!({"containers": [{"name": "a", "image": "x"}]}),
                Some(0),
            ),
        ),
    );
    allowed(
        &c,
        &Request::update(DEPLOYMENT_SCALE, OPEN, scale(Some(1)), scale(None)),
    );
}

// ----- 5. rbac -----

fn rolebinding(name: &str, kind: &str, role: &str) -> Json {
    json!({"kind": "RoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "User", "name": "bob@example.com"}]})
}

#[test]
fn rbac_role_refs_and_reserved_names() {
    let c = cluster();
    allowed(
        &c,
        &Request::create(
            ROLEBINDING,
            STRICT,
            rolebinding("bob-dev", "Role", "tenant-developer"),
        ),
    );
    // the tenant ClusterRoles: a tenant admin may hand them out in the namespace
    for cr in ["tenant-admin", "tenant-developer", "tenant-viewer"] {
        allowed(
            &c,
            &Request::create(ROLEBINDING, OPEN, rolebinding("bob", "ClusterRole", cr)),
        );
    }
    for cr in ["admin", "edit", "view", "cluster-admin", "tenant-operator"] {
        denied(
            &c,
            &Request::create(ROLEBINDING, OPEN, rolebinding("bob", "ClusterRole", cr)),
            &[
                &format!(
                    "RoleBinding bob: roleRef ClusterRole {cr} is not allowed in a tenant namespace"
                ),
                "allowed ClusterRoles: none",
            ],
        );
    }
    denied(
        &c,
        &Request::create(
            ROLEBINDING,
            STRICT,
            rolebinding("tenant-admins", "Role", "reader"),
        ),
        &["RoleBinding tenant-admins: metadata.name may not start with tenant-"],
    );
    denied(
        &c,
        &Request::create(
            ROLE,
            STRICT,
            json!({"kind": "Role", "metadata": {"name": "tenant-admin"}, "rules": []}),
        ),
        &["Role tenant-admin: metadata.name may not start with tenant-"],
    );
    allowed(
        &c,
        &Request::create(
            ROLE,
            STRICT,
            json!({"kind": "Role", "metadata": {"name": "reader"}, "rules": []}),
        ),
    );
    // the operator makes the tenant-* ones
    allowed(
        &c,
        &Request::create(
            ROLEBINDING,
            STRICT,
            rolebinding("tenant-admin", "Role", "tenant-admin"),
        )
        .by(OPERATOR, &[]),
    );
    allowed(
        &c,
        &Request::create(
            ROLEBINDING,
            "default",
            rolebinding("x", "ClusterRole", "admin"),
        ),
    );
}

// ----- 6. managed objects -----

fn managed(kind: &str, name: &str) -> Json {
    json!({"kind": kind, "metadata": meta(name, &[(labels::MANAGED_BY, labels::MANAGER), (labels::TENANT_ID, "acme")])})
}

#[test]
fn managed_objects_are_the_operators_alone() {
    let c = cluster();
    let quota = managed("ResourceQuota", "tenant-quota");
    let mut raised = quota.clone();
    raised["spec"] = json!({"hard": {"cpu": "1000"}});
    denied(
        &c,
        &Request::update(QUOTA, STRICT, quota.clone(), raised.clone()),
        &[
            "managed-objects: ResourceQuota objects in tenant namespaces are managed by the tenant operator",
            "UPDATE of tenant-quota denied",
        ],
    );
    denied(
        &c,
        &Request::delete(QUOTA, STRICT, quota.clone()),
        &["DELETE of tenant-quota denied"],
    );
    // by kind even without the label: a tenant's own NetworkPolicy would punch through the default deny
    let np = json!({"kind": "NetworkPolicy", "metadata": {"name": "allow-all"}, "spec": {"podSelector": {}, "ingress": [{}]}});
    denied(
        &c,
        &Request::create(NETPOL, STRICT, np.clone()),
        &[
            "NetworkPolicy objects in tenant namespaces",
            "CREATE of allow-all denied",
        ],
    );
    denied(
        &c,
        &Request::delete(
            TENANT_POLICY,
            OPEN,
            managed("TenantPolicy", "tenant-policy"),
        ),
        &["TenantPolicy objects"],
    );
    // by label: anything the operator made, old or new object
    let cm = managed("ConfigMap", "tenant-config");
    let mut edited = cm.clone();
    edited["data"] = json!({"x": "y"});
    denied(
        &c,
        &Request::update(CONFIGMAP, OPEN, cm.clone(), edited),
        &[
            "ConfigMap tenant-config is labelled app.kubernetes.io/managed-by=tenant-operator",
            "UPDATE denied",
        ],
    );
    denied(
        &c,
        &Request::delete(CONFIGMAP, OPEN, cm.clone()),
        &["DELETE denied"],
    );
    let mut unlabelled = cm.clone();
    unlabelled["metadata"]["labels"] = json!({});
    denied(
        &c,
        &Request::update(CONFIGMAP, OPEN, cm.clone(), unlabelled),
        &["UPDATE denied"],
    );
    denied(
        &c,
        &Request::create(CONFIGMAP, OPEN, managed("ConfigMap", "spoof")),
        &["ConfigMap spoof is labelled", "CREATE denied"],
    );
    let sa = managed("ServiceAccount", "deployer");
    denied(
        &c,
        &Request::delete(
            Kind {
                group: "",
                version: "v1",
                kind: "ServiceAccount",
                resource: "serviceaccounts",
                sub: "",
            },
            STRICT,
            sa,
        ),
        &["ServiceAccount deployer"],
    );
    // the tenant's own objects and the pods of operator Deployments are the tenant's
    allowed(
        &c,
        &Request::create(
            CONFIGMAP,
            OPEN,
            json!({"kind": "ConfigMap", "metadata": meta("mine", &[("app", "x")])}),
        ),
    );
    allowed(
        &c,
        &Request::delete(POD, OPEN, managed("Pod", "api-7d9f-abcde")),
    );
    // the operator, and the namespace controller tearing the namespace down
    allowed(
        &c,
        &Request::update(QUOTA, STRICT, quota.clone(), raised).by(OPERATOR, &[]),
    );
    allowed(
        &c,
        &Request::delete(QUOTA, STRICT, quota.clone()).by(
            "system:serviceaccount:kube-system:namespace-controller",
            &[],
        ),
    );
    // outside tenant namespaces nothing is protected
    allowed(&c, &Request::delete(QUOTA, "default", quota));
}

// ----- 7. namespace labels -----

fn namespace(name: &str, l: &BTreeMap<String, String>) -> Json {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": l}})
}

#[test]
fn namespace_labels_cannot_move_a_namespace_out_of_or_into_a_tenant() {
    let c = cluster();
    let mut l = tenant_ns("acme");
    l.insert(labels::PSA_ENFORCE.into(), "restricted".into());
    let old = namespace(STRICT, &l);
    let with = |f: &dyn Fn(&mut BTreeMap<String, String>)| {
        let mut l2 = l.clone();
        f(&mut l2);
        namespace(STRICT, &l2)
    };
    let cases: [(&str, Json); 5] = [
        (
            "shop.pilab.hu/tenant-namespace",
            with(&|l| {
                l.remove(labels::TENANT_NAMESPACE);
            }),
        ),
        (
            "shop.pilab.hu/tenant-id",
            with(&|l| {
                l.insert(labels::TENANT_ID.into(), "globex".into());
            }),
        ),
        (
            "pod-security.kubernetes.io/enforce",
            with(&|l| {
                l.insert(labels::PSA_ENFORCE.into(), "privileged".into());
            }),
        ),
        (
            "app.kubernetes.io/managed-by",
            with(&|l| {
                l.remove(labels::MANAGED_BY);
            }),
        ),
        (
            "shop.pilab.hu/cost-center",
            with(&|l| {
                l.insert(labels::COST_CENTER.into(), "free".into());
            }),
        ),
    ];
    for (label, new) in cases {
        let req = Request::update(NAMESPACE, "", old.clone(), new);
        denied(
            &c,
            &req,
            &[
                &format!("namespace-labels: namespace {STRICT}: labels {label}"),
                "managed by the tenant operator",
            ],
        );
        allowed(&c, &req.by(OPERATOR, &[]));
    }
    allowed(
        &c,
        &Request::update(
            NAMESPACE,
            "",
            old.clone(),
            with(&|l| {
                l.insert("team".into(), "payments".into());
            }),
        ),
    );
    denied(
        &c,
        &Request::delete(NAMESPACE, "", old.clone()),
        &[
            &format!("namespace {STRICT} belongs to a tenant"),
            "delete the Tenant",
        ],
    );
    allowed(&c, &Request::delete(NAMESPACE, "", old).by(OPERATOR, &[]));

    // other namespaces may not claim a tenant's identity (NetworkPolicy peers select on it)
    let plain = namespace(
        "sandbox",
        &BTreeMap::from([("team".to_string(), "x".to_string())]),
    );
    let claims = namespace(
        "sandbox",
        &BTreeMap::from([(labels::TENANT_ID.to_string(), "acme".to_string())]),
    );
    denied(
        &c,
        &Request::update(NAMESPACE, "", plain.clone(), claims.clone()),
        &["labels shop.pilab.hu/tenant-id"],
    );
    denied(
        &c,
        &Request::create(NAMESPACE, "", claims),
        &["namespace sandbox: labels shop.pilab.hu/tenant-id"],
    );
    let mut psa = BTreeMap::from([("team".to_string(), "x".to_string())]);
    psa.insert(labels::PSA_ENFORCE.into(), "privileged".into());
    allowed(
        &c,
        &Request::update(NAMESPACE, "", plain.clone(), namespace("sandbox", &psa)),
    );
    allowed(&c, &Request::delete(NAMESPACE, "", plain));
}

#[test]
fn namespace_ownership_marks_are_the_operators() {
    let c = cluster();
    let owner = |v: &str, uid: &str| json!({labels::OWNER: v, labels::OWNER_UID: uid});
    let ns = |name: &str, l: &BTreeMap<String, String>, ann: Json| {
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": l, "annotations": ann}})
    };
    // A tenant namespace: its owner annotations may not be changed, added or removed.
    let l = tenant_ns("acme");
    let old = ns(STRICT, &l, owner("Tenant/tenants/acme", "u-acme"));
    for (what, new_ann) in [
        ("changed", owner("Tenant/tenants/other", "u-other")),
        ("removed", json!({})),
        ("uid changed", owner("Tenant/tenants/acme", "u-forged")),
    ] {
        let req = Request::update(NAMESPACE, "", old.clone(), ns(STRICT, &l, new_ann));
        denied(
            &c,
            &req,
            &[
                &format!("namespace-labels: namespace {STRICT}: annotations"),
                "record which Tenant owns it",
            ],
        );
        allowed(&c, &req.by(OPERATOR, &[]));
        let _ = what;
    }
    // Other annotations stay free.
    allowed(
        &c,
        &Request::update(
            NAMESPACE,
            "",
            old.clone(),
            ns(
                STRICT,
                &l,
                json!({labels::OWNER: "Tenant/tenants/acme", labels::OWNER_UID: "u-acme", "note": "x"}),
            ),
        ),
    );

    // A plain namespace may not be marked as the operator's (the label), nor, once it carries
    // the label, be given owner annotations.
    let plain_l = BTreeMap::from([("team".to_string(), "x".to_string())]);
    let plain = ns("sandbox", &plain_l, json!({}));
    let mut marked_l = plain_l.clone();
    marked_l.insert(labels::MANAGED_BY.into(), labels::MANAGER.into());
    denied(
        &c,
        &Request::update(
            NAMESPACE,
            "",
            plain.clone(),
            ns("sandbox", &marked_l, owner("Tenant/tenants/acme", "u-acme")),
        ),
        &["labels app.kubernetes.io/managed-by"],
    );
    denied(
        &c,
        &Request::create(NAMESPACE, "", ns("sandbox", &marked_l, json!({}))),
        &["labels app.kubernetes.io/managed-by"],
    );
    // Other managers' label values, and annotating a plain namespace, are not the operator's
    // business (the operator ignores namespaces without its label).
    let mut helm_l = plain_l.clone();
    helm_l.insert(labels::MANAGED_BY.into(), "Helm".into());
    allowed(
        &c,
        &Request::update(
            NAMESPACE,
            "",
            plain.clone(),
            ns("sandbox", &helm_l, json!({})),
        ),
    );
    allowed(
        &c,
        &Request::update(
            NAMESPACE,
            "",
            plain,
            ns("sandbox", &plain_l, owner("Tenant/tenants/acme", "u-acme")),
        ),
    );
}

// ----- 8. ingress hosts -----

fn ingress(hosts: &[&str]) -> Json {
    let rules: Vec<Json> = hosts
        .iter()
        .map(|h| {
            if h.is_empty() {
                json!({"http": {"paths": []}})
            } else {
                json!({"host": h, "http": {"paths": []}})
            }
        })
        .collect();
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "web"}, "spec": {"rules": rules}})
}

/// The cluster with a domain map in which acme (STRICT) holds `shop.acme.com` and `*.acme.dev`,
/// and std (STD) holds `std.example.com`.
fn cluster_with_domains(unclaimed: tenant_core::build::domains::Unclaimed) -> Cluster {
    use tenant_core::build::domains;
    let mut c = cluster();
    let tenant = |id: &str, domain: &str| {
        let mut t = Tenant::new(id, TenantSpec::new(id, TenantType::Production));
        t.spec.custom_domain = Some(domain.into());
        t
    };
    let map = domains::config_map(
        &[
            tenant("acme", "shop.acme.com"),
            tenant("acme", "*.acme.dev"),
            tenant("std", "std.example.com"),
        ],
        "tenant-system",
        unclaimed,
    );
    c.params.insert(
        format!("tenant-system/{}", domains::CONFIG_MAP),
        map.manifest,
    );
    c
}

#[test]
fn ingress_hosts_of_another_tenant_are_refused() {
    use tenant_core::build::domains::Unclaimed;
    let c = cluster_with_domains(Unclaimed::Allow);
    // its own hosts, and hosts no tenant holds (the platform allows them)
    for hosts in [
        &["shop.acme.com"][..],
        &["api.acme.dev", "x.y.acme.dev"],
        &["*.acme.dev"],
        &["free.example.org"],
    ] {
        allowed(&c, &Request::create(INGRESS, STRICT, ingress(hosts)));
    }
    // a catch-all receives every host nothing else routes, other tenants' too
    let mut default_backend = ingress(&["shop.acme.com"]);
    default_backend["spec"]["defaultBackend"] =
        json!({"service": {"name": "web", "port": {"number": 80}}});
    for obj in [ingress(&["free.example.org", ""]), default_backend] {
        denied(
            &c,
            &Request::create(INGRESS, STRICT, obj),
            &["(a catch-all without host) covers hosts of another tenant"],
        );
    }
    // another tenant's host, a wildcard parent covering it, a host under its wildcard
    for (ns, hosts, named) in [
        (STRICT, &["std.example.com"][..], "std.example.com"),
        (STRICT, &["*.example.com"], "*.example.com"),
        (STD, &["shop.acme.com", "ok.example.org"], "shop.acme.com"),
        (STD, &["a.acme.dev"], "a.acme.dev"),
        (STD, &["*.b.acme.dev"], "*.b.acme.dev"),
    ] {
        let req = Request::create(INGRESS, ns, ingress(hosts));
        denied(
            &c,
            &req,
            &[&format!(
                "ingress-hosts: Ingress web: {named} belongs to another tenant"
            )],
        );
        allowed(&c, &req.by(OPERATOR, &[]));
        // on update too
        let upd = Request::update(INGRESS, ns, ingress(&["free.example.org"]), ingress(hosts));
        denied(&c, &upd, &["belongs to another tenant"]);
    }
    // outside tenant namespaces nothing is checked
    allowed(
        &c,
        &Request::create(INGRESS, "default", ingress(&["shop.acme.com"])),
    );
}

fn http_route(hostnames: Option<&[&str]>) -> Json {
    let mut spec = json!({"parentRefs": [{"name": "shared", "namespace": "gateways"}]});
    if let Some(h) = hostnames {
        spec["hostnames"] = json!(h);
    }
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
           "metadata": {"name": "web"}, "spec": spec})
}

fn gateway(hostnames: &[Option<&str>]) -> Json {
    let listeners: Vec<Json> = hostnames
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut l = json!({"name": format!("l{i}"), "port": 443, "protocol": "HTTPS"});
            if let Some(h) = h {
                l["hostname"] = json!(h);
            }
            l
        })
        .collect();
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
           "metadata": {"name": "own"}, "spec": {"gatewayClassName": "x", "listeners": listeners}})
}

#[test]
fn gateway_api_hosts_follow_the_same_rule() {
    use tenant_core::build::domains::Unclaimed;
    let c = cluster_with_domains(Unclaimed::Allow);
    allowed(
        &c,
        &Request::create(
            HTTP_ROUTE,
            STRICT,
            http_route(Some(&["shop.acme.com", "a.acme.dev"])),
        ),
    );
    allowed(
        &c,
        &Request::create(
            GATEWAY,
            STRICT,
            gateway(&[Some("*.acme.dev"), Some("free.example.org")]),
        ),
    );
    denied(
        &c,
        &Request::create(
            HTTP_ROUTE,
            STD,
            http_route(Some(&["ok.example.org", "shop.acme.com"])),
        ),
        &["ingress-hosts: HTTPRoute web: shop.acme.com belongs to another tenant"],
    );
    denied(
        &c,
        &Request::create(GATEWAY, STD, gateway(&[Some("*.acme.dev")])),
        &["ingress-hosts: Gateway own: *.acme.dev belongs to another tenant"],
    );
    // a route without hostnames, a listener without hostname: catch-alls
    for (kind, obj) in [
        (HTTP_ROUTE, http_route(None)),
        (HTTP_ROUTE, http_route(Some(&[]))),
        (GATEWAY, gateway(&[None])),
    ] {
        denied(
            &c,
            &Request::create(kind, STD, obj),
            &["(a catch-all without host) covers hosts of another tenant"],
        );
    }
    let upd = Request::update(
        HTTP_ROUTE,
        STD,
        http_route(Some(&["std.example.com"])),
        http_route(Some(&["*.acme.dev"])),
    );
    denied(&c, &upd, &["belongs to another tenant"]);
    allowed(&c, &upd.by(OPERATOR, &[]));
    // with no other tenant holding a domain, a catch-all takes nothing from anyone
    let mut alone = cluster_with_domains(Unclaimed::Allow);
    let key = format!("tenant-system/{}", tenant_core::build::domains::CONFIG_MAP);
    if let Some(data) = alone
        .params
        .get_mut(&key)
        .and_then(|m| m["data"].as_object_mut())
    {
        data.retain(|_, v| v == "acme" || v == "allow");
    }
    allowed(
        &alone,
        &Request::create(HTTP_ROUTE, STRICT, http_route(None)),
    );
    denied(
        &alone,
        &Request::create(HTTP_ROUTE, STD, http_route(None)),
        &["covers hosts of another tenant"],
    );
    let refuse = cluster_with_domains(Unclaimed::Refuse);
    denied(
        &refuse,
        &Request::create(HTTP_ROUTE, STRICT, http_route(Some(&["free.example.org"]))),
        &["ingress-hosts: HTTPRoute web: free.example.org is not under this tenant's customDomain"],
    );
}

#[test]
fn unclaimed_hosts_follow_the_platform_setting() {
    use tenant_core::build::domains::Unclaimed;
    let c = cluster_with_domains(Unclaimed::Refuse);
    allowed(
        &c,
        &Request::create(INGRESS, STRICT, ingress(&["shop.acme.com", "a.acme.dev"])),
    );
    denied(
        &c,
        &Request::create(INGRESS, STRICT, ingress(&["free.example.org"])),
        &["free.example.org is not under this tenant's customDomain"],
    );
    denied(
        &c,
        &Request::create(INGRESS, STRICT, ingress(&[""])),
        &["(a catch-all without host)"],
    );
    // a tenant without a domain may publish nothing
    denied(
        &c,
        &Request::create(INGRESS, OPEN, ingress(&["open.example.org"])),
        &["not under this tenant's customDomain"],
    );
}

#[test]
fn without_the_domain_map_tenant_ingresses_are_refused() {
    let c = cluster();
    denied(
        &c,
        &Request::create(INGRESS, STRICT, ingress(&["shop.acme.com"])),
        &["no params found"],
    );
}
