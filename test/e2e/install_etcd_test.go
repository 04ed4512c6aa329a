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

// The etcd of the install's etcd-ha overlay, run from the manifests' own command, args, env and
// Secrets on loopback.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestInstallEtcdHA runs the etcd of overlays/etcd-ha: three members started with the
// StatefulSet's command, args and env and the rendered Secrets, on loopback. Substituted: the pod's
// addresses (0.0.0.0 and the members' DNS names become 127.0.0.1, each member with its own ports),
// the data directory, the Secret volumes' paths, and the binary (the plane's etcd). The members form
// one cluster over mutual peer TLS, pass the manifest's readiness and liveness probes, and serve
// only clients with a certificate of the etcd CA.
func TestInstallEtcdHA(t *testing.T) {
	r := kustomize(t, filepath.Join(installTree(t), "overlays", "etcd-ha"))
	sts := typed[appsv1.StatefulSet](t, r.find(t, "StatefulSet", installNamespace, "easyservice-etcd"))
	spec := &sts.Spec.Template.Spec
	c := container(t, spec, "etcd")
	etcdBin := findPlaneProcess(t, "easyservice-etcd").argv[0]
	work := t.TempDir()

	// The Secret volumes as directories.
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			dir := filepath.Join(work, m.Name)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			for key, data := range secretData(t, r, v.Secret.SecretName) {
				if err := os.WriteFile(filepath.Join(dir, key), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			mounts[m.MountPath] = dir
		}
	}
	containerPort := map[string]int{}
	for _, p := range c.Ports {
		containerPort[p.Name] = int(p.ContainerPort)
	}
	n := int(*sts.Spec.Replicas)
	ports := freePorts(t, 3*n) // client, peer, metrics of each member
	member := func(i int) string { return fmt.Sprintf("%s-%d", sts.Name, i) }
	host := func(i int) string {
		return fmt.Sprintf("%s.%s.%s.svc", member(i), sts.Spec.ServiceName, installNamespace)
	}
	local := func(i int, port int) int {
		switch port {
		case containerPort["client"]:
			return ports[3*i]
		case containerPort["peer"]:
			return ports[3*i+1]
		case containerPort["metrics"]:
			return ports[3*i+2]
		}
		t.Fatalf("port %d is none of the container's", port)
		return 0
	}
	// substitute rewrites a value of member i: URLs to loopback, mount paths to the directories.
	urlRE := regexp.MustCompile(`(https?)://([^:/,]+):(\d+)`)
	substitute := func(i int, v string) string {
		v = strings.ReplaceAll(v, "$(POD_NAME)", member(i))
		v = urlRE.ReplaceAllStringFunc(v, func(u string) string {
			m := urlRE.FindStringSubmatch(u)
			port, _ := strconv.Atoi(m[3])
			owner := i
			for j := range n {
				if m[2] == host(j) {
					owner = j
				}
			}
			if m[2] != "0.0.0.0" && m[2] != host(owner) {
				t.Fatalf("unexpected address %s in %s", u, v)
			}
			return fmt.Sprintf("%s://127.0.0.1:%d", m[1], local(owner, port))
		})
		for mountPath, dir := range mounts {
			v = strings.ReplaceAll(v, mountPath+"/", dir+"/")
		}
		return v
	}

	for i := range n {
		var args []string
		for _, a := range c.Args {
			if strings.HasPrefix(a, "--data-dir=") {
				a = "--data-dir=" + filepath.Join(work, member(i), "data")
			}
			args = append(args, substitute(i, a))
		}
		env := []string{"PATH=" + os.Getenv("PATH")}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
				env = append(env, e.Name+"="+member(i))
			case e.ValueFrom == nil:
				env = append(env, e.Name+"="+substitute(i, e.Value))
			default:
				t.Fatalf("env %s: unexpected source %+v", e.Name, e.ValueFrom)
			}
		}
		if len(c.Command) != 1 || filepath.Base(c.Command[0]) != "etcd" {
			t.Fatalf("command %q is not etcd", c.Command)
		}
		logPath := filepath.Join(work, member(i)+".log")
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(etcdBin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = logFile.Close()
			if t.Failed() {
				out, _ := os.ReadFile(logPath)
				t.Logf("log of %s (%s %s):\n%s", member(i), etcdBin, strings.Join(args, " "), tail(string(out), 30))
			}
		})
	}

	// The kubelet's probes.
	for i := range n {
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP {
				t.Fatalf("etcd's probe %s is %s, not HTTP", p.HTTPGet.Path, p.HTTPGet.Scheme)
			}
			u := fmt.Sprintf("http://127.0.0.1:%d%s", local(i, containerPort[p.HTTPGet.Port.String()]), p.HTTPGet.Path)
			eventually(t, 60*time.Second, member(i)+" "+p.HTTPGet.Path, func(ctx context.Context) (bool, string) {
				code, body, err := httpGet(ctx, http.DefaultClient, u)
				return err == nil && code == http.StatusOK, fmt.Sprintf("%d %v %s", code, err, body)
			})
		}
	}

	// easyservice-apiserver's view: the client certificate and CA of its Secret, the name of
	// --etcd-servers.
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", installNamespace, serverName))
	server := container(t, &d.Spec.Template.Spec, serverName)
	etcdURL, err := url.Parse(flagValue(t, server.Args, "--etcd-servers"))
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := secretData(t, r, "easyservice-etcd-client-tls")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(clientTLS["ca.crt"])
	tlsClient := func(certPEM, keyPEM []byte) *http.Client {
		cfg := &tls.Config{RootCAs: roots, ServerName: etcdURL.Hostname(), MinVersion: tls.VersionTLS12}
		if certPEM != nil {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	ctx := t.Context()
	for i := range n {
		base := fmt.Sprintf("https://127.0.0.1:%d", local(i, containerPort["client"]))
		code, body, err := httpGet(ctx, tlsClient(clientTLS["tls.crt"], clientTLS["tls.key"]), base+"/health")
		if err != nil || code != http.StatusOK || !strings.Contains(body, `"health":"true"`) {
			t.Errorf("%s: /health with easyservice-apiserver's client certificate: %d %v %s", member(i), code, err, body)
		}
		if code, _, err := httpGet(ctx, tlsClient(nil, nil), base+"/health"); err == nil {
			t.Errorf("%s: a client without a certificate got %d", member(i), code)
		}
		serving := secretData(t, r, "easyservice-apiserver-tls")
		if code, _, err := httpGet(ctx, tlsClient(serving["tls.crt"], serving["tls.key"]), base+"/health"); err == nil {
			t.Errorf("%s: a client certificate of another CA got %d", member(i), code)
		}
	}
	// One cluster of n members.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/v3/cluster/member/list", local(0, containerPort["client"])), strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tlsClient(clientTLS["tls.crt"], clientTLS["tls.key"]).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var list struct{ Members []struct{ Name string } }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if want := []string{member(0), member(1), member(2)}; !slices.Equal(names, want) {
		t.Errorf("etcd members %q, want %q", names, want)
	}
}
