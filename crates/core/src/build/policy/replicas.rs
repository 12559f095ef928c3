//! `tenant-replicas`: `limits.minReplicas` for Deployments, StatefulSets, their `/scale` and the
//! HPAs that target them.

use super::REPLICAS;
use super::common::{CU, PolicyDef, check, parameterised, var};

pub(super) fn policy() -> PolicyDef {
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
