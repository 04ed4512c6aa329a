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

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/easyservice/easyservice/test/localplane"
)

// plane is a local control plane of hack/local-up.sh and what the benchmark needs of it: the two
// API servers' endpoints with the admin client certificate, the etcd of EasyService, and the pid of
// every component (for VmRSS and CPU time).
type plane struct {
	dir      string
	kube     *endpoint // kube-apiserver (aggregation, CRDs, ConfigMaps)
	es       *endpoint // easyservice-apiserver, directly
	esEtcd   string    // http://127.0.0.1:$ES_ETCD_CLIENT_PORT
	kasFlags []string  // kube-apiserver's command line
	// sample is the peer, k8s.io/sample-apiserver with its etcd, when it runs (sample.go).
	sample *samplePeer
	// kc is a client-go clientset of kube-apiserver (admin, no rate limit) for the set-up.
	kc kubernetes.Interface
}

// startPlane runs hack/local-up.sh on free loopback ports in a new directory, like test/e2e, and
// returns a function that stops it with hack/local-down.sh and removes the directory, but for the
// logs of a failed run.
func startPlane(ctx context.Context, root string, kwokNodes int, log io.Writer) (dir string, stop func(failed bool), err error) {
	if dir, err = os.MkdirTemp("", "easyservice-bench-"); err != nil {
		return "", nil, err
	}
	// Enough fake nodes for the controller's pods.
	env, err := localplane.Env(dir, "KWOK_NODES="+strconv.Itoa(kwokNodes))
	if err != nil {
		return "", nil, err
	}
	stop = func(failed bool) {
		down := exec.Command(filepath.Join(root, "hack", "local-down.sh"))
		down.Dir, down.Env, down.Stdout, down.Stderr = root, env, log, log
		if err := down.Run(); err != nil {
			logf(log, "stopping the local plane: %v\n", err)
			return
		}
		if failed {
			_ = os.RemoveAll(filepath.Join(dir, "etcd"))
			logf(log, "the local plane's logs are in %s\n", filepath.Join(dir, "logs"))
			return
		}
		_ = os.RemoveAll(dir)
	}
	up := exec.CommandContext(ctx, filepath.Join(root, "hack", "local-up.sh"))
	up.Dir, up.Env, up.Stdout, up.Stderr = root, env, log, log
	// local-up stops what it started when it fails or is interrupted.
	up.Cancel = func() error { return up.Process.Signal(os.Interrupt) }
	up.WaitDelay = 30 * time.Second
	if err := up.Run(); err != nil {
		stop(true)
		return "", nil, fmt.Errorf("hack/local-up.sh: %w", err)
	}
	return dir, stop, nil
}

// loadPlane reads dir/env and dir/pki of a running plane.
func loadPlane(dir string) (*plane, error) {
	vars, err := localplane.ReadEnvFile(filepath.Join(dir, "env"))
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"KUBECONFIG", "ES_PORT", "ES_ETCD_CLIENT_PORT"} {
		if vars[k] == "" {
			return nil, fmt.Errorf("%s/env sets no %s", dir, k)
		}
	}
	kubeConfig, err := clientcmd.BuildConfigFromFlags("", vars["KUBECONFIG"])
	if err != nil {
		return nil, err
	}
	kubeConfig.QPS, kubeConfig.Burst = -1, 0
	p := &plane{dir: dir, esEtcd: "http://127.0.0.1:" + vars["ES_ETCD_CLIENT_PORT"]}
	if p.kc, err = kubernetes.NewForConfig(kubeConfig); err != nil {
		return nil, err
	}
	if p.kube, err = newEndpoint("kube-apiserver", kubeConfig); err != nil {
		return nil, err
	}
	pki := filepath.Join(dir, "pki")
	esConfig := &rest.Config{
		Host: "https://127.0.0.1:" + vars["ES_PORT"],
		TLSClientConfig: rest.TLSClientConfig{
			CertFile: filepath.Join(pki, "admin.crt"),
			KeyFile:  filepath.Join(pki, "admin.key"),
			CAFile:   filepath.Join(pki, "easyservice-ca.crt"),
		},
	}
	if p.es, err = newEndpoint("easyservice-apiserver", esConfig); err != nil {
		return nil, err
	}
	if _, argv, err := localplane.Process(p.dir, "kube-apiserver"); err == nil {
		p.kasFlags = argv
	}
	return p, nil
}

// kasFlag is the value of kube-apiserver's --name=value flag, or "".
func (p *plane) kasFlag(name string) string {
	for _, a := range p.kasFlags {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// pid is the process id of a component, from LOCAL_UP_DIR/pids.
func (p *plane) pid(component string) (int, error) {
	pid, _, err := localplane.Process(p.dir, component)
	return pid, err
}

// endpoint is one API server: its base URL and the TLS configuration of the admin client.
type endpoint struct {
	name string
	host string
	tls  *tls.Config
}

func newEndpoint(name string, config *rest.Config) (*endpoint, error) {
	tlsConfig, err := rest.TLSConfigFor(config)
	if err != nil {
		return nil, err
	}
	if tlsConfig == nil {
		return nil, fmt.Errorf("%s: no TLS configuration", name)
	}
	return &endpoint{name: name, host: strings.TrimSuffix(config.Host, "/"), tls: tlsConfig}, nil
}

// client is a new client with a connection of its own (HTTP/2 over TLS, like client-go): the
// benchmark's concurrent clients are independent, as separate processes would be. No rate limit.
func (e *endpoint) client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:     e.tls.Clone(),
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		},
	}
}

// do sends one request and returns the status code and the whole body.
func do(ctx context.Context, c *http.Client, method, url string, body []byte, accept string) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "easyservice-bench")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// expect sends a request and fails unless the status is one of codes.
func expect(ctx context.Context, c *http.Client, method, url string, body []byte, codes ...int) ([]byte, error) {
	code, data, err := do(ctx, c, method, url, body, "")
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	for _, want := range codes {
		if code == want {
			return data, nil
		}
	}
	return data, fmt.Errorf("%s %s: %d %s", method, url, code, truncate(data, 400))
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// ---------------------------------------------------------------------------------------------
// Process figures: /proc and the API servers' runtime.
// ---------------------------------------------------------------------------------------------

// rssBytes is VmRSS of a process.
func rssBytes(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// userHZ is the unit of /proc/<pid>/stat times; 100 on every Linux architecture Go supports.
const userHZ = 100

// cpuSeconds is the user plus system CPU time of a process (/proc/<pid>/stat utime + stime).
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from its end.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (u + st) / userHZ, nil
}

// gcHeap forces a garbage collection in a Go API server (GET /debug/pprof/heap?gc=1, served with
// --profiling, the default of these servers) and returns its live heap (HeapAlloc) after it.
func gcHeap(ctx context.Context, e *endpoint) (int64, error) {
	c := e.client(60 * time.Second)
	defer c.CloseIdleConnections()
	data, err := expect(ctx, c, http.MethodGet, e.host+"/debug/pprof/heap?gc=1&debug=1", nil, http.StatusOK)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no HeapAlloc in /debug/pprof/heap?debug=1", e.name)
}

// cpuProfile records a CPU profile of an API server for d into path (go tool pprof reads it).
func cpuProfile(ctx context.Context, e *endpoint, d time.Duration, path string) error {
	c := e.client(d + time.Minute)
	defer c.CloseIdleConnections()
	data, err := expect(ctx, c, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", e.host, int(d.Seconds())), nil, http.StatusOK)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// heapProfile records the in-use heap of an API server into path.
func heapProfile(ctx context.Context, e *endpoint, path string) error {
	c := e.client(time.Minute)
	defer c.CloseIdleConnections()
	data, err := expect(ctx, c, http.MethodGet, e.host+"/debug/pprof/heap", nil, http.StatusOK)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// metrics reads the Prometheus text of an API server's /metrics and returns the samples of the
// named metrics, keyed by the sample line's name{labels}.
func metrics(ctx context.Context, e *endpoint, names ...string) (map[string]float64, error) {
	c := e.client(30 * time.Second)
	defer c.CloseIdleConnections()
	data, err := expect(ctx, c, http.MethodGet, e.host+"/metrics", nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		for _, n := range names {
			if strings.HasPrefix(line, n+"{") || strings.HasPrefix(line, n+" ") {
				i := strings.LastIndexByte(line, ' ')
				if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
					out[line[:i]] = v
				}
			}
		}
	}
	return out, nil
}

// labelValue is the value of label in a sample key name{a="x",b="y"}.
func labelValue(key, label string) string {
	i := strings.Index(key, "{"+label+`="`)
	if i < 0 {
		if i = strings.Index(key, ","+label+`="`); i < 0 {
			return ""
		}
	}
	rest := key[i+len(label)+3:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}
