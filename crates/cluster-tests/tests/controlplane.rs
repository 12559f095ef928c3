//! Proves the local control plane is a real one: the apiserver's admission chain, authentication,
//! authorization and audit, and the controller-manager, scheduler and kwok doing their jobs.
//!
//! Each test makes its own namespaces (unique names) and polls with a deadline for asynchronous effects.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ResourceQuota, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use testenv::{ControlPlane, OPERATOR_USER, poll_until, unique_name};

const TIMEOUT: Duration = Duration::from_secs(90);

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).context("building an object from JSON")
}

async fn create_namespace(
    client: &Client,
    prefix: &str,
    labels: serde_json::Value,
) -> Result<String> {
    let name = unique_name(prefix);
    let ns: Namespace = from_json(json!({
        "metadata": { "name": name, "labels": labels }
    }))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(name)
}

fn configmap(name: &str, labels: serde_json::Value) -> Result<ConfigMap> {
    from_json(json!({
        "metadata": { "name": name, "labels": labels },
        "data": { "key": "value" }
    }))
}

fn api_error(err: &kube::Error) -> Option<&kube::core::Status> {
    match err {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

/// Creates `obj`, expecting a 403 from the apiserver; returns its message.
async fn expect_forbidden<K>(api: &Api<K>, obj: &K) -> Result<String>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(created) => bail!("expected a 403, but the object was created: {created:?}"),
        Err(err) => match api_error(&err) {
            Some(status) if status.is_forbidden() => Ok(status.message.clone()),
            _ => bail!("expected a 403, got: {err}"),
        },
    }
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn apiserver_and_kubectl_report_the_pinned_version() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let client = cp.admin_client().await?;
    let version = client.apiserver_version().await?;
    assert_eq!(version.git_version, "v1.37.2");
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "37")
    );

    let out = cp
        .kubectl()
        .args(["version", "--client", "-o", "json"])
        .output()?;
    ensure!(out.status.success(), "kubectl version failed: {out:?}");
    let client_version: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(client_version["clientVersion"]["gitVersion"], "v1.37.2");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn token_users_authenticate_with_their_groups() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let cases: [(&str, &[&str]); 6] = [
        ("admin", &["system:masters"]),
        ("alice", &["team-a"]),
        ("bob", &["team-b"]),
        ("carol", &["team-c"]),
        ("eve", &[]),
        (
            OPERATOR_USER,
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:tenant-system",
            ],
        ),
    ];
    for (user, groups) in cases {
        let client = cp.client_as(user).await?;
        let review: SelfSubjectReview = from_json(json!({}))?;
        let review = Api::<SelfSubjectReview>::all(client)
            .create(&PostParams::default(), &review)
            .await
            .with_context(|| format!("SelfSubjectReview as {user}"))?;
        let info = review
            .status
            .and_then(|s| s.user_info)
            .context("SelfSubjectReview without user info")?;
        assert_eq!(info.username.as_deref(), Some(user));
        let mut expected: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        expected.push("system:authenticated".to_string());
        let mut got = info.groups.unwrap_or_default();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "groups of {user}");
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn namespace_with_objects_is_deleted() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let client = cp.admin_client().await?;
    let ns = create_namespace(&client, "nsdel", json!({})).await?;

    // The service-account and root-CA publisher controllers fill every new namespace.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    poll_until(
        "the default service account and kube-root-ca.crt",
        TIMEOUT,
        || async {
            let sa = sas.get_opt("default").await.map_err(|e| e.to_string())?;
            let ca = cms
                .get_opt("kube-root-ca.crt")
                .await
                .map_err(|e| e.to_string())?;
            match (sa, ca) {
                (Some(_), Some(_)) => Ok(()),
                (sa, ca) => Err(format!(
                    "default SA present: {}, root CA present: {}",
                    sa.is_some(),
                    ca.is_some()
                )),
            }
        },
    )
    .await?;

    cms.create(&PostParams::default(), &configmap("payload", json!({}))?)
        .await?;
    let pod: Pod = from_json(json!({
        "metadata": { "name": "idle" },
        "spec": { "containers": [{ "name": "c", "image": "registry.invalid/idle:1" }] }
    }))?;
    Api::<Pod>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &pod)
        .await?;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.delete(&ns, &DeleteParams::default()).await?;
    poll_until(&format!("namespace {ns} to disappear"), TIMEOUT, || async {
        match namespaces.get_opt(&ns).await {
            Ok(None) => Ok(()),
            Ok(Some(n)) => Err(format!("still there, status {:?}", n.status)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn dependents_are_garbage_collected() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let client = cp.admin_client().await?;
    let ns = create_namespace(&client, "gc", json!({})).await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    let owner = cms
        .create(&PostParams::default(), &configmap("owner", json!({}))?)
        .await?;
    let owner_uid = owner.metadata.uid.context("owner without uid")?;
    let dependent: ConfigMap = from_json(json!({
        "metadata": {
            "name": "dependent",
            "ownerReferences": [{ "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid }]
        }
    }))?;
    cms.create(&PostParams::default(), &dependent).await?;
    // An unowned neighbour must survive: the collector removes dependents only.
    cms.create(&PostParams::default(), &configmap("bystander", json!({}))?)
        .await?;

    cms.delete("owner", &DeleteParams::background()).await?;
    poll_until("the dependent to be garbage collected", TIMEOUT, || async {
        match cms.get_opt("dependent").await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err("dependent still exists".to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await?;
    ensure!(
        cms.get_opt("bystander").await?.is_some(),
        "the unowned configmap was deleted"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn resource_quota_gets_usage() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let client = cp.admin_client().await?;
    let ns = create_namespace(&client, "quota", json!({})).await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(&PostParams::default(), &configmap("one", json!({}))?)
        .await?;

    let quota: ResourceQuota = from_json(json!({
        "metadata": { "name": "limits" },
        "spec": { "hard": { "configmaps": "10", "pods": "0" } }
    }))?;
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    quotas.create(&PostParams::default(), &quota).await?;

    poll_until(
        "status.used of the quota to count the configmaps",
        TIMEOUT,
        || async {
            let actual = cms
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            let q = quotas.get("limits").await.map_err(|e| e.to_string())?;
            let used = q.status.and_then(|s| s.used).unwrap_or_default();
            let configmaps = used.get("configmaps").map(|q| q.0.clone());
            if configmaps.as_deref() == Some(actual.to_string().as_str()) && actual >= 1 {
                Ok(())
            } else {
                Err(format!("used {used:?}, {actual} configmaps exist"))
            }
        },
    )
    .await?;

    // The quota is enforced at admission: pods=0 forbids any pod.
    let pod: Pod = from_json(json!({
        "metadata": { "name": "over-quota" },
        "spec": { "containers": [{ "name": "c", "image": "registry.invalid/idle:1" }] }
    }))?;
    let message = expect_forbidden(&Api::<Pod>::namespaced(client.clone(), &ns), &pod).await?;
    ensure!(
        message.contains("exceeded quota"),
        "unexpected denial: {message}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn deployment_pods_run_on_kwok_nodes() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let client = cp.admin_client().await?;
    let ns = create_namespace(&client, "deploy", json!({})).await?;
    let deployment: Deployment = from_json(json!({
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [{
                    "name": "web",
                    "image": "registry.invalid/web:1",
                    "resources": { "requests": { "cpu": "100m", "memory": "64Mi" } }
                }] }
            }
        }
    }))?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(&PostParams::default(), &deployment)
        .await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    poll_until("2 pods Running on kwok nodes", TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .map_err(|e| e.to_string())?;
        let states: Vec<(Option<String>, Option<String>)> = list
            .items
            .iter()
            .map(|p| {
                (
                    p.spec.as_ref().and_then(|s| s.node_name.clone()),
                    p.status.as_ref().and_then(|s| s.phase.clone()),
                )
            })
            .collect();
        let running = states
            .iter()
            .filter(|(node, phase)| {
                node.as_deref().is_some_and(|n| n.starts_with("kwok-node-"))
                    && phase.as_deref() == Some("Running")
            })
            .count();
        if running == 2 {
            Ok(())
        } else {
            Err(format!("(node, phase) of pods: {states:?}"))
        }
    })
    .await?;
    poll_until(
        "the deployment to report 2 available replicas",
        TIMEOUT,
        || async {
            let d = deployments.get("web").await.map_err(|e| e.to_string())?;
            let available = d.status.as_ref().and_then(|s| s.available_replicas);
            if available == Some(2) {
                Ok(())
            } else {
                Err(format!("status {:?}", d.status))
            }
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn pod_security_restricted_rejects_privileged_pod() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let client = cp.admin_client().await?;
    let ns = create_namespace(
        &client,
        "psa",
        json!({ "pod-security.kubernetes.io/enforce": "restricted" }),
    )
    .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);

    let privileged: Pod = from_json(json!({
        "metadata": { "name": "privileged" },
        "spec": { "containers": [{
            "name": "c", "image": "registry.invalid/idle:1",
            "securityContext": { "privileged": true }
        }] }
    }))?;
    let message = expect_forbidden(&pods, &privileged).await?;
    ensure!(
        message.contains("violates PodSecurity \"restricted:latest\""),
        "unexpected denial: {message}"
    );

    // A pod that meets the restricted profile is admitted: the denial above is the policy's, not a blanket one.
    let compliant: Pod = from_json(json!({
        "metadata": { "name": "compliant" },
        "spec": {
            "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
            "containers": [{
                "name": "c", "image": "registry.invalid/idle:1",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": { "drop": ["ALL"] },
                    "runAsUser": 1000
                }
            }]
        }
    }))?;
    pods.create(&PostParams::default(), &compliant).await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn validating_admission_policy_with_namespaced_params() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let client = cp.admin_client().await?;
    let run = unique_name("vap");
    let with_params =
        create_namespace(&client, "vap-params", json!({ "tenant-test/vap": run })).await?;
    let without_params =
        create_namespace(&client, "vap-noparams", json!({ "tenant-test/vap": run })).await?;

    // The param object lives in the namespace of the request (paramRef has no namespace).
    let param: ConfigMap = from_json(json!({
        "metadata": { "name": "vap-param", "labels": { "tenant-test/vap-param": run } },
        "data": { "prefix": "ok-" }
    }))?;
    Api::<ConfigMap>::namespaced(client.clone(), &with_params)
        .create(&PostParams::default(), &param)
        .await?;

    let policy: ValidatingAdmissionPolicy = from_json(json!({
        "metadata": { "name": run },
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": { "apiVersion": "v1", "kind": "ConfigMap" },
            "matchConstraints": {
                "namespaceSelector": { "matchLabels": { "tenant-test/vap": run } },
                "objectSelector": { "matchLabels": { "tenant-test/vap-subject": run } },
                "resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]
                }]
            },
            "validations": [{
                "expression": "object.metadata.name.startsWith(params.data.prefix)",
                "messageExpression": "'name must start with ' + params.data.prefix"
            }]
        }
    }))?;
    let binding: ValidatingAdmissionPolicyBinding = from_json(json!({
        "metadata": { "name": run },
        "spec": {
            "policyName": run,
            "validationActions": ["Deny"],
            "paramRef": {
                "selector": { "matchLabels": { "tenant-test/vap-param": run } },
                "parameterNotFoundAction": "Deny"
            }
        }
    }))?;
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(client.clone());
    policies.create(&PostParams::default(), &policy).await?;
    bindings.create(&PostParams::default(), &binding).await?;

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &with_params);
    let labels = json!({ "tenant-test/vap-subject": run });
    // The policy takes effect asynchronously: retry with fresh names until the bad one is denied.
    let message = poll_until(
        "the policy to deny a configmap named bad-*",
        TIMEOUT,
        || async {
            let name = unique_name("bad");
            match cms
                .create(
                    &PostParams::default(),
                    &configmap(&name, labels.clone()).map_err(|e| e.to_string())?,
                )
                .await
            {
                Ok(_) => Err(format!("{name} was admitted")),
                Err(e) => match api_error(&e) {
                    Some(s) if s.code == 422 || s.is_forbidden() => Ok(s.message.clone()),
                    _ => Err(e.to_string()),
                },
            }
        },
    )
    .await?;
    ensure!(
        message.contains("name must start with ok-"),
        "unexpected denial: {message}"
    );

    // Allowed by the param; unlabelled objects are not matched at all.
    cms.create(
        &PostParams::default(),
        &configmap(&unique_name("ok"), labels.clone())?,
    )
    .await?;
    cms.create(
        &PostParams::default(),
        &configmap("bad-but-unmatched", json!({}))?,
    )
    .await?;

    // In a namespace without a param object, parameterNotFoundAction: Deny denies even a good name.
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), &without_params);
    match other
        .create(
            &PostParams::default(),
            &configmap(&unique_name("ok"), labels.clone())?,
        )
        .await
    {
        Ok(_) => bail!("created a configmap in a namespace without params"),
        Err(e) => {
            let status = api_error(&e).context(format!("unexpected error {e}"))?;
            ensure!(
                status.message.contains("no params found"),
                "unexpected denial: {}",
                status.message
            );
        }
    }

    bindings.delete(&run, &DeleteParams::default()).await?;
    policies.delete(&run, &DeleteParams::default()).await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn rbac_forbids_what_is_not_granted() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let admin = cp.admin_client().await?;
    let ns = create_namespace(&admin, "rbac", json!({})).await?;
    let alice: Api<ConfigMap> = Api::namespaced(cp.client_as("alice").await?, &ns);
    let bob: Api<ConfigMap> = Api::namespaced(cp.client_as("bob").await?, &ns);
    let eve: Api<ConfigMap> = Api::namespaced(cp.client_as("eve").await?, &ns);

    match alice.list(&ListParams::default()).await {
        Ok(_) => bail!("alice listed configmaps without any grant"),
        Err(e) => ensure!(
            api_error(&e).is_some_and(|s| s.is_forbidden()),
            "expected 403, got {e}"
        ),
    }

    // alice (user) gets `view`, group team-b (bob) gets `edit`, eve gets nothing.
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), &ns);
    for (name, role, subject) in [
        (
            "alice-view",
            "view",
            json!({ "kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice" }),
        ),
        (
            "team-b-edit",
            "edit",
            json!({ "kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "team-b" }),
        ),
    ] {
        let rb: RoleBinding = from_json(json!({
            "metadata": { "name": name },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
            "subjects": [subject]
        }))?;
        bindings.create(&PostParams::default(), &rb).await?;
    }

    poll_until(
        "alice to be allowed to list configmaps",
        TIMEOUT,
        || async {
            alice
                .list(&ListParams::default())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .await?;
    let message = expect_forbidden(&alice, &configmap("by-alice", json!({}))?).await?;
    ensure!(
        message.contains("User \"alice\" cannot create resource \"configmaps\""),
        "{message}"
    );

    poll_until(
        "bob (group team-b) to be allowed to create a configmap",
        TIMEOUT,
        || async {
            match bob
                .create(
                    &PostParams::default(),
                    &configmap("by-bob", json!({})).map_err(|e| e.to_string())?,
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if api_error(&e).is_some_and(|s| s.is_already_exists()) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await?;

    match eve.list(&ListParams::default()).await {
        Ok(_) => bail!("eve listed configmaps without any grant"),
        Err(e) => ensure!(
            api_error(&e).is_some_and(|s| s.is_forbidden()),
            "expected 403, got {e}"
        ),
    }
    // Another namespace stays closed to alice.
    let elsewhere = create_namespace(&admin, "rbac-other", json!({})).await?;
    let alice_elsewhere: Api<ConfigMap> = Api::namespaced(cp.client_as("alice").await?, &elsewhere);
    match alice_elsewhere.list(&ListParams::default()).await {
        Ok(_) => bail!("alice listed configmaps in a namespace she has no binding in"),
        Err(e) => ensure!(
            api_error(&e).is_some_and(|s| s.is_forbidden()),
            "expected 403, got {e}"
        ),
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn requests_are_written_to_the_audit_log() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let admin = cp.admin_client().await?;
    let ns = create_namespace(&admin, "audit", json!({})).await?;
    let name = unique_name("audited");
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &configmap(&name, json!({}))?)
        .await?;
    // A denied request is audited too, with its user and response code.
    let denied = expect_forbidden(
        &Api::<ConfigMap>::namespaced(cp.client_as("eve").await?, &ns),
        &configmap(&format!("{name}-eve"), json!({}))?,
    )
    .await?;
    ensure!(!denied.is_empty());

    // A create names its object in the body, which a request denied by authorization never has decoded:
    // eve's event carries no objectRef.name, so it is found by user, namespace (unique) and code.
    let find = |user: &'static str, object: Option<String>, code: i64| {
        let ns = ns.clone();
        move |events: &[serde_json::Value]| {
            events.iter().any(|e| {
                e["verb"] == "create"
                    && e["user"]["username"] == user
                    && e["objectRef"]["resource"] == "configmaps"
                    && e["objectRef"]["namespace"] == ns.as_str()
                    && object
                        .as_ref()
                        .is_none_or(|o| e["objectRef"]["name"] == o.as_str())
                    && e["responseStatus"]["code"] == code
                    && e["stage"] == "ResponseComplete"
            })
        }
    };
    let admin_create = find("admin", Some(name.clone()), 201);
    let eve_create = find("eve", None, 403);
    poll_until("audit events of both creates", TIMEOUT, || async {
        let events = cp.audit_events().map_err(|e| e.to_string())?;
        match (admin_create(&events), eve_create(&events)) {
            (true, true) => Ok(()),
            seen => Err(format!(
                "(admin create, eve create) found: {seen:?} among {} events",
                events.len()
            )),
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn kwok_nodes_are_ready_with_room_for_tests() -> Result<()> {
    let cp = ControlPlane::get().await?;
    let client = cp.admin_client().await?;
    let nodes = Api::<k8s_openapi::api::core::v1::Node>::all(client)
        .list(&ListParams::default())
        .await?;
    ensure!(!nodes.items.is_empty(), "no nodes");
    for node in nodes.items {
        let name = node.metadata.name.clone().unwrap_or_default();
        let status = node.status.context("node without status")?;
        let ready = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ensure!(ready, "node {name} not Ready");
        let allocatable: BTreeMap<_, _> = status.allocatable.unwrap_or_default();
        // The apiserver canonicalises 20000 to "20k". Room for the benchmark's pods: 1000
        // tenants of 4 services, twice (bare client and operator).
        let pods = allocatable.get("pods").map(|q| q.0.as_str());
        ensure!(
            matches!(pods, Some("20k" | "20000")),
            "{name}: allocatable pods {pods:?}"
        );
        let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
        ensure!(taints.is_empty(), "{name} is tainted: {taints:?}");
    }
    Ok(())
}
