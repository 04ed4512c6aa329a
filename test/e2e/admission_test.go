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

// The cluster's admission on EasyServices through the aggregator: easyservice-apiserver runs
// NamespaceLifecycle, MutatingAdmissionPolicy and ValidatingAdmissionPolicy with the cluster's
// namespaces and policies, as kube-apiserver does for its own kinds.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
)

// getStored reads key, or with opts the keys it selects, in the server's own etcd, there directly
// (on its plain-HTTP client port).
func getStored(t *testing.T, key string, opts ...clientv3.OpOption) *clientv3.GetResponse {
	t.Helper()
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"http://127.0.0.1:" + plane.env["ES_ETCD_CLIENT_PORT"]},
		DialTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := client.Get(ctx, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// storedEasyServices are the keys of the EasyServices of namespace in the server's own etcd.
func storedEasyServices(t *testing.T, namespace string) []string {
	t.Helper()
	resp := getStored(t, "/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	var keys []string
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Key), "/easyservices/"+namespace+"/") {
			keys = append(keys, string(kv.Key))
		}
	}
	return keys
}

func easyService(name string, replicas int32) *v1.EasyService {
	return &v1.EasyService{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1.EasyServiceSpec{Replicas: &replicas, Image: "nginx:1.27", Ports: []v1.EasyServicePort{{Port: 80}}},
	}
}

// waitRefusedOnDryRun waits until the server refuses a dry-run create of es in namespace for the
// reason refused tells: the server's informers have the cluster's state. A dry run stores nothing.
func waitRefusedOnDryRun(t *testing.T, namespace string, es *v1.EasyService, what string, refused func(error) bool) {
	t.Helper()
	_, _ = waitOnDryRun(t, namespace, es, "refuse "+what, func(_ *v1.EasyService, err error) bool {
		return err != nil && refused(err)
	})
}

// waitOnDryRun repeats a dry-run create of es in namespace until the server's answer is done, and
// returns that answer; the test fails after 30 s of other answers, saying that the server did not
// do what tells.
func waitOnDryRun(t *testing.T, namespace string, es *v1.EasyService, what string, done func(*v1.EasyService, error) bool) (*v1.EasyService, error) {
	t.Helper()
	var (
		created *v1.EasyService
		last    error
	)
	// (The test's context for the create: the poll's ends with one under way.)
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		created, last = plane.es.AppV1().EasyServices(namespace).Create(t.Context(), es, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return done(created, last), nil
	})
	if err != nil {
		t.Fatalf("waiting for the server to %s: %v; last answer: %v %+v", what, err, last, created)
	}
	return created, last
}

// TestNamespaceLifecycle: the server refuses an EasyService in a namespace that does not exist
// (404) or is being deleted (403, cause NamespaceTerminating) and stores nothing; in an active
// namespace the same create is stored (which shows that storedEasyServices finds it).
func TestNamespaceLifecycle(t *testing.T) {
	ctx := t.Context()

	missing := fmt.Sprintf("lifecycle-missing-%d", time.Now().UnixNano()%1_000_000)
	_, err := plane.es.AppV1().EasyServices(missing).Create(ctx, easyService("web", 1), metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), fmt.Sprintf("namespaces %q not found", missing)) {
		t.Errorf("create in the missing namespace %s: %v, want NotFound for the namespace", missing, err)
	}
	if keys := storedEasyServices(t, missing); len(keys) != 0 {
		t.Errorf("stored in the missing namespace: %v", keys)
	}

	// A ConfigMap's finalizer keeps the namespace Terminating until the test ends.
	terminating := createNamespace(t, "lifecycle-terminating")
	kubectl(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"hold","finalizers":["e2e.easyservice.io/hold"]}}`,
		"create", "--namespace="+terminating, "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectlResult(t, "", "patch", "--namespace="+terminating, "configmap", "hold", "--type=json",
			"-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
	})
	active := easyService("before", 1)
	if _, err := plane.es.AppV1().EasyServices(terminating).Create(ctx, active, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create in the active namespace %s: %v", terminating, err)
	}
	if keys := storedEasyServices(t, terminating); len(keys) != 1 || !strings.HasSuffix(keys[0], "/"+terminating+"/before") {
		t.Fatalf("our etcd holds %v for the namespace %s, want the EasyService before", keys, terminating)
	}
	kubectl(t, "", "delete", "namespace", terminating, "--wait=false")
	ns, err := plane.kube.CoreV1().Namespaces().Get(ctx, terminating, metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("namespace %s after its delete: %v %+v, want Terminating", terminating, err, ns.Status)
	}
	isTerminating := func(err error) bool {
		return apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
	}
	waitRefusedOnDryRun(t, terminating, easyService("web", 1), "a create in the terminating namespace", isTerminating)
	_, err = plane.es.AppV1().EasyServices(terminating).Create(ctx, easyService("web", 1), metav1.CreateOptions{})
	if !isTerminating(err) || !strings.Contains(err.Error(), "because it is being terminated") {
		t.Errorf("create in the terminating namespace %s: %v, want 403 with the cause NamespaceTerminating", terminating, err)
	}
	for _, key := range storedEasyServices(t, terminating) {
		if !strings.HasSuffix(key, "/before") {
			t.Errorf("stored in the terminating namespace: %s", key)
		}
	}
}

// TestValidatingAdmissionPolicy: a ValidatingAdmissionPolicy with a CEL rule on EasyServices, bound
// to one namespace, refuses what breaks it with the policy's message (422), in v1 and in v1beta1
// (converted to v1, the version the policy matches), on create and on update, and stores nothing
// of it; what keeps to it is stored.
func TestValidatingAdmissionPolicy(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "vap")
	name := "easyservice-e2e-" + ns
	const message = "an EasyService runs at most 5 replicas"
	kubectl(t, fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: %[1]s}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [app.easyservice.io]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [easyservices]
  validations:
  - expression: object.spec.replicas <= 5
    message: %[3]s
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: %[1]s}
spec:
  policyName: %[1]s
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: %[2]s}
`, name, ns, message), "create", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectlResult(t, "", "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, "--wait=false")
	})
	denied := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", name, name, message)
	refusedByPolicy := func(err error) bool {
		status, ok := err.(apierrors.APIStatus)
		return ok && status.Status().Code == http.StatusUnprocessableEntity && strings.Contains(err.Error(), denied)
	}

	waitRefusedOnDryRun(t, ns, easyService("big", 6), "an EasyService of 6 replicas", refusedByPolicy)
	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("big", 6), metav1.CreateOptions{}); !refusedByPolicy(err) {
		t.Errorf("v1 create with 6 replicas: %v, want 422 with %q", err, denied)
	}
	size := int32(6)
	big := &v1beta1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: "big-v1beta1"},
		Spec: v1beta1.EasyServiceSpec{Replicas: &size, Image: "nginx:1.27", Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := plane.es.AppV1beta1().EasyServices(ns).Create(ctx, big, metav1.CreateOptions{}); !refusedByPolicy(err) {
		t.Errorf("v1beta1 create with size 6: %v, want 422 with %q", err, denied)
	}
	// kubectl apply --server-side: a create by apply is judged the same.
	if out, err := kubectlResult(t, strings.Replace(webManifest, "replicas: 2", "replicas: 6", 1), "apply", "--server-side", "--namespace="+ns, "-f", "-"); err == nil || !strings.Contains(out, denied) {
		t.Errorf("kubectl apply --server-side of 6 replicas: %v, want refused with %q:\n%s", err, denied, out)
	}
	if keys := storedEasyServices(t, ns); len(keys) != 0 {
		t.Errorf("stored although refused: %v", keys)
	}

	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("web", 5), metav1.CreateOptions{}); err != nil {
		t.Fatalf("v1 create with 5 replicas: %v", err)
	}
	_, err := plane.es.AppV1().EasyServices(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":6}}`), metav1.PatchOptions{})
	if !refusedByPolicy(err) {
		t.Errorf("update to 6 replicas: %v, want 422 with %q", err, denied)
	}
	web, err := plane.es.AppV1().EasyServices(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *web.Spec.Replicas != 5 || web.Generation != 1 {
		t.Errorf("after the refused update: %v, want replicas 5 at generation 1: %+v", err, web)
	}
	if keys := storedEasyServices(t, ns); len(keys) != 1 || !strings.HasSuffix(keys[0], "/"+ns+"/web") {
		t.Errorf("our etcd holds %v for the namespace, want web alone", keys)
	}
}

// storedEasyService decodes the EasyService namespace/name as the server's own etcd holds it: v1
// in protobuf, which the test decodes with a scheme of v1 alone, not with the server's codecs.
func storedEasyService(t *testing.T, namespace, name string) *v1.EasyService {
	t.Helper()
	var key string
	for _, k := range storedEasyServices(t, namespace) {
		if strings.HasSuffix(k, "/"+namespace+"/"+name) {
			key = k
		}
	}
	if key == "" {
		t.Fatalf("our etcd holds no EasyService %s/%s", namespace, name)
	}
	resp := getStored(t, key)
	if len(resp.Kvs) != 1 {
		t.Fatalf("our etcd holds %d values at %s, want 1", len(resp.Kvs), key)
	}
	value := resp.Kvs[0].Value
	// Every protobuf-encoded Kubernetes object starts with "k8s\0" (runtime.Unknown behind it).
	if !bytes.HasPrefix(value, []byte("k8s\x00")) {
		t.Fatalf("the value at %s is not protobuf: %.60q", key, value)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(v1.AddToScheme(scheme))
	var es v1.EasyService
	if _, _, err := protobuf.NewSerializer(scheme, scheme).Decode(value, nil, &es); err != nil {
		t.Fatalf("decoding the value at %s: %v", key, err)
	}
	if es.APIVersion != v1.SchemeGroupVersion.String() || es.Kind != "EasyService" {
		t.Fatalf("the value at %s is a %s %s, want an EasyService of %s", key, es.APIVersion, es.Kind, v1.SchemeGroupVersion)
	}
	return &es
}

// TestMutatingAdmissionPolicy: a MutatingAdmissionPolicy on EasyServices, bound to one namespace,
// adds a label and an environment variable (an apply configuration) to what is created or updated
// there, in v1 and in v1beta1 (converted to v1, the version the policy matches): the answer of the
// create, a GET and the value in our etcd all hold the change. What was created before the policy,
// and what is created in another namespace, is stored as sent.
func TestMutatingAdmissionPolicy(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "map")
	unbound := createNamespace(t, "map-unbound")
	name := "easyservice-e2e-" + ns
	const label = "e2e.easyservice.io/mutated"
	env := corev1.EnvVar{Name: "E2E_MUTATED", Value: "true"}
	mutated := func(es *v1.EasyService) bool {
		return es.Labels[label] == "true" && slices.Contains(es.Spec.Env, env)
	}
	// check wants es (what the API returned, or what our etcd holds) mutated or not.
	check := func(what string, es *v1.EasyService, want bool) {
		t.Helper()
		if got := mutated(es); got != want {
			t.Errorf("%s: mutated %t, want %t: labels %v, env %v", what, got, want, es.Labels, es.Spec.Env)
		}
	}

	before, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("before", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create before the policy: %v", err)
	}
	check("the create before the policy", before, false)
	check("the value of before in our etcd", storedEasyService(t, ns, "before"), false)

	kubectl(t, fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: %[1]s}
spec:
  failurePolicy: Fail
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules:
    - apiGroups: [app.easyservice.io]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [easyservices]
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >-
        Object{
          metadata: Object.metadata{labels: {%[3]q: "true"}},
          spec: Object.spec{env: [Object.spec.env{name: %[4]q, value: %[5]q}]}
        }
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: %[1]s}
spec:
  policyName: %[1]s
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: %[2]s}
`, name, ns, label, env.Name, env.Value), "create", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectlResult(t, "", "delete", "mutatingadmissionpolicybinding,mutatingadmissionpolicy", name, "--wait=false")
	})
	// Only the wait matters: done has checked the answer.
	_, _ = waitOnDryRun(t, ns, easyService("probe", 1), "mutate a create in "+ns, func(es *v1.EasyService, err error) bool {
		return err == nil && mutated(es)
	})

	created, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("web", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("v1 create: %v", err)
	}
	check("the v1 create's answer", created, true)
	got, err := plane.es.AppV1().EasyServices(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("a GET of web", got, true)
	check("the value of web in our etcd", storedEasyService(t, ns, "web"), true)

	// An update of what was stored before the policy is mutated too.
	updated, err := plane.es.AppV1().EasyServices(ns).Patch(ctx, "before", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("update of before: %v", err)
	}
	check("the update's answer", updated, true)
	check("the value of before in our etcd after its update", storedEasyService(t, ns, "before"), true)

	other, err := plane.es.AppV1().EasyServices(unbound).Create(ctx, easyService("web", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create in the unbound namespace %s: %v", unbound, err)
	}
	check("the create's answer in the unbound namespace", other, false)
	if got, err = plane.es.AppV1().EasyServices(unbound).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	check("a GET in the unbound namespace", got, false)
	check("the value in our etcd in the unbound namespace", storedEasyService(t, unbound, "web"), false)

	// In v1beta1 the variables are spec.envs.
	size := int32(1)
	beta := &v1beta1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: "web-v1beta1"},
		Spec: v1beta1.EasyServiceSpec{Replicas: &size, Image: "nginx:1.27", Ports: []corev1.ServicePort{{Port: 80}}}}
	betaMutated := func(what string, es *v1beta1.EasyService) {
		t.Helper()
		if es.Labels[label] != "true" || !slices.Contains(es.Spec.Envs, env) {
			t.Errorf("%s: labels %v, envs %v, want the label %s and the variable %s", what, es.Labels, es.Spec.Envs, label, env.Name)
		}
	}
	createdBeta, err := plane.es.AppV1beta1().EasyServices(ns).Create(ctx, beta, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("v1beta1 create: %v", err)
	}
	betaMutated("the v1beta1 create's answer", createdBeta)
	gotBeta, err := plane.es.AppV1beta1().EasyServices(ns).Get(ctx, "web-v1beta1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	betaMutated("a v1beta1 GET of web-v1beta1", gotBeta)
	if got, err = plane.es.AppV1().EasyServices(ns).Get(ctx, "web-v1beta1", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	check("a v1 GET of web-v1beta1", got, true)
	check("the value of web-v1beta1 in our etcd", storedEasyService(t, ns, "web-v1beta1"), true)
}
