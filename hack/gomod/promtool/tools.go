//go:build tools

// Package tools pins Prometheus's promtool, built by hack/components promtool.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
