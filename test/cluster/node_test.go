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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/util/sets"
)

// process is an easyservice-apiserver process of the host, as /proc shows it.
type process struct {
	pid     int
	netns   string // net:[inode]
	cgroups string // /proc/<pid>/cgroup
	cmdline string
}

// checkServerProcesses: the install's server runs exactly as the containers of its pods, which the
// CRI reports running (want of them), and nowhere else of the plane: every easyservice-apiserver
// process in the plane's cgroups, or naming its directory, is one of those containers; each runs in
// its pod's network namespace (neither the host's nor the plane's, where a process of local-up
// would run), as user and group 65532, on a read-only root filesystem.
func checkServerProcesses(t *testing.T, want int) {
	t.Helper()
	containers := sets.New[int]()
	for id := range strings.Lines(crictl(t, "ps", "--namespace", "^"+installNamespace+"$", "--name", "^"+serverName+"$",
		"--state", "running", "--quiet")) {
		id = strings.TrimSpace(id)
		var inspect struct {
			Info struct {
				Pid int `json:"pid"`
			} `json:"info"`
		}
		if err := json.Unmarshal([]byte(crictl(t, "inspect", "-o", "json", id)), &inspect); err != nil || inspect.Info.Pid == 0 {
			t.Fatalf("crictl inspect %s: pid %d, %v", id, inspect.Info.Pid, err)
		}
		containers.Insert(inspect.Info.Pid)
	}
	if containers.Len() != want {
		t.Fatalf("%d %s containers run on the node, want %d", containers.Len(), serverName, want)
	}

	hostNetns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(plane.env["NODE_NETNS"], &st); err != nil {
		t.Fatalf("the plane's network namespace: %v", err)
	}
	planeNetns := fmt.Sprintf("net:[%d]", st.Ino)
	planeCgroup := ":/easyservice-" + plane.id + "/"

	ours := sets.New[int]()
	for _, p := range serverProcesses(t) {
		if !strings.Contains(p.cgroups, planeCgroup) && !strings.Contains(p.cmdline, plane.dir+"/") {
			continue // another plane's (a kwok plane runs the server as a process on the host)
		}
		ours.Insert(p.pid)
		switch {
		case !containers.Has(p.pid):
			t.Errorf("easyservice-apiserver process %d (%s) is not a container of the install's pods", p.pid, p.cmdline)
		case p.netns == hostNetns || p.netns == planeNetns:
			t.Errorf("easyservice-apiserver process %d runs in the network namespace of the %s", p.pid,
				map[bool]string{true: "host", false: "plane"}[p.netns == hostNetns])
		}
		status := procFile(t, p.pid, "status")
		for _, field := range []string{"Uid", "Gid"} {
			if ids := statusField(status, field); !slices.Equal(ids, []string{"65532", "65532", "65532", "65532"}) {
				t.Errorf("easyservice-apiserver process %d: %s %v, want 65532 (real, effective, saved, file system)", p.pid, field, ids)
			}
		}
		if opts := rootMountOptions(procFile(t, p.pid, "mountinfo")); !slices.Contains(opts, "ro") {
			t.Errorf("easyservice-apiserver process %d: its root filesystem is mounted %v, want ro", p.pid, opts)
		}
	}
	if !ours.Equal(containers) {
		t.Errorf("the plane's easyservice-apiserver processes %v, the pods' containers %v", sets.List(ours), sets.List(containers))
	}
	t.Logf("easyservice-apiserver runs as the processes %v of the pods' containers only", sets.List(ours))
}

// serverProcesses lists the host's easyservice-apiserver processes (by their executable's name).
func serverProcesses(t *testing.T) []process {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	var procs []process
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		// A process that exits meanwhile is skipped: only live ones matter.
		exe, err := os.Readlink(filepath.Join(dir, "exe"))
		if err != nil || filepath.Base(exe) != serverName {
			continue
		}
		netns, err := os.Readlink(filepath.Join(dir, "ns", "net"))
		if err != nil {
			continue
		}
		cgroups, err := os.ReadFile(filepath.Join(dir, "cgroup"))
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue
		}
		procs = append(procs, process{pid: pid, netns: netns, cgroups: string(cgroups), cmdline: strings.ReplaceAll(string(cmdline), "\x00", " ")})
	}
	return procs
}

func procFile(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// statusField returns the values of a /proc/<pid>/status field, e.g. Uid.
func statusField(status, field string) []string {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Fields(v)
		}
	}
	return nil
}

// rootMountOptions returns the mount options of the root (/) of a /proc/<pid>/mountinfo: its
// per-mount options (the sixth field) of the last mount on /.
func rootMountOptions(mountinfo string) []string {
	var opts []string
	for line := range strings.Lines(mountinfo) {
		f := strings.Fields(line)
		if len(f) >= 6 && f[4] == "/" {
			opts = strings.Split(f[5], ",")
		}
	}
	return opts
}
