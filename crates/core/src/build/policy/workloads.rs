//! `tenant-workloads`: images, host access, AppArmor, SELinux, dedicated nodes, CPU pinning and
//! priority classes of Pods and of the pod templates of the workload kinds (see
//! docs/admission-policies.md).

use super::WORKLOADS;
use super::common::{CU, PolicyDef, check, lit, lit_list, parameterised, var};
use super::params::RESERVED_PRIORITY_PREFIX;

/// SELinux types a container may request: the Pod Security "baseline" list.
const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

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

pub(super) fn policy() -> PolicyDef {
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
        var(
            "priorityClass",
            "has(variables.podSpec.priorityClassName) ? variables.podSpec.priorityClassName : ''".into(),
        ),
        // A pod's class cannot change after creation, so a pod is checked when it is created;
        // checking its updates would only block labelling and `kubectl debug` of pods admitted
        // before. Templates are checked on every write, like the other rules.
        var(
            "checkPriority",
            "variables.priorityClass != '' && !(request.kind.kind == 'Pod' && request.operation == 'UPDATE')".into(),
        ),
        var(
            "reservedPriority",
            format!("variables.priorityClass.startsWith({})", lit(RESERVED_PRIORITY_PREFIX)),
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
        check(
            "!variables.checkPriority || !variables.reservedPriority".into(),
            "workloads: the system- PriorityClasses are reserved for the critical components of the cluster (isolation.allowedPriorityClasses)",
            "'workloads: ' + variables.specPath + '.priorityClassName ' + variables.priorityClass \
             + ' is reserved for the critical components of the cluster and never allowed in a tenant (isolation.allowedPriorityClasses)'".into(),
        ),
        check(
            "!variables.checkPriority || variables.reservedPriority \
             || variables.priorityClass in params.spec.allowedPriorityClasses \
             || variables.priorityClass == params.spec.defaultPriorityClass".into(),
            "workloads: priorityClassName names a PriorityClass this tenant may not use (isolation.allowedPriorityClasses)",
            "'workloads: ' + variables.specPath + '.priorityClassName ' + variables.priorityClass \
             + ' is not allowed in this tenant (isolation.allowedPriorityClasses: ' \
             + (size(params.spec.allowedPriorityClasses) == 0 ? 'none' : params.spec.allowedPriorityClasses.join(', ')) \
             + (params.spec.defaultPriorityClass == '' ? '' : '; the platform default ' + params.spec.defaultPriorityClass + ' is allowed too') + ')' \
             + (request.kind.kind == 'Pod' ? '; if the pod named no class, this is the globalDefault PriorityClass of the cluster, \
             which tenants may use once the operator names it in --default-priority-class' : '')".into(),
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
