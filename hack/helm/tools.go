//go:build tools

// Package tools records the packages this module builds, so `go mod tidy` keeps them.
package tools

import _ "helm.sh/helm/v4/pkg/cmd"
