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

// Command goproxy serves a Go module download cache (GOMODCACHE/cache/download, which has the
// layout of the GOPROXY protocol) as a module proxy on 127.0.0.1, so that a container build's `go
// mod download` gets the host's modules without reaching the network:
//
//	goproxy [-dir $(go env GOMODCACHE)/cache/download] [-listen 127.0.0.1:0] [-addr-file FILE]
//
// It refuses every checksum-database request, loudly: the build's go.sum must hold every
// module's hash. (To go, a proxy that answers /sumdb/<db>/supported serves that checksum database;
// with none, go would ask the database on the network.) It prints each request it cannot serve,
// and stops on SIGINT or SIGTERM. hack/images.sh runs it for the duration of `make image`.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/easyservice/easyservice/hack/internal/serve"
)

func main() {
	dir := flag.String("dir", "", "the module download cache to serve (default: $(go env GOMODCACHE)/cache/download)")
	listen := flag.String("listen", "127.0.0.1:0", "the address to listen on")
	addrFile := flag.String("addr-file", "", "write the address listened on (host:port) to this file once serving")
	flag.Parse()
	log.SetPrefix("goproxy: ")
	log.SetFlags(0)
	if err := run(*dir, *listen, *addrFile); err != nil {
		log.Fatal(err)
	}
}

func run(dir, listen, addrFile string) error {
	if dir == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return fmt.Errorf("go env GOMODCACHE: %w", err)
		}
		dir = filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	}
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if addrFile != "" {
		// Written only now that the port is bound: a reader of the file can connect at once.
		if err := os.WriteFile(addrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	log.Printf("serving %s on http://%s", dir, ln.Addr())
	return serve.UntilSignal(ln, newHandler(dir), 5*time.Second)
}

// newHandler serves the files of dir read-only, refuses the checksum database and logs what it
// cannot serve.
func newHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		case r.URL.Path == "/sumdb" || strings.HasPrefix(r.URL.Path, "/sumdb/"):
			// "supported" says yes, so that go asks us and never the database itself; every
			// lookup then fails, naming the request.
			if strings.HasSuffix(r.URL.Path, "/supported") {
				return
			}
			log.Printf("refused checksum database request %s: go.sum lacks a hash", r.URL.Path)
			http.Error(w, "goproxy: no checksum database here: go.sum must hold every hash", http.StatusForbidden)
		case strings.HasSuffix(r.URL.Path, "/"):
			// No directory listings: a module proxy serves files only.
			http.NotFound(w, r)
		default:
			rec := &statusRecorder{ResponseWriter: w}
			files.ServeHTTP(rec, r)
			if rec.status == http.StatusNotFound {
				log.Printf("not in the cache: %s", r.URL.Path)
			}
		}
	})
}

// statusRecorder remembers the status code of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
