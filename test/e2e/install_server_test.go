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

// The plane's easyservice-apiserver is the install's: its Deployment's flags, its ServiceAccount,
// its APIServices.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestInstallServerRunsWithDeploymentFlags: the plane's easyservice-apiserver runs with exactly the
// args of the install's Deployment, but for the substitutions hack/local-up.sh documents: a file
// path of a Secret volume becomes the local file with the same content, the addresses become
// loopback ones, and the flags a pod needs not are added (the bind address, the kubeconfigs that
// stand for the in-cluster config, and local-up's fast-shutdown flags the Deployment does not set).
func TestInstallServerRunsWithDeploymentFlags(t *testing.T) {
	r := kustomize(t, filepath.Join(plane.root, "artifacts", "deploy", "base"))
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", installNamespace, serverName))
	c := container(t, &d.Spec.Template.Spec, serverName)
	dir := plane.dir
	env := plane.env
	// The Secrets of the plane's install/ (hack/gen-certs), which hold what local-up's files hold.
	generated, err := os.ReadFile(filepath.Join(dir, "install", "secrets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := decodeObjects(t, string(generated))
	kubeconfig := filepath.Join(dir, "easyservice-apiserver.kubeconfig")

	got := findPlaneProcess(t, serverName).argv[1:]
	if len(got) < len(c.Args) {
		t.Fatalf("the server runs with %q, fewer args than the Deployment's %q", got, c.Args)
	}
	for i, want := range c.Args {
		flag, value, _ := strings.Cut(want, "=")
		gotFlag, gotValue, _ := strings.Cut(got[i], "=")
		if gotFlag != flag {
			t.Errorf("arg %d: %s, the Deployment's is %s", i, got[i], want)
			continue
		}
		switch {
		case strings.HasPrefix(value, "/etc/"):
			secret, key := podFile(t, &d.Spec.Template.Spec, c, value)
			local, err := os.ReadFile(gotValue)
			if err != nil || !bytes.Equal(local, secretData(t, secrets, secret)[key]) {
				t.Errorf("%s: %s does not hold %s of the Secret %s (%v)", flag, gotValue, key, secret, err)
			}
		case flag == "--secure-port":
			if gotValue != env["ES_PORT"] {
				t.Errorf("%s=%s, want ES_PORT %s", flag, gotValue, env["ES_PORT"])
			}
		case flag == "--etcd-servers":
			if want := "https://127.0.0.1:" + env["ES_ETCD_TLS_PORT"]; gotValue != want {
				t.Errorf("%s=%s, want %s", flag, gotValue, want)
			}
		default:
			if got[i] != want {
				t.Errorf("arg %d: %s, the Deployment's is %s", i, got[i], want)
			}
		}
	}
	added := map[string]string{
		"--bind-address":              "127.0.0.1",
		"--kubeconfig":                kubeconfig,
		"--authentication-kubeconfig": kubeconfig,
		"--authorization-kubeconfig":  kubeconfig,
		"--shutdown-send-retry-after": "true",
	}
	for _, a := range got[len(c.Args):] {
		flag, value, _ := strings.Cut(a, "=")
		if want, ok := added[flag]; !ok || value != want {
			t.Errorf("the server has %s, which is not one of local-up's documented additions %v", a, added)
		}
		delete(added, flag)
	}
	if len(added) != 0 {
		t.Errorf("local-up did not add %v", slices.Sorted(maps.Keys(added)))
	}
}

// TestInstallServerIdentity: the plane's server talks to kube-apiserver as the install's
// ServiceAccount (TestMain runs the suite only on such a plane). That RBAC refused it nothing while
// the suite ran is judged after the tests, from kube-apiserver's audit log (checkServerRefusals).
func TestInstallServerIdentity(t *testing.T) {
	kubeconfig := filepath.Join(plane.dir, "easyservice-apiserver.kubeconfig")
	user := kubectl(t, "", "--kubeconfig="+kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if user != serverUser {
		t.Fatalf("easyservice-apiserver's kubeconfig is %q, want %q", user, serverUser)
	}
	args := findPlaneProcess(t, serverName).argv
	for _, flag := range []string{"--kubeconfig", "--authentication-kubeconfig", "--authorization-kubeconfig"} {
		if got := flagValue(t, args, flag); got != kubeconfig {
			t.Errorf("%s=%s, want %s", flag, got, kubeconfig)
		}
	}
}

// duringKubeAPIServerRestart tells whether at falls in one of kubeAPIServerRestarts, give or take
// a second.
func duringKubeAPIServerRestart(at time.Time) bool {
	for _, w := range kubeAPIServerRestarts {
		if !at.Before(w.from.Add(-time.Second)) && !at.After(w.to.Add(time.Second)) {
			return true
		}
	}
	return false
}

// TestInstallLocalAPIServicesMatchInstall: the plane registers EasyService with the install's
// APIServices (but for the caBundle, which is the CA hack/gen-certs made in the plane's install/).
func TestInstallLocalAPIServicesMatchInstall(t *testing.T) {
	r := kustomize(t, filepath.Join(plane.root, "artifacts", "deploy", "base"))
	ca, err := os.ReadFile(filepath.Join(plane.dir, "install", "pki", "easyservice-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, as := range r.ofKind("APIService") {
		want, _, _ := unstructured.NestedMap(as.Object, "spec")
		want["caBundle"] = base64.StdEncoding.EncodeToString(ca)
		live := kubectl(t, "", "get", "apiservice", as.GetName(), "-o", "json")
		var got struct {
			Spec   map[string]any
			Status struct{ Conditions []metav1.Condition }
		}
		if err := json.Unmarshal([]byte(live), &got); err != nil {
			t.Fatal(err)
		}
		// JSON numbers on both sides.
		wantJSON, _ := json.Marshal(want)
		gotJSON, _ := json.Marshal(got.Spec)
		var w, g any
		_ = json.Unmarshal(wantJSON, &w)
		_ = json.Unmarshal(gotJSON, &g)
		if !equalJSON(w, g) {
			t.Errorf("APIService %s: the plane's spec is\n%s\nthe install's (with the plane's caBundle)\n%s", as.GetName(), gotJSON, wantJSON)
		}
		if !slices.ContainsFunc(got.Status.Conditions, func(c metav1.Condition) bool { return c.Type == "Available" && c.Status == metav1.ConditionTrue }) {
			t.Errorf("APIService %s is not Available: %+v", as.GetName(), got.Status.Conditions)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
