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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// target is one way of storing the benchmark's object.
type target struct {
	id    string // short, in namespaces and file names
	title string
	ep    *endpoint
	// prefix is the API path up to the namespace, and resource the plural after it.
	prefix, resource string
	body             func(name string) []byte
	// padded is the object padded by pad bytes, for the objects sized to the EasyService's JSON
	// (sizeObjects sets body from it); nil for the EasyServices.
	padded func(name string, pad int) []byte
	// esServer: the objects are kept by easyservice-apiserver.
	esServer bool
	// jsonOnly: asked for protobuf first, the server answers 406 (sample-apiserver offers protobuf,
	// but its types cannot be encoded in it), so there is no LIST accepting protobuf first.
	jsonOnly bool
}

func (t *target) collection(ns string) string {
	return fmt.Sprintf("%s%s/namespaces/%s/%s", t.ep.host, t.prefix, ns, t.resource)
}

func (t *target) object(ns, name string) string { return t.collection(ns) + "/" + name }

// The target ids, in the order of the first round.
const (
	targetAgg    = "es-aggregated"
	targetDirect = "es-direct"
	targetCRD    = "crd"
	targetCM     = "configmap"
	targetEtcd   = "etcd-floor"
	// The peer, k8s.io/sample-apiserver's Flunders (sample.go).
	targetSampleAgg    = "sample-aggregated"
	targetSampleDirect = "sample-direct"
)

// benchLabels label every object the benchmark makes.
var benchLabels = map[string]string{"app.kubernetes.io/name": "easyservice-bench", "app.kubernetes.io/part-of": "bench"}

// easyService is the benchmark's object: an EasyService v1 of the usual shape (an image, a port,
// two environment variables, requests and limits), in the given apiVersion.
func easyService(apiVersion, name string) []byte {
	obj := map[string]any{
		"apiVersion": apiVersion,
		"kind":       "EasyService",
		"metadata":   map[string]any{"name": name, "labels": benchLabels},
		"spec": map[string]any{
			"replicas":        1,
			"image":           "nginx:1.27.3",
			"imagePullPolicy": "IfNotPresent",
			"env": []any{
				map[string]any{"name": "GREETING", "value": "hello"},
				map[string]any{"name": "LOG_LEVEL", "value": "info"},
			},
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "100m", "memory": "64Mi"},
				"limits":   map[string]any{"cpu": "500m", "memory": "128Mi"},
			},
			"ports":       []any{map[string]any{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}},
			"serviceType": "ClusterIP",
		},
	}
	data, _ := json.Marshal(obj)
	return data
}

// configMap is a ConfigMap with the benchmark's labels and one value of pad bytes.
func configMap(name string, pad int) []byte {
	obj := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": name, "labels": benchLabels},
		"data":       map[string]any{"payload": strings.Repeat("x", pad)},
	}
	data, _ := json.Marshal(obj)
	return data
}

// newTargets builds the targets (the peer's only when it runs); the padding of the ConfigMaps and
// Flunders is sized later (sizeObjects).
func newTargets(p *plane) []*target {
	const esPrefix = "/apis/app.easyservice.io/v1"
	es := func(name string) []byte { return easyService("app.easyservice.io/v1", name) }
	ts := []*target{
		{id: targetAgg, title: "EasyService via aggregation", ep: p.kube, prefix: esPrefix, resource: "easyservices", body: es, esServer: true},
		{id: targetDirect, title: "EasyService direct", ep: p.es, prefix: esPrefix, resource: "easyservices", body: es, esServer: true},
		{id: targetCRD, title: "CRD (same schema)", ep: p.kube, prefix: "/apis/" + crdGroup + "/" + crdVersion, resource: crdResource,
			body: func(name string) []byte { return easyService(crdGroup+"/"+crdVersion, name) }},
		{id: targetCM, title: "ConfigMap (same size)", ep: p.kube, prefix: "/api/v1", resource: "configmaps", padded: configMap},
	}
	if p.sample != nil {
		const samplePrefix = "/apis/" + sampleGroup + "/" + sampleVersion
		ts = append(ts,
			&target{id: targetSampleAgg, title: "sample-apiserver via aggregation", ep: p.kube, prefix: samplePrefix, resource: "flunders", padded: flunder, jsonOnly: true},
			&target{id: targetSampleDirect, title: "sample-apiserver direct", ep: p.sample.ep, prefix: samplePrefix, resource: "flunders", padded: flunder, jsonOnly: true})
	}
	return ts
}

// installCRD creates (or replaces) the CRD twin and waits until kube-apiserver serves it.
func installCRD(ctx context.Context, p *plane) error {
	manifest, err := crdManifest()
	if err != nil {
		return fmt.Errorf("generating the CRD: %w", err)
	}
	c := p.kube.client(30 * time.Second)
	defer c.CloseIdleConnections()
	base := p.kube.host + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
	body, _ := json.Marshal(manifest)
	data, err := expect(ctx, c, http.MethodPost, base+"?fieldValidation=Strict", body, http.StatusCreated, http.StatusConflict)
	if err != nil {
		return fmt.Errorf("creating the CRD: %w", err)
	}
	if strings.Contains(string(data), `"reason":"AlreadyExists"`) {
		// Left by an earlier run against this plane: replace it.
		cur, err := expect(ctx, c, http.MethodGet, base+"/"+crdName, nil, http.StatusOK)
		if err != nil {
			return err
		}
		var meta struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(cur, &meta); err != nil {
			return err
		}
		manifest["metadata"].(map[string]any)["resourceVersion"] = meta.Metadata.ResourceVersion
		body, _ = json.Marshal(manifest)
		if _, err := expect(ctx, c, http.MethodPut, base+"/"+crdName+"?fieldValidation=Strict", body, http.StatusOK); err != nil {
			return fmt.Errorf("replacing the CRD: %w", err)
		}
	}
	return poll(ctx, 60*time.Second, "the CRD to be served", func() (bool, error) {
		code, _, err := do(ctx, c, http.MethodGet, p.kube.host+"/apis/"+crdGroup+"/"+crdVersion+"/namespaces/default/"+crdResource+"?limit=1", nil, "")
		return err == nil && code == http.StatusOK, nil
	})
}

// deleteCRD removes the CRD twin (its objects are already gone).
func deleteCRD(ctx context.Context, p *plane) error {
	c := p.kube.client(30 * time.Second)
	defer c.CloseIdleConnections()
	_, err := expect(ctx, c, http.MethodDelete, p.kube.host+"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+crdName, nil,
		http.StatusOK, http.StatusAccepted, http.StatusNotFound)
	return err
}

// sizeObjects pads the ConfigMaps and Flunders so that their JSON, as a GET returns it, is as long
// as the EasyService's, and returns that size. It creates probes in namespace ns and deletes them.
func sizeObjects(ctx context.Context, targets []*target, ns string) (int, error) {
	var es *target
	for _, t := range targets {
		if t.id == targetDirect {
			es = t
		}
	}
	size := func(t *target, name string, body []byte) (int, error) {
		cc := t.ep.client(30 * time.Second)
		defer cc.CloseIdleConnections()
		if _, err := expect(ctx, cc, http.MethodPost, t.collection(ns), body, http.StatusCreated); err != nil {
			return 0, err
		}
		data, err := expect(ctx, cc, http.MethodGet, t.object(ns, name), nil, http.StatusOK)
		if err != nil {
			return 0, err
		}
		_, err = expect(ctx, cc, http.MethodDelete, t.object(ns, name), nil, http.StatusOK, http.StatusAccepted)
		return len(data), err
	}
	want, err := size(es, "probe-es", es.body("probe-es"))
	if err != nil {
		return 0, fmt.Errorf("sizing the EasyService: %w", err)
	}
	for _, t := range targets {
		if t.padded == nil {
			continue
		}
		// The size grows byte for byte with the padding: measure it without, then check.
		padded := t.padded
		base, err := size(t, "probe-"+t.id+"-0", padded("probe-"+t.id+"-0", 0))
		if err != nil {
			return 0, fmt.Errorf("sizing %s: %w", t.title, err)
		}
		pad := max(want-base, 0)
		got, err := size(t, "probe-"+t.id+"-1", padded("probe-"+t.id+"-1", pad))
		if err != nil {
			return 0, err
		}
		pad = max(pad+want-got, 0)
		t.body = func(name string) []byte { return padded(name, pad) }
	}
	return want, nil
}

// poll runs cond every 200ms until it is true, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), fmt.Errorf("waiting for %s", what))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
