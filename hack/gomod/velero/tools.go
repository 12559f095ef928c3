//go:build tools

// Package tools pins the Velero server command, built by hack/components velero.
package tools

import _ "github.com/vmware-tanzu/velero/cmd/velero"
