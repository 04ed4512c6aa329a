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
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
)

// contentTypes records the Content-Type of every response a client got, by request.
type contentTypes struct {
	mu   sync.Mutex
	seen map[string]string
	next http.RoundTripper
}

func (c *contentTypes) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.seen[r.Method+" "+r.URL.RequestURI()] = resp.Header.Get("Content-Type")
		c.mu.Unlock()
	}
	return resp, err
}

// TestProtobufThroughAggregator: a client that asks for protobuf only, as kube-controller-manager's
// garbage collector and namespace controller do, gets it through kube-apiserver's aggregation
// layer: a create (whose body is protobuf too), a GET in both versions, a LIST, a patch, a watch
// event and an error are each answered in protobuf and decode.
func TestProtobufThroughAggregator(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "protobuf")
	recorded := &contentTypes{seen: map[string]string{}}
	cfg := rest.CopyConfig(plane.config)
	cfg.ContentType, cfg.AcceptContentTypes = runtime.ContentTypeProtobuf, runtime.ContentTypeProtobuf
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper { recorded.next = next; return recorded })
	client, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	easyServices := client.AppV1().EasyServices(ns)

	created, err := easyServices.Create(ctx, easyService("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Name != "web" || *created.Spec.Replicas != 2 || created.Spec.Ports[0].TargetPort.IntValue() != 80 {
		t.Errorf("create answered %+v", created.Spec)
	}
	if got, err := easyServices.Get(ctx, "web", metav1.GetOptions{}); err != nil || got.UID != created.UID {
		t.Errorf("get: %v %+v", err, got)
	}
	if got, err := client.AppV1beta1().EasyServices(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || got.UID != created.UID || *got.Spec.Replicas != 2 {
		t.Errorf("get v1beta1: %v %+v", err, got)
	}
	list, err := easyServices.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].UID != created.UID {
		t.Fatalf("list: %v %+v", err, list)
	}

	w, err := easyServices.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	patched, err := easyServices.Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"e2e":"protobuf"}}}`), metav1.PatchOptions{})
	if err != nil || patched.Labels["e2e"] != "protobuf" {
		t.Fatalf("patch: %v %+v", err, patched)
	}
	select {
	case event := <-w.ResultChan():
		if event.Type != watch.Modified {
			t.Errorf("watch event %s %+v, want MODIFIED", event.Type, event.Object)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event 30 s after the patch")
	}

	if _, err := easyServices.Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get of a missing EasyService: %v, want 404", err)
	}

	recorded.mu.Lock()
	defer recorded.mu.Unlock()
	for _, verb := range []string{"POST", "GET", "PATCH"} {
		found := false
		for request := range recorded.seen {
			found = found || strings.HasPrefix(request, verb+" ")
		}
		if !found {
			t.Errorf("no %s recorded: %v", verb, recorded.seen)
		}
	}
	for request, contentType := range recorded.seen {
		if !strings.HasPrefix(contentType, runtime.ContentTypeProtobuf) {
			t.Errorf("%s answered with %q, want %s", request, contentType, runtime.ContentTypeProtobuf)
		}
	}
	if len(recorded.seen) < 7 {
		t.Errorf("%d requests recorded, want the 7 above: %v", len(recorded.seen), recorded.seen)
	}
}
