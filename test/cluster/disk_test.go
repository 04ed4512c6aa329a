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

package cluster

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/easyservice/easyservice/test/localplane"
)

// TestLocalUpRefusesAFullDisk: where LOCAL_UP_DIR's filesystem has no room above the kubelet's hard
// eviction threshold, LOCAL_UP_NODE=real hack/local-up.sh refuses at once, before it changes the
// host, and says how much is missing, rather than start a node that reports DiskPressure, evicts
// every pod and admits none (which a test only sees as pods that never become Ready).
func TestLocalUpRefusesAFullDisk(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	root, err := localplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64m,mode=0700"); err != nil {
		t.Fatalf("mounting a 64 MiB tmpfs on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting %s: %v", mnt, err)
		}
	})
	dir := filepath.Join(mnt, "plane")

	up := exec.Command(filepath.Join(root, "hack", "local-up.sh"))
	up.Dir, up.Env = root, append(os.Environ(), "LOCAL_UP_DIR="+dir, "LOCAL_UP_NODE=real")
	out, err := up.CombinedOutput()
	t.Logf("$ LOCAL_UP_NODE=real LOCAL_UP_DIR=%s hack/local-up.sh\n%s", dir, out)
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("hack/local-up.sh on a 64 MiB filesystem: %v, want exit status 1", err)
	}
	want := regexp.MustCompile(`local-up: error: not enough free disk for a real node: ` + regexp.QuoteMeta(dir) +
		` has \d+ MiB free of 64 MiB; the kubelet evicts every pod below \d+% free \(\d+ MiB\), and the node needs 2048 MiB above that\. ` +
		`Free \d+ MiB, or set LOCAL_UP_DIR on another filesystem`)
	if !want.Match(out) {
		t.Errorf("hack/local-up.sh said\n%s\nwant a line matching %s", out, want)
	}
	// Refused before it changed anything: no plane file, network namespace, mount or log of a component.
	for _, p := range []string{"node/plane.env", "node/netns", "logs/etcd.log", "logs/kubelet.log"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the refusal: %v, want none", filepath.Join(dir, p), err)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(mounts)) {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			t.Errorf("mounted after the refusal: %s", f[4])
		}
	}
}
