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
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/managedfields/managedfieldstest"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	esv1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/generated/applyconfiguration"
)

// listItems is the size of make bench's LIST (-list-n of mode full).
const listItems = 10000

// benchLabels and the objects below are test/bench's (targets.go): an EasyService of the usual
// shape, and a ConfigMap padded to the same JSON size.
var benchLabels = map[string]string{"app.kubernetes.io/name": "easyservice-bench", "app.kubernetes.io/part-of": "bench"}

const benchEasyService = `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"es"},"spec":{` +
	`"replicas":1,"image":"nginx:1.27.3","imagePullPolicy":"IfNotPresent",` +
	`"env":[{"name":"GREETING","value":"hello"},{"name":"LOG_LEVEL","value":"info"}],` +
	`"resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"500m","memory":"128Mi"}},` +
	`"ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"}],"serviceType":"ClusterIP"}}`

// BenchmarkListJSON splits what a JSON LIST of 10,000 EasyServices costs the server once it has the
// items from the watch cache (internal objects, defaulted, with the managed fields a create
// records): the conversion of the list to v1, and its encoding, beside the encoding of 10,000
// ConfigMaps of the same JSON size (what make bench's LIST compares with: kube-apiserver's internal
// and v1 ConfigMaps share their memory layout, so it converts nothing). The "-no-managed-fields"
// encodings show the share of the managed fields: a nested spec records a field set several times
// the size of a ConfigMap's one padded value.
//
//	go test -run '^$' -bench BenchmarkListJSON -benchmem ./pkg/apis/easyservice/install/
func BenchmarkListJSON(b *testing.B) {
	esScheme := runtime.NewScheme()
	Install(esScheme)
	esCodecs := serializer.NewCodecFactory(esScheme)
	esEncoder := esCodecs.LegacyCodec(esv1.SchemeGroupVersion)
	cmEncoder := scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion)

	// One EasyService as a create stores it: decoded and defaulted as v1, its managed fields from the
	// field manager, converted to the internal type the watch cache holds.
	v1obj := &esv1.EasyService{}
	if _, _, err := esCodecs.UniversalDecoder(esv1.SchemeGroupVersion).Decode([]byte(benchEasyService), nil, v1obj); err != nil {
		b.Fatal(err)
	}
	v1obj.APIVersion, v1obj.Kind = esv1.SchemeGroupVersion.String(), "EasyService"
	v1obj.Labels = benchLabels
	esManaged := managedFields(b, applyconfiguration.NewTypeConverter(esScheme), v1obj)
	item := &easyservice.EasyService{}
	if err := esScheme.Convert(v1obj, item, nil); err != nil {
		b.Fatal(err)
	}
	internal := &easyservice.EasyServiceList{ListMeta: metav1.ListMeta{ResourceVersion: "100000"}}
	for i := range listItems {
		o := item.DeepCopy()
		setMeta(&o.ObjectMeta, i, esManaged)
		internal.Items = append(internal.Items, *o)
	}
	converted := &esv1.EasyServiceList{}
	if err := esScheme.Convert(internal, converted, nil); err != nil {
		b.Fatal(err)
	}
	esItemSize := itemSize(b, &converted.Items[0])

	// ConfigMaps padded to the EasyService's JSON size, with their own managed fields.
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Data: map[string]string{"payload": ""}}
	cm.Labels = benchLabels
	cmManaged := managedFields(b, applyconfigurations.NewTypeConverter(scheme.Scheme), cm)
	cm.TypeMeta = metav1.TypeMeta{} // as the items of a list
	setMeta(&cm.ObjectMeta, 0, cmManaged)
	cm.Data["payload"] = strings.Repeat("x", esItemSize-itemSize(b, cm))
	configMaps := &corev1.ConfigMapList{ListMeta: metav1.ListMeta{ResourceVersion: "100000"}}
	for i := range listItems {
		o := cm.DeepCopy()
		setMeta(&o.ObjectMeta, i, cmManaged)
		configMaps.Items = append(configMaps.Items, *o)
	}
	if size := itemSize(b, &configMaps.Items[0]); size != esItemSize {
		b.Fatalf("a ConfigMap is %d bytes of JSON, an EasyService %d", size, esItemSize)
	}
	b.Logf("an item is %d bytes of JSON, its managed fields %d (EasyService) and %d (ConfigMap)",
		esItemSize, len(esManaged[0].FieldsV1.GetRawBytes()), len(cmManaged[0].FieldsV1.GetRawBytes()))

	b.Run("convert-EasyService", func(b *testing.B) {
		for b.Loop() {
			if err := esScheme.Convert(internal, &esv1.EasyServiceList{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	encode := func(name string, encoder runtime.Encoder, list runtime.Object) {
		b.Run(name, func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := encoder.Encode(list, &buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "response-bytes")
		})
	}
	encode("encode-EasyService", esEncoder, converted)
	encode("encode-ConfigMap", cmEncoder, configMaps)
	encode("encode-EasyService-no-managed-fields", esEncoder, withoutManagedFields(converted))
	encode("encode-ConfigMap-no-managed-fields", cmEncoder, withoutManagedFields(configMaps))
	// A response of more than 128 KiB is gzipped at level 1 when the client accepts it, as
	// client-go's transport (and make bench's) does unless told not to.
	compress := func(name string, encoder runtime.Encoder, list runtime.Object) {
		var body bytes.Buffer
		if err := encoder.Encode(list, &body); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			var buf bytes.Buffer
			gw, err := gzip.NewWriterLevel(&buf, 1)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				buf.Reset()
				gw.Reset(&buf)
				if _, err := gw.Write(body.Bytes()); err != nil {
					b.Fatal(err)
				}
				if err := gw.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "gzipped-bytes")
		})
	}
	compress("gzip-EasyService", esEncoder, converted)
	compress("gzip-ConfigMap", cmEncoder, configMaps)
}

// managedFields are the managed fields that obj's create by "bench" records (an Update).
func managedFields(b *testing.B, tc managedfields.TypeConverter, obj runtime.Object) []metav1.ManagedFieldsEntry {
	b.Helper()
	fm := managedfieldstest.NewTestFieldManager(tc, obj.GetObjectKind().GroupVersionKind())
	if err := fm.Update(obj, "bench"); err != nil {
		b.Fatal(err)
	}
	return fm.ManagedFields()
}

// setMeta gives the i-th item the metadata of a stored object.
func setMeta(m *metav1.ObjectMeta, i int, managed []metav1.ManagedFieldsEntry) {
	m.Name, m.Namespace = fmt.Sprintf("bench-%05d", i), "bench-abcd"
	m.UID = types.UID(fmt.Sprintf("8f0c5c2e-4b1a-4c1e-9d2a-%012d", i))
	m.ResourceVersion, m.Generation = fmt.Sprint(10000+i), 1
	m.CreationTimestamp = metav1.Unix(1764720000, 0)
	m.ManagedFields = managed
}

// itemSize is the size of obj's JSON as an item of a list.
func itemSize(b *testing.B, obj runtime.Object) int {
	b.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		b.Fatal(err)
	}
	return len(data)
}

func withoutManagedFields(list runtime.Object) runtime.Object {
	list = list.DeepCopyObject()
	switch l := list.(type) {
	case *esv1.EasyServiceList:
		for i := range l.Items {
			l.Items[i].ManagedFields = nil
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			l.Items[i].ManagedFields = nil
		}
	}
	return list
}
