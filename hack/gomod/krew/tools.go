//go:build tools

// Package tools pins krew's command line, built by hack/components krew.
package tools

import _ "sigs.k8s.io/krew/cmd/krew"
