//! Admission guardrails enforced by the API server itself: ValidatingAdmissionPolicies (VAP,
//! `admissionregistration.k8s.io/v1`) shared by all tenants, parameterised per namespace by the
//! operator-owned `TenantPolicy` named `tenant-policy`.
//!
//! # Why no webhook
//! A webhook is a separate deployment that must be up for every write it matches: when it is
//! down, either the cluster stops (fail closed) or the guardrails vanish (fail open). A VAP is
//! evaluated inside kube-apiserver, with nothing to deploy, no certificates and no network hop.
//! The policies are cluster-wide and identical for every tenant; what differs per tenant lives in
//! the `TenantPolicy` of its namespace, which the apiserver reads from its own informer.
//!
//! # What enforces what
//! | policy | params | matches (tenant namespaces only) | rules |
//! |---|---|---|---|
//! | `tenant-workloads` | yes | Pods (and containers `kubectl debug` adds to them) and the pod templates of Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers | registries (allowed / blocked, all containers incl. init and ephemeral), `imagePullPolicy: Always`, hostNetwork/hostPID/hostIPC/hostPort, hostPath, AppArmor, SELinux, dedicated nodes, CPU pinning |
//! | `tenant-services` | yes | Services | NodePort, LoadBalancer, externalIPs |
//! | `tenant-storage` | yes | PersistentVolumeClaims | storage classes, `volumeName`, cross-namespace `dataSourceRef` |
//! | `tenant-replicas` | yes | Deployments, StatefulSets, their `/scale`, HPAs targeting them | `limits.minReplicas` |
//! | `tenant-rbac` | yes | Roles, RoleBindings | roleRef to a ClusterRole only to the tenant ClusterRoles or if allowed; `tenant-*` names reserved |
//! | `tenant-managed-objects` | no | ResourceQuota, LimitRange, NetworkPolicy, TenantPolicy; any namespaced object labelled `app.kubernetes.io/managed-by=tenant-operator` (except Pods) | no create/update/delete |
//! | `tenant-namespace-labels` | no | Namespaces carrying `shop.pilab.hu/tenant-namespace` or `shop.pilab.hu/tenant-id` (old or new object) | `shop.pilab.hu/*` labels never added/changed/removed; on tenant namespaces also `app.kubernetes.io/managed-by` and `pod-security.kubernetes.io/*`; tenant namespaces not deleted |
//!
//! Pods are checked where the user writes them: the workloads policy checks pod templates, so
//! `kubectl apply` of a Deployment fails with the reason instead of leaving a ReplicaSet that
//! silently cannot create pods. The controllers that then create ReplicaSets, Jobs and Pods run
//! in kube-system and are exempt, so a template that was admitted keeps working when the tenant's
//! settings tighten later; the next change to it is checked against the new settings.
//!
//! # Who is exempt
//! Every policy has `matchConditions` that skip: the operator (`BuildContext::operator_user`),
//! the `system:masters` group, service accounts in `kube-system` (the controllers, GC, namespace
//! deletion) and `system:kube-controller-manager`. Service accounts in tenant namespaces are not
//! exempt: a tenant's CI or operator is a tenant user.
//!
//! # Decisions
//! - Images are normalised before matching, so blocking `docker.io` also blocks `nginx`
//!   (`docker.io/library/nginx`) and `bitnami/redis` (`docker.io/bitnami/redis`). A prefix matches
//!   whole path segments: `ghcr.io/acme` allows `ghcr.io/acme/app:1` but not `ghcr.io/acmecorp/x`;
//!   a prefix with a path also matches a tag or digest (`ghcr.io/acme/app` allows
//!   `ghcr.io/acme/app:1`), a bare host does not match another port (`registry.local` does not
//!   allow `registry.local:5000/x`).
//! - AppArmor is read from the `appArmorProfile` fields (pod or container `securityContext`); the
//!   deprecated annotations are not accepted in their place.
//! - SELinux: `user` and `role` may not be set, `type` only to the Pod Security "baseline" types
//!   (`container_t`, `container_init_t`, `container_kvm_t`, `container_engine_t`); `level` is free.
//! - CPU pinning: every container and init container sets `limits.cpu` to a whole number of CPUs,
//!   and `requests.cpu`, if set, equal to it (an unset request defaults to the limit). Pod
//!   templates get no LimitRange defaults, so they must say it explicitly.
//! - A LoadBalancer Service, where allowed, may allocate node ports: most cloud load balancers
//!   forward to them. Those ports only reach the Service's own pods, still count against the
//!   `services.nodeports` quota and are subject to the namespace's NetworkPolicies. Only
//!   `type: NodePort` needs `allowNodePorts`.
//! - `externalIPs` (CVE-2020-8554: intercepting traffic to any IP) only with `allowHostNamespaces`.
//! - With a non-empty storage class list a PVC must name its class: an omitted class means the
//!   cluster default, which may not be on the list and may change under the tenant.
//! - `spec.volumeName` can be set once on an existing unbound PVC, so it is checked on UPDATE too.
//! - ClusterRoles: only the operator's `tenant-admin`/`tenant-developer`/`tenant-viewer` by
//!   default (they cover the same needs, carry no aggregation labels and change only with the
//!   operator), others only when `allowedClusterRoles` names them. `admin` includes creating
//!   RoleBindings; `edit` includes impersonating service accounts; and all three aggregated
//!   roles (`view` too) grow whenever a CRD adds rules to them, after the apiserver's escalation
//!   check has passed once at bind time.
//! - Managed objects are protected by two bindings of one policy: by kind (quota, limits,
//!   network policies and the params, even ones the operator did not create: a tenant's own
//!   NetworkPolicy would be an allow rule around the default deny), and by label through
//!   `objectSelector`, which the apiserver matches against the old *and* the new object, so a
//!   DELETE (where `object` is null) and an UPDATE that removes the label are both caught without
//!   CEL. Creating objects with the operator's label is denied too, so a tenant cannot plant
//!   objects the operator would later take for its own. Pods are left out: deleting a pod of an
//!   operator Deployment is how users restart it, and pods carry the template's labels.
//! - Namespaces are cluster-scoped: a binding's `namespaceSelector` would test the *new* labels of
//!   the namespace itself, so removing the tenant label would escape the policy. The namespace
//!   policy therefore matches with `objectSelector` (old or new object) and compares old and new
//!   labels in CEL. A second binding selects on `shop.pilab.hu/tenant-id`, so no namespace can be
//!   created or relabelled into another tenant's NetworkPolicy peers.
//!
//! # Missing parameters
//! The apiserver looks the `TenantPolicy` up *before* it evaluates `matchConditions`, so with
//! `parameterNotFoundAction: Deny` a missing object denies everyone, the exempt users included.
//! Each parameterised policy therefore has two bindings:
//! - `<policy>-create` (CREATE): `Deny` when the `TenantPolicy` is missing. Nothing comes into
//!   existence unchecked. The operator must apply the `TenantPolicy` right after the Namespace,
//!   before any Deployment, Service, PVC, Role or RoleBinding.
//! - `<policy>-update` (UPDATE): `Allow` when it is missing. Tenants cannot delete it (managed
//!   objects policy), so it is only missing while the namespace is being deleted, when the
//!   namespace controller removes it first. UPDATEs must then still pass: the PVC protection, job
//!   tracking and load balancer controllers remove their finalizers with UPDATEs, and denying
//!   them would leave the namespace stuck in Terminating. (CREATEs in a terminating namespace are
//!   refused by NamespaceLifecycle before any policy runs.)
//!
//! # Known gaps
//! - Only tenant namespaces are matched: a DaemonSet elsewhere whose pods land on dedicated nodes
//!   is not stopped by these policies (taints on dedicated nodes are the complement).
//! - RBAC escalation (binding a Role with more rights than the binder has) is stopped by the
//!   apiserver's own escalation check, not here; RoleBinding subjects are not restricted.
//! - Pod rules do not look at `nodeName` (the kubelet still enforces `nodeSelector`), at
//!   `nodeAffinity` (dedicated nodes require `nodeSelector`), or at pod templates in other kinds
//!   (Argo Rollouts, Knative, `PodTemplate` objects): their controllers are not exempt, so the
//!   pods they create are still checked, just later.
//! - An empty `allowedStorageClasses` with `storageIsolation` on allows any class.

use crate::build::{BuildContext, BuildError};
use crate::naming::{self, names};
use crate::object::{Object, ObjectError};
use crate::presets::Effective;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ParamKind, ParamRef,
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingAdmissionPolicyBindingSpec, ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use std::collections::BTreeMap;
use tenant_api::{GROUP, Tenant, TenantPolicy, TenantPolicySpec, VERSION, labels};

/// Every shared object's name starts with this.
pub const NAME_PREFIX: &str = "tenant-";
pub const WORKLOADS: &str = "tenant-workloads";
pub const SERVICES: &str = "tenant-services";
pub const STORAGE: &str = "tenant-storage";
pub const REPLICAS: &str = "tenant-replicas";
pub const RBAC: &str = "tenant-rbac";
pub const MANAGED_OBJECTS: &str = "tenant-managed-objects";
pub const NAMESPACE_LABELS: &str = "tenant-namespace-labels";

/// Kinds in a tenant namespace that only the operator may write, whoever created them.
pub const OPERATOR_KINDS: [&str; 4] = [
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "TenantPolicy",
];

/// SELinux types a container may request: the Pod Security "baseline" list.
const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// The `TenantPolicy` of one tenant namespace: the parameters of the shared policies.
pub fn tenant_policy(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Object, BuildError> {
    // Nothing in the parameters depends on the other tenants or on the operator's identity.
    let _ = ctx;
    let obj = TenantPolicy {
        metadata: ObjectMeta {
            name: Some(names::POLICY_PARAMS.to_string()),
            namespace: Some(eff.namespace.clone()),
            labels: Some(naming::common_labels(&tenant.spec)),
            annotations: Some(naming::common_annotations(tenant)),
            ..Default::default()
        },
        spec: tenant_policy_spec(tenant, eff)?,
    };
    let manifest = serde_json::to_value(&obj).map_err(|source| ObjectError {
        kind: "TenantPolicy".into(),
        name: names::POLICY_PARAMS.into(),
        source,
    })?;
    Ok(Object::from_value(manifest))
}

/// The parameters of one tenant, from its effective settings.
pub fn tenant_policy_spec(
    tenant: &Tenant,
    eff: &Effective,
) -> Result<TenantPolicySpec, BuildError> {
    let iso = &eff.isolation;
    let (dedicated_node_label, dedicated_node_value) = if iso.dedicated_nodes {
        if iso.dedicated_node_label.trim().is_empty() {
            return Err(BuildError::Invalid {
                field: "spec.isolation.dedicatedNodeLabel".into(),
                message: "must be a label key when dedicatedNodes is true".into(),
            });
        }
        (iso.dedicated_node_label.clone(), eff.tenant_id.clone())
    } else {
        (String::new(), String::new())
    };
    let min_replicas = tenant
        .spec
        .limits
        .as_ref()
        .and_then(|l| l.min_replicas)
        .unwrap_or(0);
    if min_replicas < 0 {
        return Err(BuildError::Invalid {
            field: "spec.limits.minReplicas".into(),
            message: "must not be negative".into(),
        });
    }
    Ok(TenantPolicySpec {
        tenant_id: eff.tenant_id.clone(),
        environment: eff.environment.clone(),
        allowed_registries: registry_prefixes(
            &iso.allowed_registries,
            "spec.isolation.allowedRegistries",
        )?,
        blocked_registries: registry_prefixes(
            &iso.blocked_registries,
            "spec.isolation.blockedRegistries",
        )?,
        require_image_pull_policy_always: iso.require_image_pull_policy_always,
        allow_node_ports: iso.allow_node_ports,
        allow_load_balancers: iso.allow_load_balancers,
        allow_host_namespaces: iso.allow_host_namespaces,
        allow_host_path: iso.allow_host_path,
        require_app_armor: iso.app_armor,
        restrict_selinux: iso.selinux,
        cpu_pinning: iso.cpu_pinning,
        dedicated_node_label,
        dedicated_node_value,
        allowed_storage_classes: if iso.storage_isolation {
            iso.allowed_storage_classes.clone()
        } else {
            Vec::new()
        },
        pv_access_control: iso.pv_access_control,
        min_replicas,
        allowed_cluster_roles: Vec::new(),
    })
}

/// Registry prefixes as the policy compares them: trimmed, without a trailing `/`, and with
/// Docker Hub's `index.docker.io` alias spelled `docker.io` (images are normalised the same way).
/// An empty entry is an error rather than dropped: dropping it from an allow list of one would
/// turn "nothing matches" into "anything goes".
fn registry_prefixes(list: &[String], field: &str) -> Result<Vec<String>, BuildError> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let mut p = raw.trim().trim_end_matches('/').to_string();
        if p.is_empty() {
            return Err(BuildError::Invalid {
                field: format!("{field}[{i}]"),
                message: "must be a registry host or host/path prefix, not empty".into(),
            });
        }
        if p == "index.docker.io" || p.starts_with("index.docker.io/") {
            p = p.replacen("index.docker.io", "docker.io", 1);
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The cluster-scoped policies and bindings shared by all tenants, each policy before its
/// bindings.
pub fn shared_policies(ctx: &BuildContext) -> Result<Vec<Object>, BuildError> {
    if ctx.operator_user.trim().is_empty() {
        return Err(BuildError::Invalid {
            field: "operatorUser".into(),
            message: "the operator's user name is needed to exempt it from the policies".into(),
        });
    }
    let mut out = Vec::new();
    for def in [
        workloads(),
        services(),
        storage(),
        replicas(),
        rbac(),
        managed_objects(),
        namespace_labels(),
    ] {
        out.push(Object::from_resource(&def.policy(ctx))?);
        for b in def.bindings() {
            out.push(Object::from_resource(&b)?);
        }
    }
    Ok(out)
}

// ----- building blocks -----

/// A CEL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A CEL list literal of strings.
fn lit_list(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|s| lit(s)).collect();
    format!("[{}]", inner.join(", "))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn rule(groups: &[&str], resources: &[&str], ops: &[&str]) -> NamedRuleWithOperations {
    NamedRuleWithOperations {
        api_groups: Some(strings(groups)),
        api_versions: Some(strings(&["*"])),
        resources: Some(strings(resources)),
        operations: Some(strings(ops)),
        ..Default::default()
    }
}

/// A rule for objects inside namespaces only: `*` then leaves out cluster-scoped objects,
/// Namespaces included, which a `namespaceSelector` would otherwise never skip.
fn namespaced_rule(groups: &[&str], resources: &[&str], ops: &[&str]) -> NamedRuleWithOperations {
    NamedRuleWithOperations {
        scope: Some("Namespaced".into()),
        ..rule(groups, resources, ops)
    }
}

fn tenant_namespaces() -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(
            labels::TENANT_NAMESPACE.to_string(),
            "true".to_string(),
        )])),
        ..Default::default()
    }
}

fn has_label(key: &str) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.to_string(),
            operator: "Exists".into(),
            values: None,
        }]),
        ..Default::default()
    }
}

fn shared_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (labels::PART_OF.to_string(), "tenant".to_string()),
        (
            labels::APP_COMPONENT.to_string(),
            "admission-policy".to_string(),
        ),
    ])
}

/// The `matchConditions` every policy has: requests by these users are never checked.
pub fn exemptions(ctx: &BuildContext) -> Vec<MatchCondition> {
    vec![
        MatchCondition {
            name: "not-the-operator".into(),
            expression: format!("request.userInfo.username != {}", lit(ctx.operator_user)),
        },
        MatchCondition {
            name: "not-system-masters".into(),
            // groups is omitted from the request when empty
            expression:
                "!has(request.userInfo.groups) || !('system:masters' in request.userInfo.groups)"
                    .into(),
        },
        MatchCondition {
            name: "not-kube-system-controllers".into(),
            expression:
                "!request.userInfo.username.startsWith('system:serviceaccount:kube-system:') \
                         && request.userInfo.username != 'system:kube-controller-manager'"
                    .into(),
        },
    ]
}

fn check(expression: String, message: &str, message_expression: String) -> Validation {
    Validation {
        expression,
        message: Some(message.to_string()),
        message_expression: Some(message_expression),
        reason: Some("Forbidden".into()),
    }
}

fn var(name: &str, expression: String) -> Variable {
    Variable {
        name: name.to_string(),
        expression,
    }
}

/// One policy and how it is bound.
struct PolicyDef {
    name: &'static str,
    /// Whether the policy reads the namespace's `TenantPolicy`.
    params: bool,
    /// Which requests the policy can see at all (bindings narrow this).
    constraints: MatchResources,
    variables: Vec<Variable>,
    validations: Vec<Validation>,
    bindings: Vec<BindingDef>,
}

struct BindingDef {
    name: String,
    match_resources: MatchResources,
    /// `parameterNotFoundAction` of a parameterised policy's binding.
    param_not_found: &'static str,
}

impl PolicyDef {
    fn policy(&self, ctx: &BuildContext) -> ValidatingAdmissionPolicy {
        ValidatingAdmissionPolicy {
            metadata: ObjectMeta {
                name: Some(self.name.to_string()),
                labels: Some(shared_labels()),
                ..Default::default()
            },
            spec: Some(ValidatingAdmissionPolicySpec {
                failure_policy: Some("Fail".into()),
                param_kind: self.params.then(|| ParamKind {
                    api_version: Some(format!("{GROUP}/{VERSION}")),
                    kind: Some("TenantPolicy".into()),
                }),
                match_constraints: Some(self.constraints.clone()),
                match_conditions: Some(exemptions(ctx)),
                variables: (!self.variables.is_empty()).then(|| self.variables.clone()),
                validations: Some(self.validations.clone()),
                audit_annotations: None,
            }),
            status: None,
        }
    }

    fn bindings(&self) -> Vec<ValidatingAdmissionPolicyBinding> {
        self.bindings
            .iter()
            .map(|b| ValidatingAdmissionPolicyBinding {
                metadata: ObjectMeta {
                    name: Some(b.name.clone()),
                    labels: Some(shared_labels()),
                    ..Default::default()
                },
                spec: Some(ValidatingAdmissionPolicyBindingSpec {
                    policy_name: Some(self.name.to_string()),
                    param_ref: self.params.then(|| ParamRef {
                        name: Some(names::POLICY_PARAMS.to_string()),
                        // unset: the TenantPolicy of the request's own namespace
                        namespace: None,
                        parameter_not_found_action: Some(b.param_not_found.to_string()),
                        selector: None,
                    }),
                    match_resources: Some(b.match_resources.clone()),
                    validation_actions: Some(strings(&["Deny"])),
                }),
            })
            .collect()
    }
}

/// Constraints and the create/update binding pair of a parameterised policy over `resources`
/// (`(api group, resource, operations)`); see "Missing parameters" in the module docs.
fn parameterised(
    name: &'static str,
    resources: &[(&str, &str, &[&str])],
    variables: Vec<Variable>,
    validations: Vec<Validation>,
) -> PolicyDef {
    let rules_for = |wanted: &[&str]| -> Vec<NamedRuleWithOperations> {
        resources
            .iter()
            .filter_map(|(group, resource, ops)| {
                let ops: Vec<&str> = ops.iter().copied().filter(|o| wanted.contains(o)).collect();
                (!ops.is_empty()).then(|| namespaced_rule(&[group], &[resource], &ops))
            })
            .collect()
    };
    let matching = |wanted: &[&str]| MatchResources {
        namespace_selector: Some(tenant_namespaces()),
        resource_rules: Some(rules_for(wanted)),
        match_policy: Some("Equivalent".into()),
        ..Default::default()
    };
    PolicyDef {
        name,
        params: true,
        constraints: matching(&["CREATE", "UPDATE"]),
        variables,
        validations,
        bindings: vec![
            BindingDef {
                name: format!("{name}-create"),
                match_resources: matching(&["CREATE"]),
                param_not_found: "Deny",
            },
            BindingDef {
                name: format!("{name}-update"),
                match_resources: matching(&["UPDATE"]),
                param_not_found: "Allow",
            },
        ],
    }
}

const CU: &[&str] = &["CREATE", "UPDATE"];

// ----- 1. workloads -----

/// `s` (a CEL string: an image reference) with Docker's defaults spelled out:
/// `nginx` -> `docker.io/library/nginx`, `acme/app` -> `docker.io/acme/app`,
/// `index.docker.io/x` and `docker.io/x` -> `docker.io/library/x`.
fn qualified_image(s: &str) -> String {
    let first = format!("{s}.substring(0, {s}.indexOf('/'))");
    let rest = format!("{s}.substring({s}.indexOf('/') + 1)");
    format!(
        "(!{s}.contains('/') ? 'docker.io/library/' + {s} \
         : !({first}.contains('.') || {first}.contains(':') || {first} == 'localhost') ? 'docker.io/' + {s} \
         : ({first} == 'docker.io' || {first} == 'index.docker.io') \
           ? ({rest}.contains('/') ? 'docker.io/' + {rest} : 'docker.io/library/' + {rest}) \
         : {s})"
    )
}

/// Whether the qualified image `r` lies under registry prefix `p` (whole path segments; a tag or
/// digest may follow a prefix that names a repository).
fn under_prefix(r: &str, p: &str) -> String {
    format!(
        "({r} == {p} || {r}.startsWith({p} + '/') \
         || ({p}.contains('/') && ({r}.startsWith({p} + ':') || {r}.startsWith({p} + '@'))))"
    )
}

/// Whether the SELinux options `o` ask for more than a level.
fn selinux_custom(o: &str) -> String {
    format!(
        "((has({o}.user) && {o}.user != '') || (has({o}.role) && {o}.role != '') \
         || (has({o}.type) && !({o}.type in {types})))",
        types = lit_list(&[&[""][..], &SELINUX_TYPES[..]].concat())
    )
}

fn workloads() -> PolicyDef {
    let pod_kinds = |pod: &str, cron: &str, other: &str| {
        format!(
            "request.kind.kind == 'Pod' ? {pod} : (request.kind.kind == 'CronJob' ? {cron} : {other})"
        )
    };
    let pinned = "has(c.resources) && has(c.resources.limits) && has(c.resources.limits.cpu) \
        && quantity(c.resources.limits.cpu).isInteger() && quantity(c.resources.limits.cpu).isGreaterThan(quantity('0')) \
        && (!has(c.resources.requests) || !has(c.resources.requests.cpu) \
            || quantity(c.resources.requests.cpu).compareTo(quantity(c.resources.limits.cpu)) == 0)";
    let app_armor_ok = lit_list(&["RuntimeDefault", "Localhost"]);
    let variables = vec![
        var(
            "podSpec",
            pod_kinds(
                "object.spec",
                "object.spec.jobTemplate.spec.template.spec",
                "object.spec.template.spec",
            ),
        ),
        var(
            "specPath",
            pod_kinds("'spec'", "'spec.jobTemplate.spec.template.spec'", "'spec.template.spec'"),
        ),
        var(
            "containers",
            "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])".into(),
        ),
        var(
            "allContainers",
            "variables.containers + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])".into(),
        ),
        var(
            "images",
            format!(
                "variables.allContainers.map(c, {{'container': c.name, 'image': c.image, 'ref': {}}})",
                qualified_image("c.image")
            ),
        ),
        var(
            "notAllowed",
            format!(
                "size(params.spec.allowedRegistries) == 0 ? [] : variables.images.filter(i, !params.spec.allowedRegistries.exists(p, {}))",
                under_prefix("i.ref", "p")
            ),
        ),
        var(
            "blocked",
            format!(
                "variables.images.filter(i, params.spec.blockedRegistries.exists(p, {}))",
                under_prefix("i.ref", "p")
            ),
        ),
        var(
            "pullNotAlways",
            "variables.allContainers.filter(c, !has(c.imagePullPolicy) || c.imagePullPolicy != 'Always').map(c, c.name)".into(),
        ),
        var(
            "hostAccess",
            "(has(variables.podSpec.hostNetwork) && variables.podSpec.hostNetwork ? ['hostNetwork'] : []) \
             + (has(variables.podSpec.hostPID) && variables.podSpec.hostPID ? ['hostPID'] : []) \
             + (has(variables.podSpec.hostIPC) && variables.podSpec.hostIPC ? ['hostIPC'] : []) \
             + variables.containers.filter(c, has(c.ports) && c.ports.exists(p, has(p.hostPort) && p.hostPort != 0)).map(c, 'hostPort (container ' + c.name + ')')".into(),
        ),
        var(
            "hostPathVolumes",
            "has(variables.podSpec.volumes) ? variables.podSpec.volumes.filter(v, has(v.hostPath)).map(v, v.name) : []".into(),
        ),
        var(
            "podAppArmor",
            "has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.appArmorProfile) \
             ? variables.podSpec.securityContext.appArmorProfile.type : ''".into(),
        ),
        var(
            "noAppArmor",
            format!(
                "variables.allContainers.filter(c, !((has(c.securityContext) && has(c.securityContext.appArmorProfile) \
                 ? c.securityContext.appArmorProfile.type : variables.podAppArmor) in {app_armor_ok})).map(c, c.name)"
            ),
        ),
        var(
            "customSELinux",
            format!(
                "(has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.seLinuxOptions) \
                 && {} ? ['pod'] : []) \
                 + variables.allContainers.filter(c, has(c.securityContext) && has(c.securityContext.seLinuxOptions) \
                 && {}).map(c, 'container ' + c.name)",
                selinux_custom("variables.podSpec.securityContext.seLinuxOptions"),
                selinux_custom("c.securityContext.seLinuxOptions")
            ),
        ),
        var(
            "nodeSelector",
            "has(variables.podSpec.nodeSelector) ? variables.podSpec.nodeSelector : {}".into(),
        ),
        var(
            "unpinned",
            format!("variables.containers.filter(c, !({pinned})).map(c, c.name)"),
        ),
    ];
    let validations = vec![
        check(
            "size(variables.notAllowed) == 0".into(),
            "workloads: an image is not from an allowed registry (isolation.allowedRegistries)",
            "'workloads: ' + variables.notAllowed.map(i, 'container ' + i.container + ' image ' + i.image).join(', ') \
             + ' at ' + variables.specPath + ' is not from an allowed registry (isolation.allowedRegistries: ' \
             + params.spec.allowedRegistries.join(', ') + ')'".into(),
        ),
        check(
            "size(variables.blocked) == 0".into(),
            "workloads: an image is from a blocked registry (isolation.blockedRegistries)",
            "'workloads: ' + variables.blocked.map(i, 'container ' + i.container + ' image ' + i.image).join(', ') \
             + ' at ' + variables.specPath + ' is from a blocked registry (isolation.blockedRegistries: ' \
             + params.spec.blockedRegistries.join(', ') + ')'".into(),
        ),
        check(
            "!params.spec.requireImagePullPolicyAlways || size(variables.pullNotAlways) == 0".into(),
            "workloads: every container must set imagePullPolicy: Always (isolation.requireImagePullPolicyAlways)",
            "'workloads: containers ' + variables.pullNotAlways.join(', ') + ' must set ' + variables.specPath \
             + '.containers[*].imagePullPolicy: Always (isolation.requireImagePullPolicyAlways)'".into(),
        ),
        check(
            "params.spec.allowHostNamespaces || size(variables.hostAccess) == 0".into(),
            "workloads: hostNetwork, hostPID, hostIPC and hostPort are not allowed (isolation.allowHostNamespaces)",
            "'workloads: ' + variables.hostAccess.join(', ') + ' at ' + variables.specPath \
             + ' is not allowed in this tenant (isolation.allowHostNamespaces)'".into(),
        ),
        check(
            "params.spec.allowHostPath || size(variables.hostPathVolumes) == 0".into(),
            "workloads: hostPath volumes are not allowed (isolation.allowHostPath)",
            "'workloads: hostPath volumes ' + variables.hostPathVolumes.join(', ') + ' at ' + variables.specPath \
             + '.volumes are not allowed in this tenant (isolation.allowHostPath)'".into(),
        ),
        check(
            "!params.spec.requireAppArmor || size(variables.noAppArmor) == 0".into(),
            "workloads: every container needs an AppArmor profile of RuntimeDefault or Localhost (isolation.appArmor)",
            "'workloads: containers ' + variables.noAppArmor.join(', ') + ' need securityContext.appArmorProfile.type ' \
             + 'RuntimeDefault or Localhost (at ' + variables.specPath + ' or on the container; isolation.appArmor)'".into(),
        ),
        check(
            "!params.spec.restrictSelinux || size(variables.customSELinux) == 0".into(),
            "workloads: custom SELinux user, role or type is not allowed (isolation.selinux)",
            format!(
                "'workloads: ' + variables.customSELinux.join(', ') + ' at ' + variables.specPath \
                 + ' sets securityContext.seLinuxOptions user, role or a type other than {} (isolation.selinux)'",
                SELINUX_TYPES.join(", ")
            ),
        ),
        check(
            "params.spec.dedicatedNodeLabel == '' || (params.spec.dedicatedNodeLabel in variables.nodeSelector \
             && variables.nodeSelector[params.spec.dedicatedNodeLabel] == params.spec.dedicatedNodeValue)".into(),
            "workloads: pods must select the tenant's dedicated nodes in nodeSelector (isolation.dedicatedNodes)",
            "'workloads: ' + variables.specPath + '.nodeSelector must contain ' + params.spec.dedicatedNodeLabel \
             + ': ' + params.spec.dedicatedNodeValue + ' (isolation.dedicatedNodes)'".into(),
        ),
        check(
            "!params.spec.cpuPinning || size(variables.unpinned) == 0".into(),
            "workloads: every container must set a whole-CPU limits.cpu with requests.cpu equal to it (isolation.cpuPinning)",
            "'workloads: containers ' + variables.unpinned.join(', ') + ' at ' + variables.specPath \
             + ' must set resources.limits.cpu to a whole number of CPUs and requests.cpu equal to it (isolation.cpuPinning)'".into(),
        ),
    ];
    parameterised(
        WORKLOADS,
        &[
            ("", "pods", CU),
            // `kubectl debug` adds containers through this subresource; the object is the Pod.
            ("", "pods/ephemeralcontainers", &["UPDATE"]),
            ("", "replicationcontrollers", CU),
            ("apps", "deployments", CU),
            ("apps", "replicasets", CU),
            ("apps", "statefulsets", CU),
            ("apps", "daemonsets", CU),
            ("batch", "jobs", CU),
            ("batch", "cronjobs", CU),
        ],
        variables,
        validations,
    )
}

// ----- 2. services -----

fn services() -> PolicyDef {
    let variables = vec![var(
        "serviceType",
        "has(object.spec.type) ? object.spec.type : 'ClusterIP'".into(),
    )];
    let validations = vec![
        check(
            "params.spec.allowNodePorts || variables.serviceType != 'NodePort'".into(),
            "services: type NodePort is not allowed (isolation.allowNodePorts)",
            "'services: Service ' + object.metadata.name + ': spec.type NodePort is not allowed in this tenant \
             (isolation.allowNodePorts); use ClusterIP behind the Ingress'".into(),
        ),
        check(
            "params.spec.allowLoadBalancers || variables.serviceType != 'LoadBalancer'".into(),
            "services: type LoadBalancer is not allowed (isolation.allowLoadBalancers)",
            "'services: Service ' + object.metadata.name + ': spec.type LoadBalancer is not allowed in this tenant \
             (isolation.allowLoadBalancers); use ClusterIP behind the Ingress'".into(),
        ),
        check(
            "params.spec.allowHostNamespaces || !has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0".into(),
            "services: spec.externalIPs is not allowed (isolation.allowHostNamespaces)",
            "'services: Service ' + object.metadata.name + ': spec.externalIPs (' + object.spec.externalIPs.join(', ') \
             + ') is not allowed in this tenant: it can capture traffic for any address (CVE-2020-8554; isolation.allowHostNamespaces)'".into(),
        ),
    ];
    parameterised(SERVICES, &[("", "services", CU)], variables, validations)
}

// ----- 3. storage -----

fn storage() -> PolicyDef {
    let variables = vec![
        var(
            "classChanged",
            "oldObject == null || has(oldObject.spec.storageClassName) != has(object.spec.storageClassName) \
             || (has(object.spec.storageClassName) && oldObject.spec.storageClassName != object.spec.storageClassName)".into(),
        ),
        var(
            "newVolumeName",
            "has(object.spec.volumeName) && object.spec.volumeName != '' \
             && (oldObject == null || !has(oldObject.spec.volumeName) || oldObject.spec.volumeName == '')".into(),
        ),
    ];
    let validations = vec![
        check(
            "size(params.spec.allowedStorageClasses) == 0 || !variables.classChanged \
             || (has(object.spec.storageClassName) && object.spec.storageClassName in params.spec.allowedStorageClasses)".into(),
            "storage: spec.storageClassName must be one of the tenant's storage classes (isolation.allowedStorageClasses)",
            "'storage: PersistentVolumeClaim ' + object.metadata.name + ': ' \
             + (has(object.spec.storageClassName) ? 'spec.storageClassName ' + object.spec.storageClassName + ' is not allowed' \
                : 'spec.storageClassName must be set (the cluster default class is not implied)') \
             + '; allowed: ' + params.spec.allowedStorageClasses.join(', ') + ' (isolation.allowedStorageClasses)'".into(),
        ),
        check(
            "!params.spec.pvAccessControl || !variables.newVolumeName".into(),
            "storage: spec.volumeName may not name a PersistentVolume (isolation.pvAccessControl)",
            "'storage: PersistentVolumeClaim ' + object.metadata.name + ': spec.volumeName ' + object.spec.volumeName \
             + ' may not name a pre-existing PersistentVolume; request storage through a storage class (isolation.pvAccessControl)'".into(),
        ),
        check(
            "!params.spec.pvAccessControl || !has(object.spec.dataSourceRef) || !has(object.spec.dataSourceRef.namespace) \
             || object.spec.dataSourceRef.namespace == '' || object.spec.dataSourceRef.namespace == request.namespace".into(),
            "storage: spec.dataSourceRef may not point into another namespace (isolation.pvAccessControl)",
            "'storage: PersistentVolumeClaim ' + object.metadata.name + ': spec.dataSourceRef.namespace ' \
             + object.spec.dataSourceRef.namespace + ' is another namespace (isolation.pvAccessControl)'".into(),
        ),
    ];
    parameterised(
        STORAGE,
        &[("", "persistentvolumeclaims", CU)],
        variables,
        validations,
    )
}

// ----- 4. replicas -----

fn replicas() -> PolicyDef {
    let variables = vec![
        var(
            "replicas",
            "request.kind.kind == 'HorizontalPodAutoscaler' \
             ? (has(object.spec.minReplicas) ? object.spec.minReplicas : 1) \
             : (has(object.spec.replicas) ? object.spec.replicas : (request.kind.kind == 'Scale' ? 0 : 1))".into(),
        ),
        var(
            "field",
            "request.kind.kind == 'HorizontalPodAutoscaler' ? 'spec.minReplicas' : 'spec.replicas'".into(),
        ),
        var(
            "applies",
            "request.kind.kind != 'HorizontalPodAutoscaler' \
             || object.spec.scaleTargetRef.kind in ['Deployment', 'StatefulSet']".into(),
        ),
    ];
    let validations = vec![check(
        "params.spec.minReplicas <= 0 || !variables.applies || variables.replicas >= params.spec.minReplicas".into(),
        "replicas: fewer replicas than the tenant's minimum (limits.minReplicas)",
        "'replicas: ' + request.kind.kind + ' ' + request.name + ': ' + variables.field + ' is ' + string(variables.replicas) \
         + ' but this tenant requires at least ' + string(params.spec.minReplicas) + ' (limits.minReplicas)'".into(),
    )];
    const U: &[&str] = &["UPDATE"];
    parameterised(
        REPLICAS,
        &[
            ("apps", "deployments", CU),
            ("apps", "statefulsets", CU),
            ("apps", "deployments/scale", U),
            ("apps", "statefulsets/scale", U),
            ("autoscaling", "horizontalpodautoscalers", CU),
        ],
        variables,
        validations,
    )
}

// ----- 5. rbac -----

/// The shared ClusterRoles of the built-in tenant roles (see `rbac.rs`): always bindable in a
/// tenant namespace, since a tenant admin holds their rules there anyway.
const TENANT_CLUSTER_ROLES: [&str; 3] =
    [names::ROLE_ADMIN, names::ROLE_DEVELOPER, names::ROLE_VIEWER];

fn rbac() -> PolicyDef {
    let validations = vec![
        check(
            format!(
                "request.kind.kind != 'RoleBinding' || object.roleRef.kind != 'ClusterRole' \
                 || object.roleRef.name in {tenant_roles} || object.roleRef.name in params.spec.allowedClusterRoles",
                tenant_roles = lit_list(&TENANT_CLUSTER_ROLES)
            ),
            "rbac: RoleBindings in tenant namespaces may only reference Roles and the tenant ClusterRoles",
            format!(
                "'rbac: RoleBinding ' + object.metadata.name + ': roleRef ClusterRole ' + object.roleRef.name \
                 + ' is not allowed in a tenant namespace; bind a Role of the namespace or one of {tenant_roles} (allowed ClusterRoles: ' \
                 + (size(params.spec.allowedClusterRoles) == 0 ? 'none' : params.spec.allowedClusterRoles.join(', ')) + ')'",
                tenant_roles = TENANT_CLUSTER_ROLES.join(", ")
            ),
        ),
        check(
            format!(
                "!has(object.metadata.name) || !object.metadata.name.startsWith({})",
                lit(NAME_PREFIX)
            ),
            "rbac: names starting with tenant- are reserved for the tenant operator",
            format!(
                "'rbac: ' + request.kind.kind + ' ' + object.metadata.name + ': metadata.name may not start with {NAME_PREFIX} \
                 (reserved for the tenant operator)'"
            ),
        ),
    ];
    parameterised(
        RBAC,
        &[
            ("rbac.authorization.k8s.io", "roles", CU),
            ("rbac.authorization.k8s.io", "rolebindings", CU),
        ],
        Vec::new(),
        validations,
    )
}

// ----- 6. managed objects -----

fn managed_objects() -> PolicyDef {
    const CUD: &[&str] = &["CREATE", "UPDATE", "DELETE"];
    let by_kind = vec![
        namespaced_rule(&[""], &["resourcequotas", "limitranges"], CUD),
        namespaced_rule(&["networking.k8s.io"], &["networkpolicies"], CUD),
        namespaced_rule(&[GROUP], &["tenantpolicies"], CUD),
    ];
    let message = format!(
        "request.kind.kind in {kinds} \
         ? 'managed-objects: ' + request.kind.kind + ' objects in tenant namespaces are managed by the tenant operator from the Tenant spec; ' \
           + request.operation + ' of ' + request.name + ' denied' \
         : 'managed-objects: ' + request.kind.kind + ' ' + request.name + ' is labelled {label}={manager}, which is reserved for the tenant operator; ' \
           + request.operation + ' denied (change the Tenant instead)'",
        kinds = lit_list(&OPERATOR_KINDS),
        label = labels::MANAGED_BY,
        manager = labels::MANAGER,
    );
    PolicyDef {
        name: MANAGED_OBJECTS,
        params: false,
        constraints: MatchResources {
            namespace_selector: Some(tenant_namespaces()),
            resource_rules: Some(vec![namespaced_rule(&["*"], &["*"], CUD)]),
            match_policy: Some("Equivalent".into()),
            ..Default::default()
        },
        variables: Vec::new(),
        validations: vec![check(
            "false".into(),
            "managed-objects: this object is managed by the tenant operator; change the Tenant instead",
            message,
        )],
        bindings: vec![
            BindingDef {
                name: format!("{MANAGED_OBJECTS}-kinds"),
                match_resources: MatchResources {
                    namespace_selector: Some(tenant_namespaces()),
                    resource_rules: Some(by_kind),
                    match_policy: Some("Equivalent".into()),
                    ..Default::default()
                },
                param_not_found: "Deny",
            },
            BindingDef {
                name: format!("{MANAGED_OBJECTS}-labelled"),
                match_resources: MatchResources {
                    namespace_selector: Some(tenant_namespaces()),
                    object_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            labels::MANAGED_BY.to_string(),
                            labels::MANAGER.to_string(),
                        )])),
                        ..Default::default()
                    }),
                    resource_rules: Some(vec![namespaced_rule(&["*"], &["*"], CUD)]),
                    exclude_resource_rules: Some(vec![namespaced_rule(&[""], &["pods"], CUD)]),
                    match_policy: Some("Equivalent".into()),
                },
                param_not_found: "Deny",
            },
        ],
    }
}

// ----- 7. namespace labels -----

fn namespace_labels() -> PolicyDef {
    const CUD: &[&str] = &["CREATE", "UPDATE", "DELETE"];
    let group_prefix = lit(&format!("{GROUP}/"));
    let tenant_ns = lit(labels::TENANT_NAMESPACE);
    let protected = format!(
        "(k.startsWith({group_prefix}) || (variables.tenantNamespace && (k == {managed_by} || k.startsWith('pod-security.kubernetes.io/'))))",
        managed_by = lit(labels::MANAGED_BY),
    );
    let variables = vec![
        var(
            "oldLabels",
            "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}"
                .into(),
        ),
        var(
            "newLabels",
            "object != null && has(object.metadata.labels) ? object.metadata.labels : {}".into(),
        ),
        var(
            "tenantNamespace",
            format!(
                "{tenant_ns} in variables.oldLabels && variables.oldLabels[{tenant_ns}] == 'true'"
            ),
        ),
        var(
            "changed",
            format!(
                "variables.oldLabels.filter(k, {protected} && (!(k in variables.newLabels) || variables.newLabels[k] != variables.oldLabels[k])) \
                 + variables.newLabels.filter(k, {protected} && !(k in variables.oldLabels))"
            ),
        ),
    ];
    let validations = vec![
        check(
            "request.operation != 'DELETE' || !variables.tenantNamespace".into(),
            "namespace-labels: a tenant namespace may only be deleted by the tenant operator (delete the Tenant)",
            "'namespace-labels: namespace ' + request.name + ' belongs to a tenant; only the tenant operator may delete it (delete the Tenant instead)'".into(),
        ),
        check(
            "request.operation == 'DELETE' || size(variables.changed) == 0".into(),
            "namespace-labels: tenant labels of a namespace are managed by the tenant operator",
            format!(
                "'namespace-labels: namespace ' + request.name + ': labels ' + variables.changed.join(', ') \
                 + ' are managed by the tenant operator and may not be added, changed or removed (reserved: {GROUP}/*' \
                 + (variables.tenantNamespace ? ', {}, pod-security.kubernetes.io/*' : '') + ')'",
                labels::MANAGED_BY
            ),
        ),
    ];
    let binding = |name: String, key: &str| BindingDef {
        name,
        match_resources: MatchResources {
            // Namespaces are matched by their own labels, old or new: see the module docs.
            object_selector: Some(has_label(key)),
            resource_rules: Some(vec![rule(&[""], &["namespaces"], CUD)]),
            match_policy: Some("Equivalent".into()),
            ..Default::default()
        },
        param_not_found: "Deny",
    };
    PolicyDef {
        name: NAMESPACE_LABELS,
        params: false,
        constraints: MatchResources {
            resource_rules: Some(vec![rule(&[""], &["namespaces"], CUD)]),
            match_policy: Some("Equivalent".into()),
            ..Default::default()
        },
        variables,
        validations,
        bindings: vec![
            binding(NAMESPACE_LABELS.to_string(), labels::TENANT_NAMESPACE),
            binding(format!("{NAMESPACE_LABELS}-tenant-id"), labels::TENANT_ID),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use tenant_api::{IsolationLevel, IsolationSpec, LimitsSpec, TenantSpec, TenantType};

    fn tenant(spec: TenantSpec) -> Tenant {
        let mut t = Tenant::new("acme", spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    #[test]
    fn strict_tenant_params_close_everything() {
        let mut spec = TenantSpec::new("acme", TenantType::Production);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(IsolationLevel::Strict),
            dedicated_nodes: Some(true),
            allowed_storage_classes: Some(vec!["fast".into()]),
            allowed_registries: Some(vec![
                "ghcr.io/acme/".into(),
                "index.docker.io/library".into(),
            ]),
            ..Default::default()
        });
        spec.limits = Some(LimitsSpec {
            min_replicas: Some(2),
            ..Default::default()
        });
        let t = tenant(spec);
        let eff = Effective::of(&t);
        let obj = tenant_policy(&t, &eff, &BuildContext::default()).unwrap();
        assert_eq!(obj.kind, "TenantPolicy");
        assert_eq!(obj.api_version, "shop.pilab.hu/v1alpha1");
        assert_eq!(obj.name, "tenant-policy");
        assert_eq!(obj.namespace.as_deref(), Some("tenant-acme-production"));
        let m = &obj.manifest;
        assert_eq!(
            m["metadata"]["labels"][labels::MANAGED_BY],
            "tenant-operator"
        );
        assert_eq!(m["metadata"]["labels"][labels::TENANT_ID], "acme");
        assert_eq!(
            m["metadata"]["annotations"][labels::OWNER],
            "Tenant/tenants/acme"
        );
        let s = &m["spec"];
        assert_eq!(
            s["allowedRegistries"],
            serde_json::json!(["ghcr.io/acme", "docker.io/library"])
        );
        assert_eq!(s["requireImagePullPolicyAlways"], true);
        assert_eq!(s["allowNodePorts"], false);
        assert_eq!(s["allowLoadBalancers"], false);
        assert_eq!(s["allowHostNamespaces"], false);
        assert_eq!(s["allowHostPath"], false);
        assert_eq!(s["requireAppArmor"], true);
        assert_eq!(s["restrictSelinux"], true);
        assert_eq!(s["dedicatedNodeLabel"], "shop.pilab.hu/tenant-id");
        assert_eq!(s["dedicatedNodeValue"], "acme");
        assert_eq!(s["allowedStorageClasses"], serde_json::json!(["fast"]));
        assert_eq!(s["pvAccessControl"], true);
        assert_eq!(s["minReplicas"], 2);
        assert_eq!(s["allowedClusterRoles"], serde_json::json!([]));
    }

    #[test]
    fn storage_classes_only_with_storage_isolation_and_no_dedicated_rule_by_default() {
        let mut spec = TenantSpec::new("acme", TenantType::Staging);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(IsolationLevel::Permissive),
            allowed_storage_classes: Some(vec!["fast".into()]),
            ..Default::default()
        });
        let t = tenant(spec);
        let s = tenant_policy_spec(&t, &Effective::of(&t)).unwrap();
        assert!(s.allowed_storage_classes.is_empty());
        assert_eq!(s.dedicated_node_label, "");
        assert_eq!(s.min_replicas, 0);
        assert!(s.allow_node_ports && s.allow_host_namespaces && !s.pv_access_control);
    }

    #[test]
    fn empty_registry_entry_is_an_error_naming_the_field() {
        let mut spec = TenantSpec::new("acme", TenantType::Staging);
        spec.isolation = Some(IsolationSpec {
            allowed_registries: Some(vec!["ghcr.io".into(), " / ".into()]),
            ..Default::default()
        });
        let t = tenant(spec);
        match tenant_policy(&t, &Effective::of(&t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, .. }) => {
                assert_eq!(field, "spec.isolation.allowedRegistries[1]")
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn shared_objects_are_policies_followed_by_their_bindings() {
        let objs = shared_policies(&BuildContext::default()).unwrap();
        let mut seen_policies = Vec::new();
        for o in &objs {
            assert!(o.name.starts_with(NAME_PREFIX), "{}", o.name);
            assert_eq!(o.namespace, None);
            assert_eq!(o.api_version, "admissionregistration.k8s.io/v1");
            let labels = &o.manifest["metadata"]["labels"];
            assert_eq!(labels[labels::MANAGED_BY], "tenant-operator");
            assert!(labels.get(labels::TENANT_ID).is_none());
            match o.kind.as_str() {
                "ValidatingAdmissionPolicy" => {
                    let spec = &o.manifest["spec"];
                    assert_eq!(spec["failurePolicy"], "Fail");
                    let conds = spec["matchConditions"].as_array().unwrap();
                    assert_eq!(conds.len(), 3);
                    assert!(
                        conds[0]["expression"]
                            .as_str()
                            .unwrap()
                            .contains("'system:serviceaccount:tenant-system:tenant-operator'")
                    );
                    seen_policies.push(o.name.clone());
                }
                "ValidatingAdmissionPolicyBinding" => {
                    let spec = &o.manifest["spec"];
                    let policy = spec["policyName"].as_str().unwrap();
                    assert!(
                        seen_policies.iter().any(|p| p == policy),
                        "{} before its policy",
                        o.name
                    );
                    assert_eq!(spec["validationActions"], serde_json::json!(["Deny"]));
                    let params = objs
                        .iter()
                        .find(|p| p.name == policy && p.kind == "ValidatingAdmissionPolicy")
                        .map(|p| p.manifest["spec"].get("paramKind").is_some())
                        .unwrap();
                    if params {
                        assert_eq!(spec["paramRef"]["name"], "tenant-policy");
                        assert!(spec["paramRef"].get("namespace").is_none());
                        let ops = &spec["matchResources"]["resourceRules"][0]["operations"];
                        let expected = if o.name.ends_with("-create") {
                            "Deny"
                        } else {
                            "Allow"
                        };
                        assert_eq!(spec["paramRef"]["parameterNotFoundAction"], expected);
                        assert_eq!(ops.as_array().unwrap().len(), 1);
                    } else {
                        assert!(spec.get("paramRef").is_none());
                    }
                    if policy == NAMESPACE_LABELS {
                        assert!(spec["matchResources"].get("namespaceSelector").is_none());
                        assert!(spec["matchResources"].get("objectSelector").is_some());
                    } else {
                        assert_eq!(
                            spec["matchResources"]["namespaceSelector"]["matchLabels"]
                                [labels::TENANT_NAMESPACE],
                            "true"
                        );
                    }
                }
                other => panic!("unexpected kind {other}"),
            }
        }
        assert_eq!(
            seen_policies,
            [
                WORKLOADS,
                SERVICES,
                STORAGE,
                REPLICAS,
                RBAC,
                MANAGED_OBJECTS,
                NAMESPACE_LABELS
            ]
        );
    }

    #[test]
    fn params_policies_name_the_tenant_policy_kind() {
        let objs = shared_policies(&BuildContext::default()).unwrap();
        for o in objs
            .iter()
            .filter(|o| o.kind == "ValidatingAdmissionPolicy")
        {
            let pk: &Value = &o.manifest["spec"]["paramKind"];
            if [MANAGED_OBJECTS, NAMESPACE_LABELS].contains(&o.name.as_str()) {
                assert!(pk.is_null());
            } else {
                assert_eq!(pk["apiVersion"], "shop.pilab.hu/v1alpha1");
                assert_eq!(pk["kind"], "TenantPolicy");
            }
        }
    }

    #[test]
    fn operator_user_is_quoted_as_a_cel_literal() {
        let ctx = BuildContext {
            operator_user: "it's\\me",
            ..Default::default()
        };
        assert_eq!(
            exemptions(&ctx)[0].expression,
            r"request.userInfo.username != 'it\'s\\me'"
        );
        let empty = BuildContext {
            operator_user: " ",
            ..Default::default()
        };
        assert!(matches!(
            shared_policies(&empty),
            Err(BuildError::Invalid { .. })
        ));
    }
}
