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
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goEnv returns `go env <name>` of the host.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// TestGoModDownload serves the host's module download cache and lets the go command download a
// module our go.mod requires into an empty module cache through it, as a container build does:
// with the module's hashes in go.sum the download succeeds; without them the checksum database
// must be asked, which the proxy refuses, and the download fails instead of going to the network.
func TestGoModDownload(t *testing.T) {
	// A module of our go.mod: `go mod download` of the repository has put it in the cache.
	const module = "github.com/spf13/pflag"
	version := strings.TrimSpace(string(must(exec.Command("go", "list", "-m", "-f", "{{.Version}}", module).Output())))
	cache := filepath.Join(goEnv(t, "GOMODCACHE"), "cache", "download")
	if _, err := os.Stat(filepath.Join(cache, module, "@v", version+".zip")); err != nil {
		t.Fatalf("%s@%s is not in the host's module cache (run go mod download): %v", module, version, err)
	}
	server := httptest.NewServer(newHandler(cache))
	defer server.Close()

	// download runs go mod download in a new module that requires the module, with an empty module
	// cache, through the proxy only.
	download := func(t *testing.T, goSum string) (string, error) {
		dir := t.TempDir()
		goMod := "module example.com/build\n\ngo 1.26\n\nrequire " + module + " " + version + "\n"
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), []byte(goSum), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("go", "mod", "download", "-json")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOMODCACHE="+t.TempDir(), "GOFLAGS=-modcacherw", "GOPROXY="+server.URL,
			"GOSUMDB=sum.golang.org", "GONOSUMDB=", "GONOSUMCHECK=", "GOPRIVATE=", "GOWORK=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	t.Run("go.sum has the hashes", func(t *testing.T) {
		// The module's lines of our go.sum.
		var goSum strings.Builder
		for line := range strings.Lines(string(must(os.ReadFile("../../../go.sum")))) {
			if strings.HasPrefix(line, module+" "+version+" ") || strings.HasPrefix(line, module+" "+version+"/go.mod ") {
				goSum.WriteString(line)
			}
		}
		out, err := download(t, goSum.String())
		if err != nil {
			t.Fatalf("go mod download through the proxy: %v\n%s", err, out)
		}
		if !strings.Contains(out, `"Zip"`) {
			t.Errorf("go mod download printed no Zip:\n%s", out)
		}
	})
	t.Run("go.sum lacks the hashes", func(t *testing.T) {
		out, err := download(t, "")
		if err == nil {
			t.Fatalf("go mod download without the hashes succeeded, want the checksum database refused:\n%s", out)
		}
		if !strings.Contains(out, "403 Forbidden") {
			t.Errorf("want the proxy's refusal (403 Forbidden), got:\n%s", out)
		}
	})
}

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "example.com", "m", "@v"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.com", "m", "@v", "v1.0.0.mod"), []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	handler := newHandler(dir)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/example.com/m/@v/v1.0.0.mod", 200},
		{"HEAD", "/example.com/m/@v/v1.0.0.mod", 200},
		{"GET", "/example.com/m/@v/v1.0.1.mod", 404},
		{"GET", "/example.com/m/@v/", 404},
		{"PUT", "/example.com/m/@v/v1.0.0.mod", 405},
		{"GET", "/sumdb/sum.golang.org/supported", 200},
		{"GET", "/sumdb/sum.golang.org/lookup/example.com/m@v1.0.0", 403},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
