/*
Copyright The EasyService Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

	http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package server

import (
	"bytes"
	"testing"

	baseversion "k8s.io/component-base/version"

	"github.com/easyservice/easyservice/pkg/version"
)

// TestVersionFlag: --version prints this binary's version, then the Kubernetes libraries', and
// exits without starting anything (no etcd, no certificates).
func TestVersionFlag(t *testing.T) {
	cmd := NewCommand(t.Context(), NewOptions())
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--version"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("easyservice-apiserver --version: %v\n%s", err, errOut.String())
	}
	want := "easyservice-apiserver " + version.Version + " (Kubernetes libraries " + baseversion.Get().GitVersion + ")\n"
	if out.String() != want {
		t.Errorf("easyservice-apiserver --version printed %q, want %q", out.String(), want)
	}
}
