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

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	esv1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	esv1beta1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
	esapply "github.com/easyservice/easyservice/pkg/generated/applyconfiguration/easyservice/v1"
)

const (
	groupPath = "/apis/app.easyservice.io"
	v1Path    = groupPath + "/v1"
)

func newEasyService(name string) *esv1.EasyService {
	return &esv1.EasyService{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"tier": "web"}},
		Spec: esv1.EasyServiceSpec{
			Replicas: ptr.To[int32](2),
			Image:    "nginx:1.27",
			Ports:    []esv1.EasyServicePort{{Port: 80}},
		},
	}
}

// rawResponse is the outcome of a raw REST call.
type rawResponse struct {
	code   int
	header http.Header
	body   []byte
}

func (s *TestServer) do(t *testing.T, method, path, contentType string, body []byte, header map[string]string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{code: resp.StatusCode, header: resp.Header, body: data}
}

func (r rawResponse) status(t *testing.T) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("decoding a Status from %q: %v", r.body, err)
	}
	return st
}

func nsPath(ns string) string { return v1Path + "/namespaces/" + ns + "/easyservices" }

// TestEasyServiceAPI runs the API's cases, one subtest each, against one server on one etcd.
func TestEasyServiceAPI(t *testing.T) {
	s := StartServer(t, StartEtcd(t))
	for _, tc := range []struct {
		name string
		test func(*testing.T, *TestServer)
	}{
		{"discovery", testAPIDiscovery},
		{"health and metrics", testAPIHealthAndMetrics},
		{"authentication and authorization", testAPIAuthenticationAndAuthorization},
		{"CRUD", testAPICRUD},
		{"list with limit and continue", testAPIListWithLimitAndContinue},
		{"watch from a resourceVersion", testAPIWatchFromResourceVersion},
		{"label and field selectors", testAPILabelAndFieldSelectors},
		{"patches", testAPIPatches},
		{"server-side apply", testAPIServerSideApply},
		{"dry run", testAPIDryRun},
		{"status subresource", testAPIStatusSubresource},
		{"scale subresource", testAPIScaleSubresource},
		{"table output", testAPITableOutput},
		{"OpenAPI v3 of the group", testAPIOpenAPIV3},
		{"v1beta1 tutorial YAML reads back as v1", testAPIV1beta1TutorialAsV1},
		{"bad input", testAPIBadInput},
		{"protobuf negotiation", testAPIProtobufNegotiation},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, s) })
	}
}

func testAPIDiscovery(t *testing.T, s *TestServer) {
	groups, resources, err := s.Client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	var group *metav1.APIGroup
	for _, g := range groups {
		if g.Name == "app.easyservice.io" {
			group = g
		}
	}
	if group == nil {
		t.Fatalf("group app.easyservice.io not discovered in %v", groups)
	}
	if group.PreferredVersion.Version != "v1" {
		t.Errorf("preferred version = %q, want v1", group.PreferredVersion.Version)
	}
	if len(group.Versions) != 2 || group.Versions[0].Version != "v1" || group.Versions[1].Version != "v1beta1" {
		t.Errorf("versions = %v, want [v1 v1beta1]", group.Versions)
	}
	found := map[string]metav1.APIResource{}
	for _, list := range resources {
		for _, r := range list.APIResources {
			found[list.GroupVersion+"/"+r.Name] = r
		}
	}
	for _, gv := range []string{"app.easyservice.io/v1", "app.easyservice.io/v1beta1"} {
		r, ok := found[gv+"/easyservices"]
		if !ok {
			t.Fatalf("%s/easyservices not discovered", gv)
		}
		if !r.Namespaced || r.Kind != "EasyService" || !equalStrings(r.ShortNames, []string{"esvc"}) || !equalStrings(r.Categories, []string{"all"}) {
			t.Errorf("%s/easyservices = %+v", gv, r)
		}
		for _, verb := range []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"} {
			if !contains(r.Verbs, verb) {
				t.Errorf("%s/easyservices lacks verb %q: %v", gv, verb, r.Verbs)
			}
		}
		if _, ok := found[gv+"/easyservices/status"]; !ok {
			t.Errorf("%s/easyservices/status not discovered", gv)
		}
		scale, ok := found[gv+"/easyservices/scale"]
		if !ok || scale.Group != "autoscaling" || scale.Version != "v1" || scale.Kind != "Scale" {
			t.Errorf("%s/easyservices/scale = %+v, want autoscaling/v1 Scale", gv, scale)
		}
	}
}

func testAPIHealthAndMetrics(t *testing.T, s *TestServer) {
	for _, path := range []string{"/healthz", "/livez", "/readyz?verbose", "/metrics"} {
		r := s.do(t, http.MethodGet, path, "", nil, nil)
		if r.code != http.StatusOK {
			t.Errorf("GET %s = %d: %s", path, r.code, r.body)
		}
		if path == "/readyz?verbose" && !bytes.Contains(r.body, []byte("[+]etcd-readiness ok")) {
			t.Errorf("/readyz does not check etcd: %s", r.body)
		}
	}
}

func testAPIAuthenticationAndAuthorization(t *testing.T, s *TestServer) {
	get := func(cfg *rest.Config, path string) int {
		client, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	anonymous := &rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAFile: s.ClientConfig.CAFile}}
	for path, want := range map[string]int{
		nsPath("default"): http.StatusUnauthorized,
		"/apis":           http.StatusUnauthorized,
		"/metrics":        http.StatusUnauthorized,
		"/readyz":         http.StatusOK,
		"/livez":          http.StatusOK,
		"/healthz":        http.StatusOK,
	} {
		if got := get(anonymous, path); got != want {
			t.Errorf("GET %s without credentials = %d, want %d", path, got, want)
		}
	}
	// A client certificate of a user outside system:masters is authenticated, but stand-alone
	// authorization allows nobody else.
	if got := get(s.UserConfig, nsPath("default")); got != http.StatusForbidden {
		t.Errorf("GET as a user without rights = %d, want 403", got)
	}
}

func testAPICRUD(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("crud")
	created, err := c.Create(ctx, newEasyService("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 || created.UID == "" || created.ResourceVersion == "" {
		t.Errorf("created metadata = %+v", created.ObjectMeta)
	}
	if created.Spec.ServiceType != corev1.ServiceTypeNodePort || created.Spec.Ports[0].Name != "tcp-80" ||
		created.Spec.Ports[0].Protocol != corev1.ProtocolTCP || created.Spec.Ports[0].TargetPort != intstr.FromInt32(80) {
		t.Errorf("created spec was not defaulted: %+v", created.Spec)
	}
	if _, err := c.Create(ctx, newEasyService("web"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: got %v, want AlreadyExists", err)
	}

	got, err := c.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Image = "nginx:1.28"
	updated, err := c.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Generation != 2 || updated.Spec.Image != "nginx:1.28" {
		t.Errorf("after a spec update generation = %d, image = %q", updated.Generation, updated.Spec.Image)
	}
	updated.Labels["extra"] = "yes"
	relabelled, err := c.Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if relabelled.Generation != 2 {
		t.Errorf("a label change bumped the generation to %d", relabelled.Generation)
	}

	// A stale resourceVersion is a conflict.
	if _, err := c.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: got %v, want Conflict", err)
	}

	if err := c.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: got %v, want NotFound", err)
	}
}

func testAPIListWithLimitAndContinue(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("paging")
	for i := range 7 {
		if _, err := c.Create(ctx, newEasyService(fmt.Sprintf("web-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	opts := metav1.ListOptions{Limit: 3}
	pages := 0
	for {
		list, err := c.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(list.Items) > 3 {
			t.Fatalf("page of %d items with limit 3", len(list.Items))
		}
		for _, item := range list.Items {
			names = append(names, item.Name)
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if pages != 3 || len(names) != 7 {
		t.Errorf("got %d pages and %d items (%v), want 3 and 7", pages, len(names), names)
	}
	if err := c.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := c.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("after deletecollection: %d items, %v", len(list.Items), err)
	}
}

func testAPIWatchFromResourceVersion(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("watch")
	first, err := c.Create(ctx, newEasyService("before"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Changes made after first's resourceVersion, before the watch starts.
	if _, err := c.Create(ctx, newEasyService("after"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "before", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := []string{"ADDED after", "DELETED before"}
	for _, expected := range want {
		select {
		case ev := <-w.ResultChan():
			es, ok := ev.Object.(*esv1.EasyService)
			if !ok {
				t.Fatalf("event %s carries %T", ev.Type, ev.Object)
			}
			if got := string(ev.Type) + " " + es.Name; got != expected {
				t.Errorf("event %q, want %q", got, expected)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no event %q within 30s", expected)
		}
	}
	if _, err := c.Patch(ctx, "after", types.MergePatchType, []byte(`{"spec":{"image":"nginx:1.28"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Modified || ev.Object.(*esv1.EasyService).Spec.Image != "nginx:1.28" {
			t.Errorf("event %s %+v, want MODIFIED with the new image", ev.Type, ev.Object)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no MODIFIED event within 30s")
	}
}

func testAPILabelAndFieldSelectors(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("selectors")
	a := newEasyService("a")
	b := newEasyService("b")
	b.Labels = map[string]string{"tier": "backend"}
	b.Spec.Image = "redis:7"
	b.Spec.ServiceType = corev1.ServiceTypeClusterIP
	for _, es := range []*esv1.EasyService{a, b} {
		if _, err := c.Create(ctx, es, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		opts metav1.ListOptions
		want []string
	}{
		{metav1.ListOptions{LabelSelector: "tier=web"}, []string{"a"}},
		{metav1.ListOptions{LabelSelector: "tier in (web,backend)"}, []string{"a", "b"}},
		{metav1.ListOptions{FieldSelector: "metadata.name=b"}, []string{"b"}},
		{metav1.ListOptions{FieldSelector: "spec.image=redis:7"}, []string{"b"}},
		{metav1.ListOptions{FieldSelector: "spec.serviceType=NodePort"}, []string{"a"}},
		{metav1.ListOptions{FieldSelector: "spec.serviceType!=NodePort,metadata.namespace=selectors"}, []string{"b"}},
		{metav1.ListOptions{LabelSelector: "tier=web", FieldSelector: "spec.image=redis:7"}, nil},
	} {
		list, err := c.List(ctx, tc.opts)
		if err != nil {
			t.Errorf("list %+v: %v", tc.opts, err)
			continue
		}
		var got []string
		for _, item := range list.Items {
			got = append(got, item.Name)
		}
		if !equalStrings(got, tc.want) {
			t.Errorf("list %+v = %v, want %v", tc.opts, got, tc.want)
		}
	}
	// Both versions support the same field labels; an unknown one is a 400.
	for _, version := range []string{"v1", "v1beta1"} {
		r := s.do(t, http.MethodGet, groupPath+"/"+version+"/namespaces/selectors/easyservices?fieldSelector=spec.image%3Dredis:7", "", nil, nil)
		if r.code != http.StatusOK || !bytes.Contains(r.body, []byte(`"name":"b"`)) {
			t.Errorf("%s field selector on spec.image = %d: %s", version, r.code, r.body)
		}
		r = s.do(t, http.MethodGet, groupPath+"/"+version+"/namespaces/selectors/easyservices?fieldSelector=spec.replicas%3D2", "", nil, nil)
		if r.code != http.StatusBadRequest || !bytes.Contains(r.body, []byte("field label not supported: spec.replicas")) {
			t.Errorf("%s field selector on spec.replicas = %d: %s", version, r.code, r.body)
		}
	}
}

func testAPIPatches(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("patch")
	es := newEasyService("web")
	es.Spec.Env = []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
	es.Spec.Ports = []esv1.EasyServicePort{{Name: "http", Port: 80}, {Name: "metrics", Port: 9090}}
	if _, err := c.Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	jsonPatch := `[{"op":"replace","path":"/spec/replicas","value":5},{"op":"add","path":"/metadata/labels/patched","value":"json"}]`
	got, err := c.Patch(ctx, "web", types.JSONPatchType, []byte(jsonPatch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 5 || got.Labels["patched"] != "json" {
		t.Errorf("after a JSON patch: replicas %d, labels %v", *got.Spec.Replicas, got.Labels)
	}

	// A merge patch replaces lists whole.
	got, err = c.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"env":[{"name":"C","value":"3"}]}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if envNames(got.Spec.Env) != "C" {
		t.Errorf("after a merge patch env = %s, want C", envNames(got.Spec.Env))
	}

	// A strategic merge patch merges env by name and ports by port.
	smp := `{"spec":{"env":[{"name":"D","value":"4"},{"name":"C","value":"33"}],"ports":[{"port":9090,"name":"prom"}]}}`
	got, err = c.Patch(ctx, "web", types.StrategicMergePatchType, []byte(smp), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range got.Spec.Env {
		env[e.Name] = e.Value
	}
	if fmt.Sprint(env) != "map[C:33 D:4]" {
		t.Errorf("after a strategic merge patch env = %v, want C=33 and D=4", env)
	}
	if len(got.Spec.Ports) != 2 || got.Spec.Ports[0].Name != "http" || got.Spec.Ports[1].Name != "prom" {
		t.Errorf("after a strategic merge patch ports = %+v, want http and prom", got.Spec.Ports)
	}

	// A patch that makes the object invalid is a 422 and changes nothing.
	_, err = c.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":-1}}`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.replicas") {
		t.Errorf("invalid patch: got %v, want Invalid naming spec.replicas", err)
	}
	if again, err := c.Get(ctx, "web", metav1.GetOptions{}); err != nil || *again.Spec.Replicas != 5 {
		t.Errorf("the invalid patch changed the object: %v %v", again, err)
	}
}

func testAPIServerSideApply(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("apply")
	cfg := esapply.EasyService("web", "apply").
		WithLabels(map[string]string{"owner": "alice"}).
		WithSpec(esapply.EasyServiceSpec().
			WithImage("nginx:1.27").
			WithReplicas(2).
			WithEnv(corev1.EnvVar{Name: "A", Value: "1"}).
			WithPorts(esapply.EasyServicePort().WithName("http").WithPort(80).WithProtocol(corev1.ProtocolTCP)))
	got, err := c.Apply(ctx, cfg, metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 2 || got.Spec.ServiceType != corev1.ServiceTypeNodePort {
		t.Errorf("applied object = %+v", got.Spec)
	}

	// Another manager adds its own env entry: lists of named entries merge per entry.
	bob := esapply.EasyService("web", "apply").
		WithSpec(esapply.EasyServiceSpec().WithImage("nginx:1.27").WithEnv(corev1.EnvVar{Name: "B", Value: "2"}))
	got, err = c.Apply(ctx, bob, metav1.ApplyOptions{FieldManager: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if envNames(got.Spec.Env) != "A,B" {
		t.Errorf("after bob's apply env = %s, want A,B", envNames(got.Spec.Env))
	}

	// Bob changing alice's replicas is a conflict, unless forced.
	bobReplicas := esapply.EasyService("web", "apply").
		WithSpec(esapply.EasyServiceSpec().WithImage("nginx:1.27").WithReplicas(9))
	_, err = c.Apply(ctx, bobReplicas, metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), ".spec.replicas") {
		t.Fatalf("conflicting apply: got %v, want a Conflict on .spec.replicas", err)
	}
	got, err = c.Apply(ctx, bobReplicas, metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 9 {
		t.Errorf("forced apply: replicas %d, want 9", *got.Spec.Replicas)
	}
	managers := map[string]bool{}
	for _, mf := range got.ManagedFields {
		managers[mf.Manager] = true
	}
	if !managers["alice"] || !managers["bob"] {
		t.Errorf("managed fields %v, want alice and bob", managers)
	}

	// Status set through apply on the main resource is reset.
	withStatus := esapply.EasyService("web", "apply").
		WithSpec(esapply.EasyServiceSpec().WithImage("nginx:1.27")).
		WithStatus(esapply.EasyServiceStatus().WithReadyReplicas(3))
	got, err = c.Apply(ctx, withStatus, metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.ReadyReplicas != 0 {
		t.Errorf("apply to the main resource set status.readyReplicas to %d", got.Status.ReadyReplicas)
	}
}

func testAPIDryRun(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("dryrun")
	got, err := c.Create(ctx, newEasyService("web"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Ports[0].Name != "tcp-80" {
		t.Errorf("dry-run create did not default: %+v", got.Spec.Ports)
	}
	if _, err := c.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run create stored the object: %v", err)
	}
	if _, err := c.Create(ctx, newEasyService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":7}}`), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "web", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	got, err = c.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *got.Spec.Replicas != 2 {
		t.Errorf("dry-run patch or delete changed the object: %+v, %v", got, err)
	}
}

func testAPIStatusSubresource(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("status")
	created, err := c.Create(ctx, newEasyService("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = esv1.EasyServiceStatus{
		ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1, UnavailableReplicas: 1,
		Selector: "app.kubernetes.io/name=web",
		Conditions: []metav1.Condition{{
			Type: "Ready", Status: metav1.ConditionFalse, Reason: "ReplicasNotReady", Message: "1 of 2 ready",
			LastTransitionTime: metav1.Now(), ObservedGeneration: 1,
		}},
	}
	created.Spec.Image = "ignored:1.0" // /status ignores spec changes
	updated, err := c.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Status.ReadyReplicas != 1 || len(updated.Status.Conditions) != 1 {
		t.Errorf("status not written: %+v", updated.Status)
	}
	if updated.Spec.Image != "nginx:1.27" || updated.Generation != 1 {
		t.Errorf("/status changed spec or generation: image %q, generation %d", updated.Spec.Image, updated.Generation)
	}
	// A spec update keeps the status.
	updated.Spec.Image = "nginx:1.28"
	again, err := c.Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status.ReadyReplicas != 1 {
		t.Errorf("a spec update dropped the status: %+v", again.Status)
	}
	// An inconsistent status is a 422.
	again.Status.ReadyReplicas = 5
	if _, err := c.UpdateStatus(ctx, again, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.readyReplicas") {
		t.Errorf("inconsistent status: got %v, want Invalid naming status.readyReplicas", err)
	}
}

func testAPIScaleSubresource(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("scale")
	created, err := c.Create(ctx, newEasyService("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Replicas = 2
	created.Status.Selector = "app.kubernetes.io/name=web"
	if _, err := c.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	scale, err := c.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if scale.Spec.Replicas != 2 || scale.Status.Selector != "app.kubernetes.io/name=web" || scale.Status.Replicas != 2 {
		t.Errorf("scale = %+v", scale)
	}
	scale.Spec.Replicas = 4
	scaled, err := c.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if scaled.Spec.Replicas != 4 {
		t.Errorf("scaled to %d, want 4", scaled.Spec.Replicas)
	}
	got, err := c.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 4 || got.Generation != 2 {
		t.Errorf("after scaling: replicas %d generation %d", *got.Spec.Replicas, got.Generation)
	}
	// kubectl scale sends a merge patch to /scale; v1beta1 scales the same object (size).
	r := s.do(t, http.MethodPatch, groupPath+"/v1beta1/namespaces/scale/easyservices/web/scale", string(types.MergePatchType), []byte(`{"spec":{"replicas":3}}`), nil)
	if r.code != http.StatusOK {
		t.Fatalf("patching v1beta1 scale = %d: %s", r.code, r.body)
	}
	var beta esv1beta1.EasyService
	r = s.do(t, http.MethodGet, groupPath+"/v1beta1/namespaces/scale/easyservices/web", "", nil, nil)
	if err := json.Unmarshal(r.body, &beta); err != nil || *beta.Spec.Replicas != 3 {
		t.Errorf("v1beta1 size after scaling = %v (%v)", beta.Spec.Replicas, err)
	}
	// Negative replicas are a 422 naming the field.
	scale.Spec.Replicas = -1
	scale.ResourceVersion = ""
	_, err = c.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.replicas") {
		t.Errorf("negative scale: got %v, want Invalid naming spec.replicas", err)
	}
	if _, err := c.GetScale(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("scale of a missing object: got %v, want NotFound", err)
	}
}

func testAPITableOutput(t *testing.T, s *TestServer) {
	ctx := t.Context()
	c := s.Client.AppV1().EasyServices("table")
	if _, err := c.Create(ctx, newEasyService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := s.do(t, http.MethodGet, nsPath("table"), "", nil, map[string]string{"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
	if r.code != http.StatusOK {
		t.Fatalf("table list = %d: %s", r.code, r.body)
	}
	var table metav1.Table
	if err := json.Unmarshal(r.body, &table); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, col := range table.ColumnDefinitions {
		names = append(names, col.Name)
	}
	if want := []string{"Name", "Ready", "Up-to-date", "Available", "Image", "Ports", "Age", "Type", "Selector"}; !equalStrings(names, want) {
		t.Errorf("columns = %v, want %v", names, want)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(table.Rows))
	}
	cells := table.Rows[0].Cells
	if cells[0] != "web" || cells[1] != "0/2" || cells[4] != "nginx:1.27" || cells[5] != "80/TCP" || cells[7] != "NodePort" {
		t.Errorf("cells = %v", cells)
	}
}

func testAPIOpenAPIV3(t *testing.T, s *TestServer) {
	r := s.do(t, http.MethodGet, "/openapi/v3/apis/app.easyservice.io/v1", "", nil, nil)
	if r.code != http.StatusOK {
		t.Fatalf("GET openapi v3 = %d", r.code)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	spec, ok := doc.Components.Schemas["com.github.easyservice.easyservice.pkg.apis.easyservice.v1.EasyServiceSpec"]
	if !ok {
		t.Fatalf("no com.github.easyservice.easyservice.pkg.apis.easyservice.v1.EasyServiceSpec schema")
	}
	for _, prop := range []string{"replicas", "image", "imagePullPolicy", "env", "resources", "ports", "serviceType"} {
		if _, ok := spec.Properties[prop]; !ok {
			t.Errorf("spec schema lacks %q", prop)
		}
	}
	var ports map[string]any
	if err := json.Unmarshal(spec.Properties["ports"], &ports); err != nil {
		t.Fatal(err)
	}
	if ports["x-kubernetes-list-type"] != "map" || fmt.Sprint(ports["x-kubernetes-list-map-keys"]) != "[port protocol]" {
		t.Errorf("ports schema = %v, want a list map keyed by port and protocol", ports)
	}
	r = s.do(t, http.MethodGet, "/openapi/v2", "", nil, nil)
	if r.code != http.StatusOK || !bytes.Contains(r.body, []byte("com.github.easyservice.easyservice.pkg.apis.easyservice.v1beta1.EasyService")) {
		t.Errorf("GET /openapi/v2 = %d, or it lacks the v1beta1 kind", r.code)
	}
}

func testAPIV1beta1TutorialAsV1(t *testing.T, s *TestServer) {
	ctx := t.Context()
	sample := []byte(`apiVersion: app.easyservice.io/v1beta1
kind: EasyService
metadata: {name: easyservice-sample}
spec:
  size: 2
  image: nginx:1.7.9
  ports: [{port: 80, targetPort: 80, nodePort: 31002}]
`)
	r := s.do(t, http.MethodPost, groupPath+"/v1beta1/namespaces/tutorial/easyservices", "application/yaml", sample, nil)
	if r.code != http.StatusCreated {
		t.Fatalf("creating the tutorial sample = %d: %s", r.code, r.body)
	}
	got, err := s.Client.AppV1().EasyServices("tutorial").Get(ctx, "easyservice-sample", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := esv1.EasyServiceSpec{
		Replicas:    ptr.To[int32](2),
		Image:       "nginx:1.7.9",
		Ports:       []esv1.EasyServicePort{{Name: "tcp-80", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80), NodePort: 31002}},
		ServiceType: corev1.ServiceTypeNodePort,
	}
	gotJSON, _ := json.Marshal(got.Spec)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("v1 spec = %s, want %s", gotJSON, wantJSON)
	}
	// And the v1beta1 view keeps the tutorial's field names.
	r = s.do(t, http.MethodGet, groupPath+"/v1beta1/namespaces/tutorial/easyservices/easyservice-sample", "", nil, map[string]string{"Accept": "application/yaml"})
	var beta map[string]any
	if err := yaml.Unmarshal(r.body, &beta); err != nil {
		t.Fatal(err)
	}
	spec := beta["spec"].(map[string]any)
	if spec["size"] != float64(2) || spec["replicas"] != nil {
		t.Errorf("v1beta1 spec = %v, want size 2 and no replicas", spec)
	}
}

func testAPIBadInput(t *testing.T, s *TestServer) {
	ctx := t.Context()
	path := nsPath("bad")
	for _, tc := range []struct {
		name, contentType, body, query string
		code                           int
		contains                       string
	}{
		{"invalid spec names the field", "application/json",
			`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"web"},"spec":{"image":"","ports":[{"port":80}]}}`,
			"", http.StatusUnprocessableEntity, "spec.image: Required value"},
		{"invalid name", "application/json",
			`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"Web_1"},"spec":{"image":"nginx:1","ports":[{"port":80}]}}`,
			"", http.StatusUnprocessableEntity, "metadata.name"},
		{"unknown field with Strict", "application/json",
			`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"web"},"spec":{"image":"nginx:1","ports":[{"port":80}],"bogus":1}}`,
			"?fieldValidation=Strict", http.StatusBadRequest, `unknown field \"spec.bogus\"`},
		{"malformed JSON", "application/json", `{"apiVersion":`, "", http.StatusBadRequest, ""},
		{"wrong type", "application/json",
			`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"web"},"spec":{"image":"nginx:1","replicas":"two"}}`,
			"", http.StatusBadRequest, "replicas"},
		{"unsupported content type", "text/plain", `hello`, "", http.StatusUnsupportedMediaType, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, http.MethodPost, path+tc.query, tc.contentType, []byte(tc.body), nil)
			if r.code != tc.code || !bytes.Contains(r.body, []byte(tc.contains)) {
				t.Errorf("got %d %s, want %d containing %q", r.code, r.body, tc.code, tc.contains)
			}
		})
	}
	t.Run("unknown field with Warn", func(t *testing.T) {
		body := `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"warned"},"spec":{"image":"nginx:1","ports":[{"port":80}],"bogus":1}}`
		r := s.do(t, http.MethodPost, path+"?fieldValidation=Warn", "application/json", []byte(body), nil)
		if r.code != http.StatusCreated || !strings.Contains(r.header.Get("Warning"), `unknown field \"spec.bogus\"`) {
			t.Errorf("got %d with Warning %q", r.code, r.header.Get("Warning"))
		}
	})
	t.Run("body over 3 MiB", func(t *testing.T) {
		big := `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"big","annotations":{"a":"` +
			strings.Repeat("x", 3*1024*1024+1) + `"}},"spec":{"image":"nginx:1","ports":[{"port":80}]}}`
		r := s.do(t, http.MethodPost, path, "application/json", []byte(big), nil)
		if r.code != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d %.200s, want 413", r.code, r.body)
		}
	})
	t.Run("nothing was stored", func(t *testing.T) {
		list, err := s.Client.AppV1().EasyServices("bad").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range list.Items {
			if item.Name != "warned" {
				t.Errorf("a rejected object was stored: %s", item.Name)
			}
		}
	})
	t.Run("warning for an untagged image", func(t *testing.T) {
		body := `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"latest"},"spec":{"image":"nginx","ports":[{"port":80}]}}`
		r := s.do(t, http.MethodPost, path, "application/json", []byte(body), nil)
		if r.code != http.StatusCreated || !strings.Contains(r.header.Get("Warning"), "spec.image") {
			t.Errorf("got %d with Warning %q, want 201 with a warning on spec.image", r.code, r.header.Get("Warning"))
		}
	})
}

func testAPIProtobufNegotiation(t *testing.T, s *TestServer) {
	// Preferred or alone, protobuf is served (protobuf_test.go checks the bodies).
	for _, accept := range []string{"application/vnd.kubernetes.protobuf, application/json", "application/vnd.kubernetes.protobuf"} {
		for _, path := range []string{nsPath("default"), nsPath("default") + "?watch=true&timeoutSeconds=1"} {
			r := s.do(t, http.MethodGet, path, "", nil, map[string]string{"Accept": accept})
			if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/vnd.kubernetes.protobuf") {
				t.Errorf("GET %s accepting %q = %d %q", path, accept, r.code, r.header.Get("Content-Type"))
			}
		}
	}
	// Nothing acceptable: a clear 406, never a 500.
	r := s.do(t, http.MethodGet, nsPath("default"), "", nil, map[string]string{"Accept": "text/plain"})
	if r.code != http.StatusNotAcceptable {
		t.Errorf("GET accepting only text/plain = %d, want 406", r.code)
	}
	// A protobuf body that is not an object is a bad request, not a server error.
	r = s.do(t, http.MethodPost, nsPath("default"), "application/vnd.kubernetes.protobuf", []byte{0x6b, 0x38, 0x73, 0x00}, nil)
	if r.code != http.StatusBadRequest {
		t.Errorf("POST of an empty protobuf object = %d, want 400", r.code)
	}
}

// TestRestartKeepsObjects stops the server and starts a new one on the same etcd.
func TestRestartKeepsObjects(t *testing.T) {
	etcd := StartEtcd(t)
	s := StartServer(t, etcd)
	ctx := t.Context()
	want := map[string]string{}
	for i := range 5 {
		es, err := s.Client.AppV1().EasyServices("restart").Create(ctx, newEasyService(fmt.Sprintf("web-%d", i)), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want[es.Name] = string(es.UID)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping the first server: %v", err)
	}

	s2 := StartServer(t, etcd)
	list, err := s2.Client.AppV1().EasyServices("restart").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, item := range list.Items {
		got[item.Name] = string(item.UID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a restart: %v, want %v", got, want)
	}
}

func envNames(env []corev1.EnvVar) string {
	names := make([]string, 0, len(env))
	for _, e := range env {
		names = append(names, e.Name)
	}
	return strings.Join(names, ",")
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
