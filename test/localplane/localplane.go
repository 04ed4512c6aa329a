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

// Package localplane holds what the e2e tests and the benchmarks share about the local control
// plane of hack/local-up.sh: its environment on free ports, and the env file it writes.
package localplane

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// PortVars are the port variables of hack/local-up.sh.
var PortVars = []string{
	"KUBE_APISERVER_PORT", "ETCD_CLIENT_PORT", "ETCD_PEER_PORT", "ES_ETCD_CLIENT_PORT", "ES_ETCD_TLS_PORT",
	"ES_ETCD_PEER_PORT", "ES_PORT", "KCM_PORT", "SCHEDULER_PORT", "KWOK_PORT",
}

// Env is the environment of hack/local-up.sh for a plane in dir: this process's environment, a free
// loopback port for every port variable, no examples, and extra ("NAME=value") last.
func Env(dir string, extra ...string) ([]string, error) {
	env := append(os.Environ(), "LOCAL_UP_DIR="+dir, "SKIP_EXAMPLES=1")
	// Hold every port until all are chosen, so that no two variables get the same one.
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for _, name := range PortVars {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		env = append(env, name+"="+strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return append(env, extra...), nil
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
