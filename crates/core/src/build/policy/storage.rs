//! `tenant-storage`: storage classes, pre-existing volumes and cross-namespace data sources of
//! PersistentVolumeClaims.

use super::STORAGE;
use super::common::{CU, PolicyDef, check, parameterised, var};

pub(super) fn policy() -> PolicyDef {
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
