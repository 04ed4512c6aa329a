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
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildPause builds this command the way hack/images.sh does.
func buildPause(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pause")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitExit waits for cmd to exit and returns its error, failing the test after timeout.
func waitExit(t *testing.T, cmd *exec.Cmd, timeout time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		t.Fatalf("pid %d still runs after %s (then killed: %v)", cmd.Process.Pid, timeout, <-done)
		return nil
	}
}

func TestExitsOnSignal(t *testing.T) {
	bin := buildPause(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Still running after a while: it waits rather than exits.
			time.Sleep(200 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				t.Fatalf("pause exited on its own: %v", err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := waitExit(t, cmd, 10*time.Second); err != nil {
				t.Fatalf("after %s: %v, want exit status 0", sig, err)
			}
		})
	}
}

// TestReapsOrphans runs pause as PID 1 of a new PID namespace, leaves an orphan in that namespace
// (a shell that starts a short sleep in the background, its output elsewhere so that nsenter
// returns at once, and exits) and checks that the orphan,
// re-parented to pause, is reaped when it exits instead of staying a zombie.
func TestReapsOrphans(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: a new PID namespace needs root")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("no nsenter (util-linux) to start a process in the namespace")
	}
	bin := buildPause(t)
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := waitExit(t, cmd, 10*time.Second); err != nil {
			t.Errorf("pause as PID 1 after SIGTERM: %v, want exit status 0", err)
		}
	}()
	out, err := exec.Command(nsenter, "--target", strconv.Itoa(cmd.Process.Pid), "--pid", "--",
		"sh", "-c", "sleep 1 </dev/null >/dev/null 2>&1 & exit 0").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v\n%s", err, out)
	}
	// The orphan shows up as a child of pause (host PIDs), then exits and must disappear.
	var orphan int
	deadline := time.Now().Add(5 * time.Second)
	for orphan == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no orphan was re-parented to pause")
		}
		orphan = childOf(t, cmd.Process.Pid)
		time.Sleep(20 * time.Millisecond)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		state, err := procState(orphan)
		if errors.Is(err, os.ErrNotExist) {
			return // reaped
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %d, which sleeps 1 s, not reaped within 10 s: state %s", orphan, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childOf returns the PID of a child of parent, or 0 if it has none.
func childOf(t *testing.T, parent int) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue // gone meanwhile
		}
		for line := range strings.SplitSeq(string(status), "\n") {
			if ppid, ok := strings.CutPrefix(line, "PPid:"); ok && strings.TrimSpace(ppid) == strconv.Itoa(parent) {
				return pid
			}
		}
	}
	return 0
}

// procState returns the State line of /proc/<pid>/status ("Z (zombie)" for an unreaped child).
func procState(pid int) (string, error) {
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if state, ok := strings.CutPrefix(line, "State:"); ok {
			return strings.TrimSpace(state), nil
		}
	}
	return "", nil
}
