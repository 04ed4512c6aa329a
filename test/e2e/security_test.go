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

package e2e

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurity checks authentication and authorization of EasyService requests, through
// kube-apiserver and directly on our server, including request-header spoofing and old TLS.
func TestSecurity(t *testing.T) {
	nsA := createNamespace(t, "sec-a")
	nsB := createNamespace(t, "sec-b")
	for _, ns := range []string{nsA, nsB} {
		kubectl(t, easyServiceJSON(ns, "web"), "create", "-f", "-")
	}
	kubectl(t, fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: esvc-viewer, namespace: %[1]s}
rules:
- {apiGroups: [app.easyservice.io], resources: [easyservices], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: esvc-editor, namespace: %[1]s}
rules:
- {apiGroups: [app.easyservice.io], resources: [easyservices], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: esvc-viewer, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: esvc-viewer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: e2e-viewer}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: esvc-editor, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: esvc-editor}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: e2e-editor}]
`, nsA), "apply", "-f", "-")

	clusterCA := loadCA(t, "ca")
	kubeURL := "https://127.0.0.1:" + plane.env["KUBE_APISERVER_PORT"]
	esURL := "https://127.0.0.1:" + plane.env["ES_PORT"]
	targets := []struct {
		name, url, ca string
	}{
		{"through kube-apiserver", kubeURL, "ca"},
		{"directly", esURL, "easyservice-ca"},
	}
	collection := func(base, ns string) string {
		return base + "/apis/app.easyservice.io/v1/namespaces/" + ns + "/easyservices"
	}
	users := map[string]tls.Certificate{}
	for _, name := range []string{"e2e-nobody", "e2e-viewer", "e2e-editor"} {
		users[name] = clusterCA.clientCert(t, pkix.Name{CommonName: name})
	}

	for _, target := range targets {
		t.Run(target.name, func(t *testing.T) {
			as := func(user string) *http.Client {
				if user == "" {
					return httpsClient(t, target.ca)
				}
				return httpsClient(t, target.ca, users[user])
			}
			for _, tc := range []struct {
				user, method, ns, body string
				code                   int
			}{
				{"", "GET", nsA, "", http.StatusUnauthorized},
				{"e2e-nobody", "GET", nsA, "", http.StatusForbidden},
				{"e2e-viewer", "GET", nsA, "", http.StatusOK},
				{"e2e-viewer", "POST", nsA, easyServiceJSON(nsA, "by-viewer"), http.StatusForbidden},
				{"e2e-viewer", "GET", nsB, "", http.StatusForbidden},
				{"e2e-editor", "GET", nsB, "", http.StatusForbidden},
				{"e2e-editor", "POST", nsA, easyServiceJSON(nsA, "by-editor-"+strings.ReplaceAll(strings.ToLower(target.name), " ", "-")), http.StatusCreated},
			} {
				code, body := call(t, as(tc.user), tc.method, collection(target.url, tc.ns), tc.body, nil)
				if code != tc.code {
					t.Errorf("%s %s in %s as %q = %d, want %d: %.300s", tc.method, target.name, tc.ns, tc.user, code, tc.code, body)
				}
				if tc.code == http.StatusForbidden && !strings.Contains(body, `User \"`+tc.user+`\"`) {
					t.Errorf("the 403 for %q does not name the user: %.300s", tc.user, body)
				}
			}
		})
	}

	t.Run("request-header spoofing", func(t *testing.T) {
		spoof := map[string]string{"X-Remote-User": "kubernetes-admin", "X-Remote-Group": "system:masters"}
		url := collection(esURL, nsA)
		frontProxyCA := loadCA(t, "front-proxy-ca")
		realProxyCert, err := tls.LoadX509KeyPair(filepath.Join(plane.dir, "pki", "front-proxy-client.crt"), filepath.Join(plane.dir, "pki", "front-proxy-client.key"))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			cert []tls.Certificate
			code int
		}{
			// Without the front-proxy certificate the headers are ignored.
			{"no client certificate", nil, http.StatusUnauthorized},
			// A certificate from the cluster CA, with the allowed name: an ordinary user named
			// front-proxy-client, not the admin in the headers.
			{"cluster CA, CN front-proxy-client", []tls.Certificate{clusterCA.clientCert(t, pkix.Name{CommonName: "front-proxy-client"})}, http.StatusForbidden},
			// The front-proxy CA, but a name outside --requestheader-allowed-names.
			{"front-proxy CA, CN intruder", []tls.Certificate{frontProxyCA.clientCert(t, pkix.Name{CommonName: "intruder"})}, http.StatusUnauthorized},
			// The real front proxy: the headers count. This proves the cases above are refused
			// for their certificates, not for the headers.
			{"the front proxy's certificate", []tls.Certificate{realProxyCert}, http.StatusOK},
		} {
			code, body := call(t, httpsClient(t, "easyservice-ca", tc.cert...), "GET", url, "", spoof)
			if code != tc.code {
				t.Errorf("%s with X-Remote-User kubernetes-admin = %d, want %d: %.300s", tc.name, code, tc.code, body)
			}
			if code == http.StatusForbidden && strings.Contains(body, "kubernetes-admin") {
				t.Errorf("%s was taken for kubernetes-admin: %.300s", tc.name, body)
			}
		}
	})

	t.Run("TLS below 1.2 is refused", func(t *testing.T) {
		addr := "127.0.0.1:" + plane.env["ES_PORT"]
		roots := httpsClient(t, "easyservice-ca").Transport.(*http.Transport).TLSClientConfig.RootCAs
		for _, tc := range []struct {
			version uint16
			ok      bool
		}{{tls.VersionTLS10, false}, {tls.VersionTLS11, false}, {tls.VersionTLS12, true}, {tls.VersionTLS13, true}} {
			conn, err := tls.Dial("tcp", addr, &tls.Config{MinVersion: tc.version, MaxVersion: tc.version, RootCAs: roots}) //nolint:gosec // old versions on purpose
			if err == nil {
				_ = conn.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("TLS version %x: handshake error %v, want success %v", tc.version, err, tc.ok)
			}
		}
	})
}
