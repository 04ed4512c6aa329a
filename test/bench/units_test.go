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

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	esv1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

func TestPercentileAndMedian(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]float64{50: 50, 99: 99, 100: 100, 1: 1} {
		if got := percentile(ds, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := percentile(ds[:1], 99); got != 100 {
		t.Errorf("p99 of one sample = %v", got)
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %v", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median = %v", got)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-mode", "medium", "-rounds", "5"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.mode != "medium" || cfg.rounds != 5 || cfg.listN != defaultConfig("medium").listN {
		t.Errorf("got %+v", cfg)
	}
	if cfg, err = parseFlags([]string{"--mode=smoke"}); err != nil || cfg.listN != defaultConfig("smoke").listN {
		t.Errorf("got %+v, %v", cfg, err)
	}
	if _, err := parseFlags([]string{"-mode", "huge"}); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if _, err := parseFlags([]string{"-list-n", "10"}); err == nil {
		t.Error("-list-n below the creates was accepted")
	}
}

// The CRD's schema must be structural: no $ref left, a type (or int-or-string) everywhere, the
// metadata only {type: object}, the list-map keys of ports kept.
func TestCRDSchemaIsStructural(t *testing.T) {
	m, err := crdManifest()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, bad := range []string{`"$ref"`, `"x-kubernetes-patch-strategy"`, `"allOf"`, `"oneOf"`} {
		if strings.Contains(s, bad) {
			t.Errorf("the CRD has %s", bad)
		}
	}
	schema := m["spec"].(map[string]any)["versions"].([]any)[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
	props := schema["properties"].(map[string]any)
	if md := props["metadata"].(map[string]any); len(md) != 1 || md["type"] != "object" {
		t.Errorf("metadata = %v", md)
	}
	spec := props["spec"].(map[string]any)["properties"].(map[string]any)
	ports := spec["ports"].(map[string]any)
	if ports["x-kubernetes-list-type"] != "map" {
		t.Errorf("ports = %v", ports)
	}
	target := ports["items"].(map[string]any)["properties"].(map[string]any)["targetPort"].(map[string]any)
	if intOrString, _ := target["x-kubernetes-int-or-string"].(bool); !intOrString {
		t.Errorf("targetPort = %v", target)
	}
	var walk func(path string, v map[string]any)
	walk = func(path string, v map[string]any) {
		if v["type"] == nil && v["x-kubernetes-int-or-string"] == nil && v["x-kubernetes-preserve-unknown-fields"] == nil {
			t.Errorf("%s has no type", path)
		}
		if p, ok := v["properties"].(map[string]any); ok {
			for k, c := range p {
				walk(path+"."+k, c.(map[string]any))
			}
		}
		if i, ok := v["items"].(map[string]any); ok {
			walk(path+"[]", i)
		}
		if a, ok := v["additionalProperties"].(map[string]any); ok {
			walk(path+"{}", a)
		}
	}
	walk("", schema)
}

func TestLabelValue(t *testing.T) {
	k := `apiserver_request_total{code="201",resource="easyservices",subresource="status",verb="UPDATE"}`
	for label, want := range map[string]string{"code": "201", "resource": "easyservices", "subresource": "status", "verb": "UPDATE", "group": ""} {
		if got := labelValue(k, label); got != want {
			t.Errorf("%s = %q, want %q", label, got, want)
		}
	}
}

func TestChartAndMarkdown(t *testing.T) {
	r := newResults(defaultConfig("smoke"))
	for i := range 3 {
		for _, tg := range r.Targets {
			m := map[string]float64{}
			for _, md := range r.apiMetrics() {
				m[md.id] = float64(10 + i + len(tg))
			}
			r.add(tg, m)
		}
	}
	r.computeRatios()
	dir := t.TempDir()
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	checkOutput(t, dir)

	docs := filepath.Join(dir, "benchmarks.md")
	if err := os.WriteFile(docs, []byte("# B\n\nbefore\n"+resultsBegin+"\nold\n"+resultsEnd+"\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.writeDocs(docs); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(docs)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if strings.Contains(s, "old") || !strings.Contains(s, "before\n") || !strings.Contains(s, "after\n") || !strings.Contains(s, "| figure | unit |") {
		t.Errorf("docs:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "benchmarks.png")); err != nil {
		t.Error(err)
	}
}

func TestRoundOrder(t *testing.T) {
	order := []string{"a", "b", "c", "d", "e"}
	want := [][]string{{"a", "b", "c", "d", "e"}, {"a", "e", "d", "c", "b"}, {"c", "d", "e", "a", "b"}, {"c", "b", "a", "e", "d"}}
	for round, w := range want {
		if got := roundOrder(order, round); !slices.Equal(got, w) {
			t.Errorf("round %d: %v, want %v", round+1, got, w)
		}
	}
}

// The LISTs count the items of what they got, in protobuf as in JSON.
func TestDecodeList(t *testing.T) {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(esv1.AddToScheme(scheme))
	pb := protobuf.NewSerializer(scheme, scheme)
	encode := func(obj runtime.Object) []byte {
		t.Helper()
		var buf bytes.Buffer
		if err := pb.Encode(obj, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cms := &corev1.ConfigMapList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}, ListMeta: metav1.ListMeta{Continue: "next"}}
	for i := range 3 {
		cms.Items = append(cms.Items, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("cm-", i)}})
	}
	ess := &esv1.EasyServiceList{TypeMeta: metav1.TypeMeta{APIVersion: esv1.SchemeGroupVersion.String(), Kind: "EasyServiceList"}}
	for i := range 2 {
		ess.Items = append(ess.Items, esv1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("es-", i)}})
	}
	for _, tc := range []struct {
		name, contentType string
		data              []byte
		items             int
		cont              string
	}{
		{"ConfigMaps in protobuf", runtime.ContentTypeProtobuf, encode(cms), 3, "next"},
		{"EasyServices in protobuf", runtime.ContentTypeProtobuf, encode(ess), 2, ""},
		{"JSON", runtime.ContentTypeJSON, []byte(`{"metadata":{"continue":"c"},"items":[{},{}]}`), 2, "c"},
	} {
		items, cont, err := decodeList(tc.contentType, tc.data)
		if err != nil || items != tc.items || cont != tc.cont {
			t.Errorf("%s: %d items, continue %q, %v; want %d, %q", tc.name, items, cont, err, tc.items, tc.cont)
		}
	}
	for _, tc := range []struct {
		name, contentType string
		data              []byte
	}{
		{"an object, not a list", runtime.ContentTypeProtobuf, encode(&cms.Items[0])},
		{"a truncated body", runtime.ContentTypeProtobuf, encode(cms)[:20]},
		{"not protobuf", runtime.ContentTypeProtobuf, []byte(`{"items":[]}`)},
		{"another content type", "application/yaml", []byte("items: []\n")},
	} {
		if items, _, err := decodeList(tc.contentType, tc.data); err == nil {
			t.Errorf("%s: %d items, no error", tc.name, items)
		}
	}
}

// A goal is judged on the like-for-like ratio, and every ratio says how many samples it sums up.
func TestRatioVerdicts(t *testing.T) {
	r := newResults(defaultConfig("smoke"))
	for range 3 {
		for _, tg := range r.Targets {
			m := map[string]float64{}
			for _, md := range r.apiMetrics() {
				m[md.id] = 10
			}
			// Our protobuf LIST beats the ConfigMaps' JSON LIST (0.67×), not their protobuf LIST (1.25×).
			switch tg {
			case targetAgg:
				m[mListProto] = 100
			case targetCM:
				m[mList], m[mListProto] = 150, 80
			}
			r.add(tg, m)
		}
	}
	r.computeRatios()
	got := map[string]ratio{}
	for _, x := range r.Ratios {
		got[x.Name] = x
	}
	if x := got["LIST no limit: aggregation / ConfigMap, both protobuf"]; x.Goal != "≤ 0.8" || x.Met != "no" || x.Median != 1.25 || x.Samples != 3 {
		t.Errorf("the protobuf LIST goal = %+v, want judged like for like: 1.25 over 3 samples, not met", x)
	}
	if x := got["LIST no limit: aggregation (protobuf) / ConfigMap (JSON)"]; x.Goal != "" || x.Met != "" || x.Samples != 3 {
		t.Errorf("the protobuf LIST against JSON = %+v, want context without a goal", x)
	}
	for name, x := range got {
		want := 3
		if strings.Contains(name, "round 1") {
			want = 1
		}
		if x.Samples != want {
			t.Errorf("%s: %d samples, want %d", name, x.Samples, want)
		}
	}
	if md := r.markdown(); !strings.Contains(md, "| LIST no limit: aggregation / ConfigMap, both protobuf | ≤ 0.8 | 1.25 | 3 | no |") {
		t.Errorf("the ratio table has no like-for-like protobuf LIST verdict with its samples:\n%s", md)
	}
}

// TestTCPActiveOpens opens connections to a local listener: the machine's count of opened TCP
// connections grows by at least as many.
func TestTCPActiveOpens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	before, err := tcpActiveOpens()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	after, err := tcpActiveOpens()
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 5 {
		t.Errorf("ActiveOpens grew by %d after 5 connections", after-before)
	}

	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm ActiveOpens PassiveOpens\nTcp: 1 33303 24452\n"
	if n, err := snmpField(snmp, "Tcp", "PassiveOpens"); err != nil || n != 24452 {
		t.Errorf("snmpField(Tcp PassiveOpens) = %d, %v; want 24452", n, err)
	}
	if _, err := snmpField(snmp, "Tcp", "Nope"); err == nil {
		t.Error("snmpField(Tcp Nope): no error")
	}
}
