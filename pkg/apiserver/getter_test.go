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

package apiserver

import (
	"context"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	etcd3testing "k8s.io/apiserver/pkg/storage/etcd3/testing"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/utils/ptr"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
	"github.com/easyservice/easyservice/pkg/registry/easyservice/storage"
)

// recordingGetter is a rest.Getter that records the options of every Get it passes on.
type recordingGetter struct {
	rest.Getter
	mu      sync.Mutex
	options []metav1.GetOptions
}

func (g *recordingGetter) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	g.mu.Lock()
	g.options = append(g.options, *options)
	g.mu.Unlock()
	return g.Getter.Get(ctx, name, options)
}

// TestEasyServiceGetter: the controller's reader returns whole v1 EasyServices from the storage's
// watch cache (every Get at resourceVersion "0", the cache's own), follows updates and deletes,
// and answers NotFound for a missing one.
func TestEasyServiceGetter(t *testing.T) {
	server, etcdStorage := etcd3testing.NewUnsecuredEtcd3TestClientServer(t)
	t.Cleanup(func() { server.Terminate(t) })
	etcdStorage.Codec = Codecs.LegacyCodec(v1.SchemeGroupVersion)
	etcdStorage.EventsHistoryWindow = storagebackend.DefaultEventsHistoryWindow
	st, err := storage.NewStorage(Scheme, generic.RESTOptions{
		StorageConfig:           etcdStorage.ForResource(easyservice.Resource("easyservices")),
		Decorator:               genericregistry.StorageWithCacher(),
		DeleteCollectionWorkers: 1,
		ResourcePrefix:          "easyservices",
	}, validation.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.EasyService.DestroyFunc)

	recorder := &recordingGetter{Getter: st.EasyService}
	get := easyServiceGetter(recorder)
	ctx := genericapirequest.WithNamespace(t.Context(), "ns")
	es := &easyservice.EasyService{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
		Spec: easyservice.EasyServiceSpec{Replicas: 2, Image: "nginx:1.27", ServiceType: "NodePort",
			Ports: []easyservice.EasyServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: "TCP"}}},
	}
	if _, err := st.EasyService.Create(ctx, es, rest.ValidateAllObjectFunc, &metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// waitFor polls the getter until check accepts its answer: the watch cache follows etcd.
	waitFor := func(what string, check func(*v1.EasyService, error) bool) {
		t.Helper()
		var got *v1.EasyService
		var last error
		err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			got, last = get(t.Context(), "ns", "web")
			return check(got, last), nil
		})
		if err != nil {
			t.Fatalf("waiting for %s: %v; last answer %+v, %v", what, err, got, last)
		}
	}
	waitFor("the created EasyService", func(got *v1.EasyService, err error) bool {
		return err == nil && got.Name == "web" && got.Namespace == "ns" && got.Generation == 1 &&
			ptr.Deref(got.Spec.Replicas, 0) == 2 && len(got.Spec.Ports) == 1 && got.Spec.Ports[0].TargetPort.IntValue() == 8080
	})

	stored, err := st.EasyService.Get(ctx, "web", &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	updated := stored.(*easyservice.EasyService).DeepCopy()
	updated.Spec.Replicas = 3
	if _, _, err := st.EasyService.Update(ctx, "web", rest.DefaultUpdatedObjectInfo(updated), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the update", func(got *v1.EasyService, err error) bool {
		return err == nil && got.Generation == 2 && ptr.Deref(got.Spec.Replicas, 0) == 3
	})

	if _, _, err := st.EasyService.Delete(ctx, "web", rest.ValidateAllObjectFunc, &metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("NotFound after the delete", func(_ *v1.EasyService, err error) bool { return apierrors.IsNotFound(err) })
	if _, err := get(t.Context(), "other", "web"); !apierrors.IsNotFound(err) {
		t.Errorf("an EasyService of another namespace: %v, want NotFound", err)
	}

	recorder.mu.Lock()
	defer recorder.mu.Unlock()
	for _, o := range recorder.options {
		if o.ResourceVersion != "0" {
			t.Fatalf("a Get with options %+v: want resourceVersion \"0\", served by the watch cache", o)
		}
	}
}
