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

// Package cluster tests the in-cluster install as a user runs it, on a real node: the image `make
// image` builds from the repository's Dockerfile on a real Docker engine, loaded into the node;
// `make deploy` as the README says; EasyServices whose children are real pods answering HTTP on a
// NodePort; faults under load; `make undeploy`.
//
// The node is a real-node local plane (LOCAL_UP_NODE=real hack/local-up.sh: containerd, kubelet,
// kube-proxy and CoreDNS in a network namespace of the plane), which TestMain starts in a temporary
// LOCAL_UP_DIR, in the background while the image builds, and takes down at the end with
// hack/local-down.sh, followed by `hack/local/host-state.sh check --strict` against the snapshot
// local-up took first: anything the plane left on the host fails the run. Both need root: without
// it every test that needs the node is skipped, saying so. CLUSTER_LOCAL_UP_DIR=<dir> runs the
// tests on a real-node plane that is already up (and leaves it up).
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
	"github.com/easyservice/easyservice/test/harness"
	"github.com/easyservice/easyservice/test/localplane"
)

// plane is the real-node local plane the tests install into.
var plane struct {
	// ready is closed when the plane is up (or failed to come up: err).
	ready chan struct{}
	err   error

	// dir is the plane's LOCAL_UP_DIR.
	dir string
	// kept: the plane is CLUSTER_LOCAL_UP_DIR's, which outlives the tests.
	kept bool
	// env holds the variables of dir/env (KUBECONFIG, KUBECTL, NODE_IP, NODE_NETNS, CRICTL, ...).
	env map[string]string
	// id is the plane's id (dir/node/plane.env): its cgroups are /easyservice-<id>.
	id     string
	config *rest.Config
	kube   kubernetes.Interface
	es     clientset.Interface
}

// skipReason is set when a precondition of the real node is missing: every test that needs the
// node skips with it.
var skipReason string

// planeStartTimeout bounds the wait for local-up: cold, it builds kubelet and friends.
const planeStartTimeout = 45 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	plane.ready = make(chan struct{})
	switch {
	case runtime.GOOS != "linux":
		skipReason = "the real node of the local plane (LOCAL_UP_NODE=real) needs Linux"
	case os.Geteuid() != 0:
		skipReason = "the real node of the local plane (LOCAL_UP_NODE=real) needs root: it creates a network namespace, " +
			"cgroups and mounts and runs containerd and the kubelet (run make test-cluster as root)"
	}
	if skipReason != "" {
		fmt.Fprintf(os.Stderr, "test/cluster: skipping the tests on a real node: %s\n", skipReason)
		close(plane.ready)
		return m.Run()
	}
	root, err := localplane.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	if dir := os.Getenv("CLUSTER_LOCAL_UP_DIR"); dir != "" {
		plane.kept = true
		plane.err = loadPlane(dir)
		close(plane.ready)
		return m.Run()
	}

	// A short path: containerd's socket lives under it, and a unix socket path has 107 bytes.
	dir, err := os.MkdirTemp("", "easyservice-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env := append(os.Environ(), "LOCAL_UP_DIR="+dir, "LOCAL_UP_NODE=real")
	upLog := filepath.Join(dir, "local-up.log")
	upDone := make(chan error, 1)
	// In the background: the server image builds meanwhile (TestServerImage).
	go func() {
		upDone <- runLogged(root, env, upLog, planeStartTimeout, filepath.Join(root, "hack", "local-up.sh"))
	}()
	go func() {
		err := <-upDone
		printFile(upLog)
		if err != nil {
			plane.err = fmt.Errorf("LOCAL_UP_NODE=real hack/local-up.sh (log: %s): %w", upLog, err)
		} else {
			plane.err = loadPlane(dir)
		}
		close(plane.ready)
	}()

	code := m.Run()

	// The plane may still be starting (no test needed it): down only once local-up is done.
	<-plane.ready
	if !takeDown(root, env, dir) {
		code = 1
	}
	if code == 0 {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "test/cluster: the plane's directory (logs/, manifests/, the install's files) is kept: %s\n", dir)
	}
	return code
}

// takeDown runs hack/local-down.sh on the plane and then checks, strictly, that the host is as
// local-up's snapshot found it. It reports whether both passed.
func takeDown(root string, env []string, dir string) bool {
	ok := true
	fmt.Println("test/cluster: hack/local-down.sh")
	down := exec.Command(filepath.Join(root, "hack", "local-down.sh"))
	down.Dir, down.Env, down.Stdout, down.Stderr = root, env, os.Stdout, os.Stderr
	if err := down.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "test/cluster: FAIL: hack/local-down.sh: %v\n", err)
		ok = false
	}
	snapshot := filepath.Join(dir, "host-state.before")
	if _, err := os.Stat(snapshot); err != nil {
		// local-up failed before it took the snapshot, so it changed nothing.
		return ok
	}
	fmt.Printf("test/cluster: hack/local/host-state.sh check %s --strict\n", snapshot)
	check := exec.Command(filepath.Join(root, "hack", "local", "host-state.sh"), "check", snapshot, "--strict")
	check.Dir, check.Env, check.Stdout, check.Stderr = root, env, os.Stdout, os.Stderr
	if err := check.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "test/cluster: FAIL: the host is not as local-up found it: %v\n", err)
		ok = false
	}
	return ok
}

// loadPlane reads what hack/local-up.sh wrote to dir and makes the clients.
func loadPlane(dir string) error {
	vars, err := localplane.ReadEnvFile(filepath.Join(dir, "env"))
	if err != nil {
		return err
	}
	if vars["LOCAL_UP_NODE"] != "real" {
		return fmt.Errorf("%s is not a real-node plane (LOCAL_UP_NODE=%q)", dir, vars["LOCAL_UP_NODE"])
	}
	for _, name := range []string{"KUBECONFIG", "KUBECTL", "NODE_NAME", "NODE_IP", "POD_CIDR", "NODE_NETNS", "CRICTL", "CRI_CONFIG_FILE"} {
		if vars[name] == "" {
			return fmt.Errorf("%s/env sets no %s", dir, name)
		}
	}
	planeVars, err := localplane.ReadEnvFile(filepath.Join(dir, "node", "plane.env"))
	if err != nil {
		return err
	}
	if planeVars["PLANE_ID"] == "" {
		return fmt.Errorf("%s/node/plane.env sets no PLANE_ID", dir)
	}
	plane.dir, plane.env, plane.id = dir, vars, planeVars["PLANE_ID"]
	if plane.config, err = clientcmd.BuildConfigFromFlags("", vars["KUBECONFIG"]); err != nil {
		return err
	}
	plane.config.QPS, plane.config.Burst = 50, 100
	if plane.kube, err = kubernetes.NewForConfig(plane.config); err != nil {
		return err
	}
	plane.es, err = clientset.NewForConfig(plane.config)
	return err
}

// requirePlane waits for the plane; the test is skipped when a precondition is missing, and fails
// when the plane did not come up.
func requirePlane(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	select {
	case <-plane.ready:
	case <-time.After(planeStartTimeout):
		t.Fatalf("the real-node plane did not come up within %v", planeStartTimeout)
	}
	if plane.err != nil {
		t.Fatalf("the real-node plane: %v", plane.err)
	}
}

// runLogged runs a command in dir with env, its output into logFile, for at most timeout.
func runLogged(dir string, env []string, logFile string, timeout time.Duration, name string, args ...string) error {
	f, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// SIGTERM first: local-up stops what it started when it is interrupted.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, f, f
	return cmd.Run()
}

func printFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	_, _ = os.Stdout.Write(b)
}

// kubectl runs the plane's kubectl (the env file's KUBECTL, v1.37.1) with stdin and returns its
// standard output; a failure fails the test.
func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectlResult(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// kubectlResult runs kubectl and returns its standard output, or an error with its standard error.
func kubectlResult(stdin string, args ...string) (string, error) {
	// Not t.Context(): cleanups run kubectl after that context is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, plane.env["KUBECTL"], args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+plane.env["KUBECONFIG"])
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// userEnv is the environment of a user who sourced the plane's env file: the commands of the README
// (make deploy, hack/local/load-image.sh) run in it. Not in a make of its own: a make it runs
// behaves as in the user's shell.
func userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES":
		default:
			env = append(env, kv)
		}
	}
	for k, v := range plane.env {
		env = append(env, k+"="+v)
	}
	return env
}

// runUser runs a command of the README in the repository's root, as a user who sourced the plane's
// env file, and returns its combined output (what the user sees); a failure fails the test.
func runUser(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = repoRoot(t), userEnv()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	command := strings.Join(append([]string{name}, args...), " ")
	t.Logf("$ %s   # %v\n%s", command, time.Since(start).Round(100*time.Millisecond), out)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) || ctx.Err() != nil {
			t.Fatalf("%s: %v", command, err)
		}
		t.Fatal(err)
	}
	return string(out)
}

// crictl runs the node's crictl (CRI_CONFIG_FILE: the plane's containerd) and returns its standard
// output; a failure fails the test.
func crictl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(plane.env["CRICTL"], args...)
	cmd.Env = append(os.Environ(), "CRI_CONFIG_FILE="+plane.env["CRI_CONFIG_FILE"])
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("crictl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String()
}

// waitFor is the fault harness's: eventually, with a context of its own.
var waitFor = harness.WaitFor
