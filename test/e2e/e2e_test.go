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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

var easyServicesV1 = schema.GroupVersionResource{Group: "app.easyservice.io", Version: "v1", Resource: "easyservices"}

func easyServiceJSON(namespace, name string) string {
	return fmt.Sprintf(`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":%q,"namespace":%q,"labels":{"e2e":"true"}},`+
		`"spec":{"replicas":1,"image":"nginx:1.27","ports":[{"port":80}]}}`, name, namespace)
}

// TestAggregatedAPI ports Kubernetes' aggregator conformance scenario ("Should be able to support
// the 1.17 Sample API Server using the current Aggregator") to EasyService.
func TestAggregatedAPI(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "aggregator")
	rc := plane.kube.Discovery().RESTClient()

	for _, version := range []string{"v1", "v1beta1"} {
		raw, err := rc.Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices/" + version + ".app.easyservice.io/status").DoRaw(ctx)
		if err != nil {
			t.Fatalf("reading APIService %s.app.easyservice.io: %v", version, err)
		}
		var apiService struct {
			Status struct {
				Conditions []struct{ Type, Status, Reason, Message string } `json:"conditions"`
			} `json:"status"`
		}
		if err := json.Unmarshal(raw, &apiService); err != nil {
			t.Fatal(err)
		}
		c := apiService.Status.Conditions
		if len(c) == 0 || c[0].Type != "Available" || c[0].Status != "True" || c[0].Message != "all checks passed" {
			t.Errorf("APIService %s.app.easyservice.io conditions = %+v, want Available with \"all checks passed\"", version, c)
		}
	}

	// A raw POST through kube-apiserver, as kubectl create -f would send it.
	path := "/apis/app.easyservice.io/v1/namespaces/" + ns + "/easyservices"
	var code int
	result := rc.Post().AbsPath(path).SetHeader("Content-Type", "application/json").Body([]byte(easyServiceJSON(ns, "rest-web"))).Do(ctx).StatusCode(&code)
	if err := result.Error(); err != nil || code != http.StatusCreated {
		t.Fatalf("POST %s = %d, %v; want 201", path, code, err)
	}
	raw, err := rc.Get().AbsPath(path).DoRaw(ctx)
	if err != nil || !strings.Contains(string(raw), `"name":"rest-web"`) {
		t.Fatalf("the list lacks rest-web: %v %s", err, raw)
	}

	// The dynamic client, as the garbage collector and the namespace controller use it.
	dyn := plane.dynamic.Resource(easyServicesV1).Namespace(ns)
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON([]byte(easyServiceJSON(ns, "dynamic-web"))); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("dynamic create: %v", err)
	}
	list, err := dyn.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("dynamic list: %v, %d items, want 2", err, len(list.Items))
	}

	// DELETE → gone.
	if err := rc.Delete().AbsPath(path + "/rest-web").Do(ctx).Error(); err != nil {
		t.Fatalf("DELETE rest-web: %v", err)
	}
	if _, err := dyn.Get(ctx, "rest-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("rest-web after DELETE: %v, want NotFound", err)
	}

	// Discovery through the aggregator lists the resource in both versions.
	for _, gv := range []string{"app.easyservice.io/v1", "app.easyservice.io/v1beta1"} {
		resources, err := plane.kube.Discovery().ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Fatalf("discovery of %s: %v", gv, err)
		}
		found := false
		for _, r := range resources.APIResources {
			found = found || r.Name == "easyservices"
		}
		if !found {
			t.Errorf("discovery of %s lacks easyservices: %+v", gv, resources.APIResources)
		}
	}
}

// TestOpenAPIThroughAggregator checks that kube-apiserver serves our OpenAPI v3 document.
func TestOpenAPIThroughAggregator(t *testing.T) {
	raw, err := plane.kube.Discovery().RESTClient().Get().AbsPath("/openapi/v3/apis/app.easyservice.io/v1").DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"com.github.easyservice.easyservice.pkg.apis.easyservice.v1.EasyService", "com.github.easyservice.easyservice.pkg.apis.easyservice.v1.EasyServiceSpec", `"x-kubernetes-list-map-keys"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the OpenAPI v3 document of app.easyservice.io/v1 lacks %s", want)
		}
	}
}

// TestKubectl uses every kubectl verb a user would on an EasyService.
func TestKubectl(t *testing.T) {
	ns := createNamespace(t, "kubectl")
	n := "--namespace=" + ns

	out := kubectl(t, "", "api-resources", "--api-group=app.easyservice.io", "--no-headers")
	if !regexp.MustCompile(`(?m)^easyservices\s+esvc\s+app.easyservice.io/v1\s+true\s+EasyService$`).MatchString(out) {
		t.Errorf("kubectl api-resources = %q", out)
	}

	out = kubectl(t, "", "explain", "easyservice.spec.ports")
	for _, want := range []string{"GROUP:      app.easyservice.io", "KIND:       EasyService", "VERSION:    v1", "nodePort", "targetPort", "protocol"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain easyservice.spec.ports lacks %q:\n%s", want, out)
		}
	}

	manifest := `apiVersion: app.easyservice.io/v1
kind: EasyService
metadata:
  name: web
spec:
  replicas: 2
  image: nginx:1.27
  env:
  - {name: A, value: "1"}
  ports:
  - {name: http, port: 80, targetPort: 8080}
`
	out = kubectl(t, manifest, "apply", n, "-f", "-")
	if !strings.Contains(out, "easyservice.app.easyservice.io/web created") {
		t.Errorf("kubectl apply = %q", out)
	}
	out = kubectl(t, manifest, "apply", n, "-f", "-")
	if !strings.Contains(out, "easyservice.app.easyservice.io/web unchanged") {
		t.Errorf("second kubectl apply = %q", out)
	}

	out = kubectl(t, "", "get", n, "easyservices")
	if !regexp.MustCompile(`NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+IMAGE\s+PORTS\s+AGE`).MatchString(out) ||
		!regexp.MustCompile(`web\s+\d+/2\s+\d+\s+\d+\s+nginx:1.27\s+80/TCP`).MatchString(out) {
		t.Errorf("kubectl get easyservices =\n%s", out)
	}
	out = kubectl(t, "", "get", n, "esvc", "-o", "wide")
	if !regexp.MustCompile(`TYPE\s+SELECTOR`).MatchString(out) || !strings.Contains(out, "NodePort") {
		t.Errorf("kubectl get esvc -o wide =\n%s", out)
	}
	out = kubectl(t, "", "get", n, "all")
	if !strings.Contains(out, "easyservice.app.easyservice.io/web") {
		t.Errorf("kubectl get all lacks the EasyService:\n%s", out)
	}
	out = kubectl(t, "", "describe", n, "easyservice", "web")
	for _, want := range []string{"Name:", "web", "Namespace:", ns, "Image:", "nginx:1.27", "Replicas:"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe lacks %q:\n%s", want, out)
		}
	}

	// diff shows a change and exits 1; server-side apply takes it over.
	changed := strings.Replace(manifest, "replicas: 2", "replicas: 3", 1)
	out, err := kubectlResult(t, changed, "diff", n, "-f", "-")
	if err == nil || !strings.Contains(out, "-  replicas: 2") || !strings.Contains(out, "+  replicas: 3") {
		t.Errorf("kubectl diff = %v\n%s", err, out)
	}
	out = kubectl(t, changed, "apply", n, "--server-side", "--force-conflicts", "-f", "-")
	if !strings.Contains(out, "serverside-applied") {
		t.Errorf("kubectl apply --server-side = %q", out)
	}
	if got := kubectl(t, "", "get", n, "esvc", "web", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("replicas after server-side apply = %q, want 3", got)
	}

	kubectl(t, "", "patch", n, "esvc", "web", "--type=json", "-p", `[{"op":"replace","path":"/spec/image","value":"nginx:1.28"}]`)
	kubectl(t, "", "patch", n, "esvc", "web", "--type=merge", "-p", `{"metadata":{"labels":{"patched":"merge"}}}`)
	kubectl(t, "", "patch", n, "esvc", "web", "--type=strategic", "-p", `{"spec":{"env":[{"name":"B","value":"2"}]}}`)
	// The strategic merge patch adds B to the env list, keyed by name, and keeps A.
	out = kubectl(t, "", "get", n, "esvc", "web", "-o", "jsonpath={.spec.image} {.metadata.labels.patched} {.spec.env[?(@.name=='A')].value}{.spec.env[?(@.name=='B')].value}")
	if out != "nginx:1.28 merge 12" {
		t.Errorf("after the three patches: %q, want %q", out, "nginx:1.28 merge 12")
	}
	// An invalid patch is refused with the field named, and changes nothing.
	out, err = kubectlResult(t, "", "patch", n, "esvc", "web", "--type=merge", "-p", `{"spec":{"ports":[{"port":70000}]}}`)
	if err == nil || !strings.Contains(out, "spec.ports[0].port") {
		t.Errorf("invalid patch: %v %s", err, out)
	}

	out = kubectl(t, "", "scale", n, "esvc", "web", "--replicas=5")
	if !strings.Contains(out, "scaled") {
		t.Errorf("kubectl scale = %q", out)
	}
	kubectl(t, "", "wait", n, "esvc/web", "--for=jsonpath={.spec.replicas}=5", "--timeout=30s")

	// kubectl get -w sees a change made while it watches. It prints the object as it is (ADDED)
	// before it watches from that object's resourceVersion: a patch made after that line is a
	// change the watch delivers, however long kubectl takes to open it.
	watch := kubectlWatch(t, "get", n, "esvc", "web", "-w", "--output-watch-events", "-o", `jsonpath={.type} {.object.spec.image}{"\n"}`)
	if line := watch.next(t, 30*time.Second); line != "ADDED nginx:1.28" {
		t.Fatalf("kubectl get -w printed %q first, want %q", line, "ADDED nginx:1.28")
	}
	kubectl(t, "", "patch", n, "esvc", "web", "--type=merge", "-p", `{"spec":{"image":"nginx:1.29"}}`)
	// The controller's status writes of the scale-up may come first.
	for line := watch.next(t, 30*time.Second); line != "MODIFIED nginx:1.29"; line = watch.next(t, 30*time.Second) {
		if line != "MODIFIED nginx:1.28" {
			t.Fatalf("kubectl get -w printed %q, want MODIFIED events up to %q", line, "MODIFIED nginx:1.29")
		}
	}

	out = kubectl(t, "", "delete", n, "esvc", "web")
	if !strings.Contains(out, `easyservice.app.easyservice.io "web" deleted`) {
		t.Errorf("kubectl delete = %q", out)
	}
	if out, err := kubectlResult(t, "", "get", n, "esvc", "web"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("get after delete: %v %s", err, out)
	}
}

// kubectlOutput is the standard output of a kubectl that runs on, line by line.
type kubectlOutput struct {
	args  []string
	lines chan string
	// Set before lines is closed, once kubectl has exited.
	err    error
	stderr bytes.Buffer
}

// kubectlWatch starts kubectl with args (a watch, which does not end by itself); kubectl is
// killed when the test ends.
func kubectlWatch(t *testing.T, args ...string) *kubectlOutput {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &kubectlOutput{args: args, lines: make(chan string)}
	cmd := exec.CommandContext(ctx, plane.kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+plane.kubeconfig)
	cmd.Stderr = &out.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(out.lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			select {
			case out.lines <- scanner.Text():
			case <-ctx.Done(): // read on to the end of the killed process's output
			}
		}
		out.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		for range out.lines {
		}
	})
	return out
}

// next is kubectl's next line, failing the test when none comes within timeout.
func (o *kubectlOutput) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case line, ok := <-o.lines:
		if !ok {
			t.Fatalf("kubectl %s exited (%v) before printing another line:\n%s", strings.Join(o.args, " "), o.err, o.stderr.String())
		}
		return line
	case <-time.After(timeout):
		t.Fatalf("kubectl %s printed no line within %v", strings.Join(o.args, " "), timeout)
		return ""
	}
}

// TestTutorialV1beta1 applies the tutorial CRD's sample with only its apiVersion changed, and reads
// it back as v1.
func TestTutorialV1beta1(t *testing.T) {
	ns := createNamespace(t, "tutorial")
	sample, err := os.ReadFile(filepath.Join(plane.root, "artifacts", "examples", "easyservice-v1beta1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubectl(t, string(sample), "apply", "--namespace="+ns, "-f", "-")
	out := kubectl(t, "", "get", "--namespace="+ns, "easyservices.v1.app.easyservice.io", "easyservice-sample",
		"-o", "jsonpath={.apiVersion} {.spec.replicas} {.spec.image} {.spec.ports[0].nodePort} {.spec.serviceType}")
	if want := "app.easyservice.io/v1 2 nginx:1.7.9 31002 NodePort"; out != want {
		t.Errorf("read back as v1: %q, want %q", out, want)
	}
	out = kubectl(t, "", "get", "--namespace="+ns, "easyservices.v1beta1.app.easyservice.io", "easyservice-sample", "-o", "jsonpath={.spec.size}")
	if out != "2" {
		t.Errorf("read back as v1beta1: size %q, want 2", out)
	}
}

// TestNamespaceDeletion deletes a namespace holding EasyServices: the namespace controller must
// find our resource through discovery, delete the objects and finish.
func TestNamespaceDeletion(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "nsdelete")
	for i := range 3 {
		kubectl(t, easyServiceJSON(ns, fmt.Sprintf("web-%d", i)), "create", "-f", "-")
	}
	kubectl(t, "", "delete", "namespace", ns, "--wait=false")
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := plane.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		nsState, _ := kubectlResult(t, "", "get", "namespace", ns, "-o", "yaml")
		t.Fatalf("namespace %s was not deleted within 2m: %v\n%s", ns, err, nsState)
	}
	// Our etcd holds none of them any more.
	list, err := plane.es.AppV1().EasyServices(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("after deleting the namespace: %v, %d EasyServices left", err, len(list.Items))
	}
}
