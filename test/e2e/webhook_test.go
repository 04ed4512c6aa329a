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
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	certutil "k8s.io/client-go/util/cert"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
)

const (
	// webhookLabel is the label the test's mutating webhook adds.
	webhookLabel = "e2e.easyservice.io/webhook"
	// webhookDenial is the message of the test's validating webhook for more than 5 replicas.
	webhookDenial = "the test webhook refuses more than 5 replicas"
)

// admissionWebhook is the webhook TestAdmissionWebhooks registers: /mutate labels an EasyService,
// /validate refuses more than 5 replicas and anything /mutate has not labelled (so it also checks
// that the mutating webhooks ran first). It keeps every request it was sent.
type admissionWebhook struct {
	mu       sync.Mutex
	requests []webhookCall
}

// webhookCall is one AdmissionReview request, with the path it came to.
type webhookCall struct {
	path string
	admissionv1.AdmissionRequest
}

func (w *admissionWebhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(rw, fmt.Sprintf("not an AdmissionReview request: %v", err), http.StatusBadRequest)
		return
	}
	req := *review.Request
	w.mu.Lock()
	w.requests = append(w.requests, webhookCall{path: r.URL.Path, AdmissionRequest: req})
	w.mu.Unlock()

	var es v1.EasyService
	response := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	deny := func(message string) {
		response.Allowed = false
		response.Result = &metav1.Status{Code: http.StatusForbidden, Message: message}
	}
	switch err := json.Unmarshal(req.Object.Raw, &es); {
	case err != nil:
		deny(fmt.Sprintf("the object is not an EasyService of v1: %v", err))
	case r.URL.Path == "/mutate":
		patch := fmt.Sprintf(`[{"op":"add","path":"/metadata/labels","value":{%q:"true"}}]`, webhookLabel)
		if es.Labels != nil {
			patch = fmt.Sprintf(`[{"op":"add","path":"/metadata/labels/%s","value":"true"}]`, strings.ReplaceAll(webhookLabel, "/", "~1"))
		}
		patchType := admissionv1.PatchTypeJSONPatch
		response.Patch, response.PatchType = []byte(patch), &patchType
	case es.Labels[webhookLabel] != "true":
		deny("the mutating webhook did not run before the validating one")
	case es.Spec.Replicas != nil && *es.Spec.Replicas > 5:
		deny(webhookDenial)
	}
	review.Request, review.Response = nil, response
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(review) // a failed write reaches the server as a failed call
}

// calls returns the requests the webhook was sent about the EasyService name.
func (w *admissionWebhook) calls(name string) []webhookCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	var calls []webhookCall
	for _, c := range w.requests {
		if c.Name == name {
			calls = append(calls, c)
		}
	}
	return calls
}

// TestAdmissionWebhooks: the cluster's MutatingWebhookConfigurations and
// ValidatingWebhookConfigurations apply to EasyServices: our server calls them (kube-apiserver only
// proxies the request). The test serves a webhook on 127.0.0.1 and registers it by URL with its CA
// (the plane's server runs on the host, where no Service name resolves; in a cluster a webhook's
// Service reference resolves as in kube-apiserver), bound to one namespace. The mutation is in the
// answer, in a GET and in our etcd; the validating webhook sees the mutated object and its refusal
// comes back with its code and message, storing nothing; a v1beta1 request reaches the webhooks as
// v1 (the version they match), an update and a dry run reach them as such, and they see the user
// kube-apiserver authenticated; the controller's writes of /status reach the validating one.
func TestAdmissionWebhooks(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "webhook")
	name := "easyservice-e2e-" + ns

	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hook := &admissionWebhook{}
	server := httptest.NewUnstartedServer(hook)
	server.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	server.StartTLS()
	t.Cleanup(server.Close)

	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	clientConfig := func(path string) admissionregistrationv1.WebhookClientConfig {
		url := server.URL + path
		return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: certPEM}
	}
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{v1.SchemeGroupVersion.Group}, APIVersions: []string{"v1"}, Resources: []string{"easyservices"},
		},
	}}
	// The validating webhook also judges the controller's status writes.
	validatingRules := []admissionregistrationv1.RuleWithOperations{rules[0]}
	validatingRules[0].Resources = []string{"easyservices", "easyservices/status"}
	namespaceSelector := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	registration := plane.kube.AdmissionregistrationV1()
	if _, err := registration.MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.e2e.easyservice.io", ClientConfig: clientConfig("/mutate"), Rules: rules,
			FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: namespaceSelector,
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = registration.MutatingWebhookConfigurations().Delete(t.Context(), name, metav1.DeleteOptions{})
	})
	if _, err := registration.ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.e2e.easyservice.io", ClientConfig: clientConfig("/validate"), Rules: validatingRules,
			FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: namespaceSelector,
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = registration.ValidatingWebhookConfigurations().Delete(t.Context(), name, metav1.DeleteOptions{})
	})

	denied := fmt.Sprintf(`admission webhook "validate.e2e.easyservice.io" denied the request: %s`, webhookDenial)
	refusedByWebhook := func(err error) bool {
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), denied)
	}
	// Both configurations are in force once a dry run comes back labelled and one of 6 replicas is refused.
	_, _ = waitOnDryRun(t, ns, easyService("probe", 1), "call the mutating webhook", func(es *v1.EasyService, err error) bool {
		return err == nil && es.Labels[webhookLabel] == "true"
	})
	waitRefusedOnDryRun(t, ns, easyService("probe", 6), "an EasyService of 6 replicas, by the validating webhook", refusedByWebhook)
	for _, c := range hook.calls("probe") {
		if c.DryRun == nil || !*c.DryRun {
			t.Errorf("%s got a dry-run create of probe without dryRun: %+v", c.path, c.AdmissionRequest)
		}
	}

	created, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("v1 create: %v", err)
	}
	if created.Labels[webhookLabel] != "true" {
		t.Errorf("the answer of the create lacks the webhook's label: %v", created.Labels)
	}
	if got := getEasyService(ctx, t, ns, "web"); got.Labels[webhookLabel] != "true" {
		t.Errorf("a GET lacks the webhook's label: %v", got.Labels)
	}
	if stored := storedEasyService(t, ns, "web"); stored.Labels[webhookLabel] != "true" {
		t.Errorf("our etcd holds web without the webhook's label: %v", stored.Labels)
	}

	// Through kube-apiserver the webhooks see the user it authenticated, not its proxy's identity.
	review, err := plane.kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	user := review.Status.UserInfo.Username
	wantKind := metav1.GroupVersionKind{Group: v1.SchemeGroupVersion.Group, Version: "v1", Kind: "EasyService"}
	calls := slices.DeleteFunc(hook.calls("web"), func(c webhookCall) bool { return c.Operation != admissionv1.Create })
	if paths := callPaths(calls); !slices.Equal(paths, []string{"/mutate", "/validate"}) {
		t.Errorf("the create of web reached %v, want /mutate then /validate", paths)
	}
	for _, c := range calls {
		if c.Operation != admissionv1.Create || c.Kind != wantKind || c.Namespace != ns || c.UserInfo.Username != user || (c.DryRun != nil && *c.DryRun) {
			t.Errorf("%s got operation %s, kind %v, namespace %s, user %q, dryRun %v; want CREATE of %v in %s by %q, not a dry run",
				c.path, c.Operation, c.Kind, c.Namespace, c.UserInfo.Username, c.DryRun, wantKind, ns, user)
		}
	}

	// v1beta1: the webhooks match v1, and get the request converted (matchPolicy Equivalent).
	size := int32(2)
	beta := &v1beta1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: "web-v1beta1"},
		Spec: v1beta1.EasyServiceSpec{Replicas: &size, Image: "nginx:1.27", Ports: []corev1.ServicePort{{Port: 80}}}}
	betaCreated, err := plane.es.AppV1beta1().EasyServices(ns).Create(ctx, beta, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("v1beta1 create: %v", err)
	}
	if betaCreated.Labels[webhookLabel] != "true" {
		t.Errorf("the v1beta1 answer lacks the webhook's label: %v", betaCreated.Labels)
	}
	wantRequestKind := metav1.GroupVersionKind{Group: v1.SchemeGroupVersion.Group, Version: "v1beta1", Kind: "EasyService"}
	for _, c := range hook.calls("web-v1beta1") {
		if c.Kind != wantKind || c.RequestKind == nil || *c.RequestKind != wantRequestKind {
			t.Errorf("%s got kind %v, requestKind %v for the v1beta1 create; want %v from %v", c.path, c.Kind, c.RequestKind, wantKind, wantRequestKind)
		}
	}

	// The validating webhook's refusal, on create and on update, stores nothing.
	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("big", 6), metav1.CreateOptions{}); !refusedByWebhook(err) {
		t.Errorf("create with 6 replicas: %v, want 403 with %q", err, denied)
	}
	if _, err := plane.es.AppV1().EasyServices(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":6}}`), metav1.PatchOptions{}); !refusedByWebhook(err) {
		t.Errorf("update to 6 replicas: %v, want 403 with %q", err, denied)
	}
	if web := getEasyService(ctx, t, ns, "web"); *web.Spec.Replicas != 2 || web.Generation != 1 {
		t.Errorf("after the refused update: replicas %d at generation %d, want 2 at 1", *web.Spec.Replicas, web.Generation)
	}
	// An update the webhooks allow reaches them as an UPDATE, with the old object.
	updated, err := plane.es.AppV1().EasyServices(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("update to 3 replicas: %v", err)
	}
	if *updated.Spec.Replicas != 3 || updated.Labels[webhookLabel] != "true" {
		t.Errorf("after the update: replicas %d, labels %v", *updated.Spec.Replicas, updated.Labels)
	}
	var updates int
	for _, c := range hook.calls("web") {
		if c.Operation == admissionv1.Update && c.SubResource == "" && len(c.OldObject.Raw) > 0 {
			updates++
		}
	}
	if updates < 4 { // each of the two updates reached /mutate and /validate (a retry on conflict, again)
		t.Errorf("the webhooks got %d UPDATEs of web with the old object, want at least 4", updates)
	}
	// The controller's status writes go through admission as well.
	eventually(t, convergeTimeout, "a status write of web to reach the validating webhook", func(context.Context) (bool, string) {
		for _, c := range hook.calls("web") {
			if c.path == "/validate" && c.Operation == admissionv1.Update && c.SubResource == "status" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("calls to %v", callPaths(hook.calls("web")))
	})

	stored := storedEasyServices(t, ns)
	if len(stored) != 2 || slices.ContainsFunc(stored, func(k string) bool {
		return strings.HasSuffix(k, "/probe") || strings.HasSuffix(k, "/big")
	}) {
		t.Errorf("our etcd holds %v for the namespace, want web and web-v1beta1 alone", stored)
	}
}

func callPaths(calls []webhookCall) []string {
	paths := make([]string, 0, len(calls))
	for _, c := range calls {
		paths = append(paths, c.path)
	}
	return paths
}
