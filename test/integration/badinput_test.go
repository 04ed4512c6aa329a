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
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// esBody is a v1 EasyService named name whose spec is specJSON.
func esBody(name, specJSON string) string {
	return fmt.Sprintf(`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":%q},"spec":%s}`, name, specJSON)
}

// TestBadInput sends what a server must refuse and checks, for each request, the status code, a
// message naming the field, and that nothing was stored or changed.
func TestBadInput(t *testing.T) {
	s := StartServer(t, StartEtcd(t))
	ctx := t.Context()
	const ns = "bad-input"
	collection := nsPath(ns)
	betaCollection := groupPath + "/v1beta1/namespaces/" + ns + "/easyservices"
	base := collection + "/base"

	r := s.do(t, http.MethodPost, collection, "application/json", []byte(esBody("base", `{"image":"nginx:1.27","ports":[{"port":80}]}`)), nil)
	if r.code != http.StatusCreated {
		t.Fatalf("creating the base object = %d: %s", r.code, r.body)
	}
	var stored metav1.PartialObjectMetadata
	if err := json.Unmarshal(r.body, &stored); err != nil {
		t.Fatal(err)
	}

	const (
		j     = "application/json"
		y     = "application/yaml"
		merge = "application/merge-patch+json"
		jp    = "application/json-patch+json"
	)
	valid := `{"image":"nginx:1.27","ports":[{"port":80}]}`
	for _, tc := range []struct {
		name, method, path, contentType, body string
		code                                  int
		// contains must all appear in the response body.
		contains []string
	}{
		// Not decodable.
		{"malformed JSON", "POST", collection, j, `{"apiVersion":`, 400, []string{"BadRequest"}},
		{"malformed YAML", "POST", collection, y, "apiVersion: app.easyservice.io/v1\nkind: EasyService\nmetadata: {name: [\n", 400, []string{"BadRequest"}},
		{"wrong type: replicas", "POST", collection, j, esBody("t1", `{"image":"nginx:1","replicas":"two","ports":[{"port":80}]}`), 400, []string{"spec.replicas"}},
		{"wrong type: image", "POST", collection, j, esBody("t2", `{"image":7,"ports":[{"port":80}]}`), 400, []string{"spec.image"}},
		{"wrong type: ports", "POST", collection, j, esBody("t3", `{"image":"nginx:1","ports":{"port":80}}`), 400, []string{"spec.ports"}},
		{"wrong type: metadata", "POST", collection, j, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":"web"}`, 400, []string{"metadata"}},
		{"unknown field, Strict", "POST", collection + "?fieldValidation=Strict", j, esBody("t4", `{"image":"nginx:1","ports":[{"port":80}],"bogus":1}`), 400, []string{`unknown field \"spec.bogus\"`}},
		{"unknown top-level field, Strict", "POST", collection + "?fieldValidation=Strict", j, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"t5"},"spec":` + valid + `,"extra":true}`, 400, []string{`unknown field \"extra\"`}},
		{"duplicate field, Strict", "POST", collection + "?fieldValidation=Strict", j, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"t6"},"spec":{"image":"a:1","image":"b:1","ports":[{"port":80}]}}`, 400, []string{`duplicate field \"spec.image\"`}},
		{"unknown field in YAML, Strict", "POST", collection + "?fieldValidation=Strict", y, "apiVersion: app.easyservice.io/v1\nkind: EasyService\nmetadata: {name: t7}\nspec: {image: 'nginx:1', ports: [{port: 80}], replica: 2}\n", 400, []string{`unknown field \"spec.replica\"`}},
		{"wrong kind", "POST", collection, j, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"t8"}}`, 400, []string{"Pod"}},
		{"namespace mismatch", "POST", collection, j, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"t9","namespace":"other"},"spec":` + valid + `}`, 400, []string{"namespace"}},
		{"content type text/plain", "POST", collection, "text/plain", "hello", 415, []string{"unknown format", "application/json"}},
		{"protobuf, no object after the magic", "POST", collection, "application/vnd.kubernetes.protobuf", "k8s\x00", 400, []string{"BadRequest"}},
		{"protobuf, no magic", "POST", collection, "application/vnd.kubernetes.protobuf", "\x0a\x02hi", 400, []string{"BadRequest"}},
		{"body over 3 MiB", "POST", collection, j, esBody("t10", `{"image":"nginx:1","ports":[{"port":80}],"env":[{"name":"A","value":"`+strings.Repeat("x", 3<<20)+`"}]}`), 413, nil},

		// Invalid names.
		{"name with capitals", "POST", collection, j, esBody("Web", valid), 422, []string{"metadata.name"}},
		{"name with a dot", "POST", collection, j, esBody("web.v1", valid), 422, []string{"metadata.name"}},
		{"name starting with a digit", "POST", collection, j, esBody("1web", valid), 422, []string{"metadata.name"}},
		{"name longer than 63", "POST", collection, j, esBody(strings.Repeat("a", 64), valid), 422, []string{"metadata.name"}},
		{"no name", "POST", collection, j, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{},"spec":` + valid + `}`, 422, []string{"metadata.name"}},

		// Every rule of the spec.
		{"image missing", "POST", collection, j, esBody("v1", `{"ports":[{"port":80}]}`), 422, []string{"spec.image: Required value"}},
		{"image with whitespace", "POST", collection, j, esBody("v2", `{"image":"nginx :1","ports":[{"port":80}]}`), 422, []string{"spec.image"}},
		{"negative replicas", "POST", collection, j, esBody("v3", `{"replicas":-1,"image":"nginx:1","ports":[{"port":80}]}`), 422, []string{"spec.replicas"}},
		{"pull policy", "POST", collection, j, esBody("v4", `{"image":"nginx:1","imagePullPolicy":"Sometimes","ports":[{"port":80}]}`), 422, []string{"spec.imagePullPolicy", "Unsupported value"}},
		{"no ports", "POST", collection, j, esBody("v5", `{"image":"nginx:1"}`), 422, []string{"spec.ports: Required value"}},
		{"port 0", "POST", collection, j, esBody("v6", `{"image":"nginx:1","ports":[{"port":0,"targetPort":80}]}`), 422, []string{"spec.ports[0].port"}},
		{"port above 65535", "POST", collection, j, esBody("v7", `{"image":"nginx:1","ports":[{"port":70000}]}`), 422, []string{"spec.ports[0].port"}},
		{"target port above 65535", "POST", collection, j, esBody("v8", `{"image":"nginx:1","ports":[{"port":80,"targetPort":70000}]}`), 422, []string{"spec.ports[0].targetPort"}},
		{"target port not a name", "POST", collection, j, esBody("v9", `{"image":"nginx:1","ports":[{"port":80,"targetPort":"NOT_A_NAME"}]}`), 422, []string{"spec.ports[0].targetPort"}},
		{"named target port", "POST", collection, j, esBody("v9a", `{"image":"nginx:1","ports":[{"name":"http","port":80,"targetPort":"http"}]}`), 422, []string{"spec.ports[0].targetPort", "must be a number"}},
		{"protocol", "POST", collection, j, esBody("v10", `{"image":"nginx:1","ports":[{"port":80,"protocol":"HTTP"}]}`), 422, []string{"spec.ports[0].protocol", "Unsupported value"}},
		{"port name", "POST", collection, j, esBody("v11", `{"image":"nginx:1","ports":[{"name":"HTTP_PORT","port":80}]}`), 422, []string{"spec.ports[0].name"}},
		{"names required with several ports", "POST", collection, j, esBody("v12", `{"image":"nginx:1","ports":[{"port":80},{"port":443}]}`), 422, []string{"spec.ports[0].name: Required value", "spec.ports[1].name: Required value"}},
		{"duplicate port names", "POST", collection, j, esBody("v13", `{"image":"nginx:1","ports":[{"name":"http","port":80},{"name":"http","port":81}]}`), 422, []string{"spec.ports[1].name: Duplicate value"}},
		{"duplicate port and protocol", "POST", collection, j, esBody("v14", `{"image":"nginx:1","ports":[{"name":"a","port":80},{"name":"b","port":80}]}`), 422, []string{"spec.ports[1]", "Duplicate value"}},
		{"nodePort with ClusterIP", "POST", collection, j, esBody("v15", `{"image":"nginx:1","serviceType":"ClusterIP","ports":[{"port":80,"nodePort":31000}]}`), 422, []string{"spec.ports[0].nodePort: Forbidden"}},
		{"nodePort outside the range", "POST", collection, j, esBody("v16", `{"image":"nginx:1","ports":[{"port":80,"nodePort":80}]}`), 422, []string{"spec.ports[0].nodePort", "30000-32767"}},
		{"duplicate nodePort", "POST", collection, j, esBody("v17", `{"image":"nginx:1","ports":[{"name":"a","port":80,"nodePort":31000},{"name":"b","port":81,"nodePort":31000}]}`), 422, []string{"spec.ports[1].nodePort: Duplicate value"}},
		{"appProtocol", "POST", collection, j, esBody("v18", `{"image":"nginx:1","ports":[{"port":80,"appProtocol":"not a protocol"}]}`), 422, []string{"spec.ports[0].appProtocol"}},
		{"service type ExternalName", "POST", collection, j, esBody("v19", `{"image":"nginx:1","serviceType":"ExternalName","ports":[{"port":80}]}`), 422, []string{"spec.serviceType", "Unsupported value"}},
		{"service type unknown", "POST", collection, j, esBody("v20", `{"image":"nginx:1","serviceType":"Public","ports":[{"port":80}]}`), 422, []string{"spec.serviceType"}},
		{"env name", "POST", collection, j, esBody("v21", `{"image":"nginx:1","ports":[{"port":80}],"env":[{"name":"1=A","value":"x"}]}`), 422, []string{"spec.env[0].name"}},
		{"duplicate env", "POST", collection, j, esBody("v22", `{"image":"nginx:1","ports":[{"port":80}],"env":[{"name":"A","value":"1"},{"name":"A","value":"2"}]}`), 422, []string{"spec.env[1].name: Duplicate value"}},
		{"env value and valueFrom", "POST", collection, j, esBody("v23", `{"image":"nginx:1","ports":[{"port":80}],"env":[{"name":"A","value":"1","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}`), 422, []string{"spec.env[0].valueFrom"}},
		{"requests above limits", "POST", collection, j, esBody("v24", `{"image":"nginx:1","ports":[{"port":80}],"resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}}`), 422, []string{"spec.resources.requests[cpu]"}},
		{"negative quantity", "POST", collection, j, esBody("v25", `{"image":"nginx:1","ports":[{"port":80}],"resources":{"requests":{"memory":"-1Gi"}}}`), 422, []string{"spec.resources.requests[memory]"}},
		{"v1beta1 negative size names size", "POST", betaCollection, j, `{"apiVersion":"app.easyservice.io/v1beta1","kind":"EasyService","metadata":{"name":"b1"},"spec":{"size":-1,"image":"nginx:1","ports":[{"port":80}]}}`, 422, []string{"spec.size"}},
		{"v1beta1 named target port", "POST", betaCollection, j, `{"apiVersion":"app.easyservice.io/v1beta1","kind":"EasyService","metadata":{"name":"b3"},"spec":{"image":"nginx:1","ports":[{"name":"http","port":80,"targetPort":"http"}]}}`, 422, []string{"spec.ports[0].targetPort", "must be a number"}},
		{"v1beta1 bad env names envs", "POST", betaCollection, j, `{"apiVersion":"app.easyservice.io/v1beta1","kind":"EasyService","metadata":{"name":"b2"},"spec":{"image":"nginx:1","ports":[{"port":80}],"envs":[{"name":"1=A"}]}}`, 422, []string{"spec.envs[0].name"}},
		{"dry run of an invalid object", "POST", collection + "?dryRun=All", j, esBody("v26", `{"image":"","ports":[{"port":80}]}`), 422, []string{"spec.image"}},

		// Updates and patches of the base object.
		{"update to an invalid spec", "PUT", base, j, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"base"},"spec":{"image":"nginx:1","replicas":-5,"ports":[{"port":80}]}}`, 422, []string{"spec.replicas"}},
		{"update with a stale resourceVersion", "PUT", base, j, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"base","resourceVersion":"1"},"spec":` + valid + `}`, 409, []string{"Conflict", "the object has been modified"}},
		{"update renaming the object", "PUT", base, j, esBody("renamed", valid), 400, []string{"does not match"}},
		{"merge patch to an invalid spec", "PATCH", base, merge, `{"spec":{"ports":[{"port":80,"protocol":"ICMP"}]}}`, 422, []string{"spec.ports[0].protocol"}},
		{"merge patch of a wrong type", "PATCH", base, merge, `{"spec":{"replicas":"many"}}`, 422, []string{"spec.replicas"}},
		{"JSON patch to an invalid spec", "PATCH", base, jp, `[{"op":"replace","path":"/spec/image","value":""}]`, 422, []string{"spec.image"}},
		{"JSON patch with a failing test", "PATCH", base, jp, `[{"op":"test","path":"/spec/image","value":"other"},{"op":"replace","path":"/spec/image","value":"x:1"}]`, 422, []string{`"reason":"Invalid"`}},
		{"malformed JSON patch", "PATCH", base, jp, `[{"op":"replace"`, 400, nil},
		{"patch with an unsupported type", "PATCH", base, "application/x-unknown-patch", `{}`, 415, nil},
		{"status write with a negative counter", "PUT", base + "/status", j, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"base"},"spec":` + valid + `,"status":{"readyReplicas":-1}}`, 422, []string{"status.readyReplicas"}},
		{"status write with inconsistent counters", "PATCH", base + "/status", merge, `{"status":{"replicas":1,"readyReplicas":2}}`, 422, []string{"status.readyReplicas"}},
		{"scale to negative replicas", "PATCH", base + "/scale", merge, `{"spec":{"replicas":-1}}`, 422, []string{"spec.replicas"}},
		{"delete with a stale UID precondition", "DELETE", base, j, `{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}}`, 409, []string{"the UID in the precondition"}},
		{"delete with a stale resourceVersion precondition", "DELETE", base, j, `{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":"1"}}`, 409, []string{"the ResourceVersion in the precondition"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.method, tc.path, tc.contentType, []byte(tc.body), nil)
			if r.code != tc.code {
				t.Fatalf("%s %s = %d, want %d: %.400s", tc.method, tc.path, r.code, tc.code, r.body)
			}
			for _, want := range tc.contains {
				if !strings.Contains(string(r.body), want) {
					t.Errorf("the response lacks %q: %.600s", want, r.body)
				}
			}
			if r.code >= 400 && r.code != http.StatusRequestEntityTooLarge {
				if st := r.status(t); st.Code != int32(tc.code) || st.Status != metav1.StatusFailure {
					t.Errorf("the Status says code %d, status %q", st.Code, st.Status)
				}
			}
		})
	}

	t.Run("status writes ignore spec changes", func(t *testing.T) {
		r := s.do(t, http.MethodPatch, base+"/status", merge, []byte(`{"spec":{"image":"changed:1"},"status":{"replicas":1}}`), nil)
		if r.code != http.StatusOK || !strings.Contains(string(r.body), `"image":"nginx:1.27"`) {
			t.Errorf("PATCH /status with a spec change = %d: %s", r.code, r.body)
		}
	})

	t.Run("nothing was stored", func(t *testing.T) {
		list, err := s.Client.AppV1().EasyServices(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 || list.Items[0].Name != "base" {
			var names []string
			for _, item := range list.Items {
				names = append(names, item.Name)
			}
			t.Fatalf("stored objects: %v, want only base", names)
		}
		got := list.Items[0]
		if got.Spec.Image != "nginx:1.27" || *got.Spec.Replicas != 1 || got.Generation != 1 || got.UID != stored.UID {
			t.Errorf("the base object changed: generation %d, spec %+v", got.Generation, got.Spec)
		}
	})
}
