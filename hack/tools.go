//go:build tools

// Package tools pins the code generator in go.mod, so hack/update-codegen.sh runs the version the
// module requires.
package tools

import (
	_ "k8s.io/code-generator"
)
