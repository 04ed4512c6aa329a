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
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestServerImage builds the server image with `make image` (through hack/images.sh server: the
// Dockerfile on the local stand-ins of golang and distroless/static, its module downloads served
// offline) and checks what the install relies on: it runs as the unprivileged user 65532, it has
// no shell, and it starts with a read-only root filesystem and no network.
func TestServerImage(t *testing.T) {
	e := startEngine(t)
	// TestInstall installs this image.
	ref, tarball := buildServerImage(t, e)

	t.Run("user 65532", func(t *testing.T) {
		// Numeric, as the kubelet needs to enforce runAsNonRoot without a passwd lookup.
		if user := strings.TrimSpace(e.run(t, "image", "inspect", "--format", "{{.Config.User}}", ref)); user != "65532:65532" {
			t.Errorf("image user %q, want 65532:65532", user)
		}
		passwd := readImageFile(t, e, ref, "/etc/passwd")
		if !regexp.MustCompile(`(?m)^nonroot:x:65532:65532:`).MatchString(passwd) {
			t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", passwd)
		}
	})

	t.Run("no shell", func(t *testing.T) {
		for _, shell := range []string{"sh", "/bin/sh", "/bin/bash", "/busybox/sh"} {
			_, err := e.try("run", "--rm", "--network", "none", "--entrypoint", shell, ref, "-c", "true")
			// 127: docker run's "command not found"; anything else would be a different failure.
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 127 {
				t.Errorf("docker run --entrypoint %s: %v, want exit status 127 (no such executable)", shell, err)
			}
		}
		// Nothing in the file system that could serve as one.
		shells := regexp.MustCompile(`(^|/)(sh|bash|dash|ash|zsh|busybox)$`)
		for _, name := range imageFiles(t, e, ref) {
			if shells.MatchString(name) {
				t.Errorf("the image holds %s", name)
			}
		}
	})

	t.Run("read-only root filesystem, no network", func(t *testing.T) {
		for _, args := range [][]string{{"--version"}, {"--help"}} {
			out := e.run(t, append([]string{"run", "--rm", "--read-only", "--network", "none",
				"--cap-drop", "ALL", "--security-opt", "no-new-privileges", ref}, args...)...)
			if strings.TrimSpace(out) == "" {
				t.Errorf("easyservice-apiserver %s printed nothing", args[0])
			}
			// hack/build.sh's two versions: ours, then the Kubernetes libraries' (k8s.io/apiserver v0.X.Y).
			if args[0] == "--version" && !imageVersion.MatchString(out) {
				t.Errorf("easyservice-apiserver --version printed %q, want a line matching %s", out, imageVersion)
			}
		}
	})

	t.Run("tarball", func(t *testing.T) {
		// What a node imports (ctr images import): the image under the install's reference.
		if tags := tarballTags(t, tarball); !slices.Contains(tags, ref) {
			t.Errorf("%s holds %v, want %s", tarball, tags, ref)
		}
	})
}

// imageVersion is what the image's easyservice-apiserver --version prints.
var imageVersion = regexp.MustCompile(`^easyservice-apiserver v\d+\.\d+\.\d+\S* \(Kubernetes libraries v1\.\d+\.\d+\)\n$`)

// imageFiles lists the files of the image's file system (docker export of a container made from
// it, never started).
func imageFiles(t *testing.T, e *engine, ref string) []string {
	t.Helper()
	id := strings.TrimSpace(e.run(t, "create", ref))
	defer e.run(t, "rm", id)
	cmd := exec.Command(e.docker, "export", id)
	cmd.Env = e.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(stdout)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("docker export: %v", err)
		}
		names = append(names, "/"+strings.TrimPrefix(h.Name, "./"))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker export: %v", err)
	}
	return names
}

// readImageFile returns a file of the image (docker cp from a container made from it).
func readImageFile(t *testing.T, e *engine, ref, path string) string {
	t.Helper()
	id := strings.TrimSpace(e.run(t, "create", ref))
	defer e.run(t, "rm", id)
	// docker cp to - writes a tar stream.
	tr := tar.NewReader(strings.NewReader(e.run(t, "cp", id+":"+path, "-")))
	if _, err := tr.Next(); err != nil {
		t.Fatalf("docker cp %s: %v", path, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tarballTags returns the references a docker save tarball holds (its manifest.json's RepoTags).
func tarballTags(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read only: closing loses nothing
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no manifest.json: %v", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			t.Fatalf("%s: manifest.json: %v", path, err)
		}
		var tags []string
		for _, m := range manifest {
			tags = append(tags, m.RepoTags...)
		}
		return tags
	}
}
