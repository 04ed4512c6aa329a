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

// Package localplane holds what the tests and the benchmarks share about the repository and the
// local control plane of hack/local-up.sh: the repository's root, the plane's environment on free
// ports, the env file it writes, and its processes (by their pid files).
package localplane

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// module is the module line of the repository's go.mod.
const module = "module github.com/easyservice/easyservice\n"

// RepoRoot is the repository's root directory: the directory of the easyservice module's go.mod,
// from the working directory up (test/bench, a module of its own, finds the one above it).
func RepoRoot() (string, error) { return repoRoot() }

var repoRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(data, []byte(module)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the easyservice repository (no go.mod of its module found)")
		}
		dir = parent
	}
})

// PortVars are the port variables of hack/local-up.sh.
var PortVars = []string{
	"KUBE_APISERVER_PORT", "ETCD_CLIENT_PORT", "ETCD_PEER_PORT", "ES_ETCD_CLIENT_PORT", "ES_ETCD_TLS_PORT",
	"ES_ETCD_PEER_PORT", "ES_PORT", "KCM_PORT", "SCHEDULER_PORT", "KWOK_PORT",
}

// Env is the environment of hack/local-up.sh for a plane in dir: this process's environment, a free
// loopback port for every port variable, no examples, and extra ("NAME=value") last.
func Env(dir string, extra ...string) ([]string, error) {
	env := append(os.Environ(), "LOCAL_UP_DIR="+dir, "SKIP_EXAMPLES=1")
	ports, err := FreePorts(len(PortVars))
	if err != nil {
		return nil, err
	}
	for i, name := range PortVars {
		env = append(env, name+"="+strconv.Itoa(ports[i]))
	}
	return append(env, extra...), nil
}

// FreePorts returns n different free ports of 127.0.0.1 (each is held until all are chosen).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ReadEnvFile reads the "export NAME=value" lines hack/local-up.sh writes to LOCAL_UP_DIR/env.
func ReadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the local plane's env file: %w", err)
	}
	defer func() { _ = f.Close() }()
	vars := map[string]string{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(scanner.Text()), "export ")
		if key, value, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(key, "#") {
			vars[key] = strings.Trim(value, `"'`)
		}
	}
	return vars, scanner.Err()
}

// PidFile is the pid file hack/local-up.sh writes for the component name of the plane in dir.
func PidFile(dir, name string) string { return filepath.Join(dir, "pids", name+".pid") }

// Process returns the pid and the command line of the component name of the plane in dir, from its
// pid file; an error if the file cannot be read or the process does not run.
func Process(dir, name string) (pid int, argv []string, err error) {
	raw, err := os.ReadFile(PidFile(dir, name))
	if err != nil {
		return 0, nil, err
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(string(raw))); err != nil {
		return 0, nil, fmt.Errorf("pid file of %s: %w", name, err)
	}
	if argv, err = Cmdline(pid); err != nil {
		return 0, nil, fmt.Errorf("%s (pid %d) is not running: %w", name, pid, err)
	}
	return pid, argv, nil
}

// Cmdline is the command line of the process pid, from /proc/<pid>/cmdline; an error if the
// process does not exist or has none (a zombie).
func Cmdline(pid int) ([]string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("process %d has no command line", pid)
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00"), nil
}
