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

// Command webapp is the small web server the cluster tests run as an EasyService's image: every
// GET (or HEAD) answers 200 with a fixed line and the host name, which in a pod is the pod's name,
// so that the replicas behind one Service can be told apart:
//
//	easyservice webapp
//	hostname: web-7d4b9c8f6d-x2kqp
//
// It listens on -port (default: $PORT, else 8080) on all addresses, and on SIGTERM stops
// accepting connections and finishes the requests it has (as a pod's container should).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/easyservice/easyservice/hack/internal/serve"
)

// Greeting is the fixed first line of every answer.
const Greeting = "easyservice webapp"

func main() {
	defaultPort := 8080
	if p := os.Getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			log.Fatalf("PORT=%q is not a port number", p)
		}
		defaultPort = n
	}
	port := flag.Int("port", defaultPort, "the TCP port to listen on (default: $PORT, else 8080)")
	flag.Parse()
	if *port < 1 || *port > 65535 {
		log.Fatalf("port %d is out of range 1-65535", *port)
	}
	hostname, err := os.Hostname()
	if err != nil {
		log.Fatal(err)
	}
	if err := run(net.JoinHostPort("", strconv.Itoa(*port)), hostname); err != nil {
		log.Fatal(err)
	}
}

func run(addr, hostname string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Printf("webapp %s listening on %s", hostname, ln.Addr())
	return serve.UntilSignal(ln, newHandler(hostname), 10*time.Second)
}

// newHandler answers every GET and HEAD with the greeting and hostname.
func newHandler(hostname string) http.Handler {
	body := fmt.Sprintf("%s\nhostname: %s\n", Greeting, hostname)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// A failed write means the client has gone: there is no one left to tell.
		_, _ = io.WriteString(w, body)
	})
}
