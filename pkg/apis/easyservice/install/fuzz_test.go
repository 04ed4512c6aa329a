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

package install

import (
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
)

var (
	fuzzScheme = func() *runtime.Scheme {
		s := runtime.NewScheme()
		Install(s)
		return s
	}()
	fuzzCodecs = serializer.NewCodecFactory(fuzzScheme)
)

// FuzzDecodeV1 feeds arbitrary bodies through what the server does with a v1 request: decode,
// default, convert to the hub, validate; and checks that a decodable object converts to both
// versions and back without loss.
func FuzzDecodeV1(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"web"},"spec":{"image":"nginx:1.27","ports":[{"port":80}]}}`))
	f.Add([]byte(`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"web","namespace":"ns"},"spec":{"replicas":3,"image":"nginx","imagePullPolicy":"Always","env":[{"name":"A","value":"1"},{"name":"B","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],"resources":{"requests":{"cpu":"100m"},"limits":{"cpu":"1"}},"ports":[{"name":"http","port":80,"targetPort":"http","protocol":"TCP","nodePort":31000},{"name":"dns","port":53,"protocol":"UDP","appProtocol":"dns"}],"serviceType":"LoadBalancer"},"status":{"replicas":1,"conditions":[{"type":"Ready","status":"True","reason":"Ok","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`))
	f.Add([]byte("apiVersion: app.easyservice.io/v1\nkind: EasyService\nmetadata: {name: web}\nspec: {image: nginx:1.27, ports: [{port: 80}]}\n"))
	f.Add([]byte(`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","spec":{"replicas":-1,"ports":[{"port":0,"targetPort":"NOT A NAME"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, v1.SchemeGroupVersion)
	})
}

// FuzzDecodeV1beta1 is FuzzDecodeV1 for v1beta1 requests, the tutorial CRD's shape.
func FuzzDecodeV1beta1(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"app.easyservice.io/v1beta1","kind":"EasyService","metadata":{"name":"easyservice-sample"},"spec":{"size":2,"image":"nginx:1.7.9","ports":[{"port":80,"targetPort":80,"nodePort":31002}]}}`))
	f.Add([]byte("apiVersion: app.easyservice.io/v1beta1\nkind: EasyService\nmetadata: {name: easyservice-sample}\nspec:\n  size: 2\n  image: nginx:1.7.9\n  envs: [{name: A, value: '1'}]\n  ports: [{port: 80, targetPort: 80, nodePort: 31002}]\n"))
	f.Add([]byte(`{"apiVersion":"app.easyservice.io/v1beta1","kind":"EasyService","metadata":{"name":"x"},"spec":{"size":0,"image":"a","serviceType":"ClusterIP","ports":[{"name":"a","port":1},{"name":"b","port":2,"protocol":"SCTP"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, v1beta1.SchemeGroupVersion)
	})
}

func checkDecode(t *testing.T, data []byte, gv schema.GroupVersion) {
	// The server's decoder for a request to gv: JSON or YAML, defaulted, converted to the hub.
	decoder := fuzzCodecs.DecoderToVersion(fuzzCodecs.UniversalDeserializer(), runtime.InternalGroupVersioner)
	defaultGVK := gv.WithKind("EasyService")
	obj, gvk, err := decoder.Decode(data, &defaultGVK, nil)
	if err != nil {
		return // refusing input is fine; panicking or accepting it half is not
	}
	es, ok := obj.(*easyservice.EasyService)
	if !ok {
		return // another kind of the scheme, e.g. a List or a Status
	}
	if gvk.Group != easyservice.GroupName {
		t.Fatalf("decoded a %v as an EasyService", gvk)
	}
	_ = validation.ValidateEasyService(es, validation.DefaultOptions())

	for _, target := range []schema.GroupVersion{v1.SchemeGroupVersion, v1beta1.SchemeGroupVersion} {
		external, err := fuzzScheme.ConvertToVersion(es.DeepCopy(), target)
		if err != nil {
			t.Fatalf("converting to %v: %v", target, err)
		}
		back, err := fuzzScheme.ConvertToVersion(external, runtime.InternalGroupVersioner)
		if err != nil {
			t.Fatalf("converting back from %v: %v", target, err)
		}
		if !apiequality.Semantic.DeepEqual(es, back) {
			t.Fatalf("%v lost data in a round trip:\nbefore %#v\nafter  %#v", target, es, back)
		}
	}
}

// TestDecodeSeeds makes sure the fuzz harness decodes what the server accepts, so that the fuzz
// targets exercise conversion and validation rather than refusing every input.
func TestDecodeSeeds(t *testing.T) {
	decoder := fuzzCodecs.DecoderToVersion(fuzzCodecs.UniversalDeserializer(), runtime.InternalGroupVersioner)
	sample := []byte("apiVersion: app.easyservice.io/v1beta1\nkind: EasyService\nmetadata: {name: easyservice-sample}\n" +
		"spec:\n  size: 2\n  image: nginx:1.7.9\n  ports: [{port: 80, targetPort: 80, nodePort: 31002}]\n")
	obj, _, err := decoder.Decode(sample, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	es, ok := obj.(*easyservice.EasyService)
	if !ok || es.Spec.Replicas != 2 || es.Spec.Ports[0].Name != "tcp-80" {
		t.Fatalf("decoded %#v", obj)
	}
	es.Namespace = "default" // the request path sets it
	if errs := validation.ValidateEasyService(es, validation.DefaultOptions()); len(errs) != 0 {
		t.Fatalf("the tutorial sample is invalid: %v", errs)
	}
	checkDecode(t, sample, v1beta1.SchemeGroupVersion)
}
