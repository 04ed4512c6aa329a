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

package localplane

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "hack", "local-up.sh")); err != nil {
		t.Errorf("RepoRoot() = %s, which has no hack/local-up.sh: %v", root, err)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(len(PortVars))
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != len(PortVars) || len(slices.Compact(slices.Sorted(slices.Values(ports)))) != len(PortVars) {
		t.Errorf("FreePorts(%d) = %v, want %d different ports", len(PortVars), ports, len(PortVars))
	}
}

func TestProcess(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "pids"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Process(dir, "missing"); err == nil {
		t.Error("Process of a component without a pid file: no error")
	}
	if err := os.WriteFile(PidFile(dir, "self"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid, argv, err := Process(dir, "self")
	if err != nil {
		t.Fatal(err)
	}
	if pid != os.Getpid() || !slices.Equal(argv, os.Args) {
		t.Errorf("Process(self) = %d %q, want %d %q", pid, argv, os.Getpid(), os.Args)
	}
}
