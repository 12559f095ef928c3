//go:build tools

// Package tools pins Helm's command line, built by hack/components helm.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
