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
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/easyservice/easyservice/test/localplane"
)

// repoRoot is the repository's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := localplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// engine is a Docker engine the test uses: the caller's (DOCKER_HOST) or the private one of
// hack/docker.sh, with the variables that reach it.
type engine struct {
	// env is the environment of every command that talks to the engine: the test's, with
	// DOCKER_HOST, DOCKER and DOCKER_BUILDKIT of hack/docker.sh env.
	env []string
	// docker is the client to run (Debian's /usr/bin/docker for the private engine).
	docker string
}

// startEngine returns a Docker engine for the test. With DOCKER_HOST set it is the caller's;
// otherwise hack/docker.sh's private dockerd, which needs root: not root, the test is skipped.
// The private engine is held by a `hack/docker.sh run` that lasts until the test's end, and is
// stopped then unless another user still runs (hack/docker.sh's reference counting).
func startEngine(t *testing.T) *engine {
	t.Helper()
	root := repoRoot(t)
	if os.Getenv("DOCKER_HOST") == "" && os.Geteuid() != 0 {
		t.Skip("no Docker engine: DOCKER_HOST is not set, and the private dockerd of hack/docker.sh needs root")
	}
	if os.Geteuid() == 0 {
		// dockerd, containerd and the docker client, when missing (Debian's packages).
		runScript(t, root, nil, filepath.Join(root, "hack", "install-tools.sh"), "packages")
	}
	out := runScript(t, root, nil, filepath.Join(root, "hack", "docker.sh"), "env")
	e := &engine{env: os.Environ()}
	for line := range strings.Lines(out) {
		kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		if !ok {
			continue
		}
		// Values quoted by printf %q: plain paths and URLs come out as they are.
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(v, `'"\`) {
			t.Fatalf("hack/docker.sh env: a quoted value this test cannot read: %s", line)
		}
		e.env = append(e.env, k+"="+v)
		if k == "DOCKER" {
			e.docker = v
		}
	}
	if e.docker == "" {
		t.Fatalf("hack/docker.sh env printed no DOCKER:\n%s", out)
	}
	if os.Getenv("DOCKER_HOST") != "" {
		return e
	}
	// `run` starts the engine, then its command, which says so and waits for its input to end.
	hold := exec.Command(filepath.Join(root, "hack", "docker.sh"), "run", "sh", "-c", "echo ready; exec cat >/dev/null")
	hold.Dir, hold.Stderr = root, os.Stderr
	stdin, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		if err := hold.Wait(); err != nil {
			t.Errorf("hack/docker.sh run: %v", err)
		}
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected output %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("hack/docker.sh run did not start the engine: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("hack/docker.sh run: the engine did not answer within 2 minutes")
	}
	return e
}

// run runs the docker client with args and returns its standard output; a failure fails the test.
func (e *engine) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.try(args...)
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// try runs the docker client with args and returns its standard output, or an error with its exit
// code (as an *exec.ExitError) and standard error.
func (e *engine) try(args ...string) (string, error) {
	cmd := exec.Command(e.docker, args...)
	cmd.Env = e.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// runScript runs one of the repository's scripts in root with env (nil: the test's) and returns its
// standard output; its standard error goes to the test's. A failure fails the test.
func runScript(t *testing.T, root string, env []string, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(script, args...)
	cmd.Dir, cmd.Env, cmd.Stderr = root, env, os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", script, strings.Join(args, " "), err)
	}
	t.Logf("%s %s: %s", filepath.Base(script), strings.Join(args, " "), time.Since(start).Round(time.Second))
	return string(out)
}
