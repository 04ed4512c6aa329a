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

// The tests are in an external package: they build the codec from pkg/apiserver, which imports
// this package.
package storage_test

import (
	"context"
	"reflect"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistrytest "k8s.io/apiserver/pkg/registry/generic/testing"
	"k8s.io/apiserver/pkg/registry/rest"
	etcd3testing "k8s.io/apiserver/pkg/storage/etcd3/testing"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
	"github.com/easyservice/easyservice/pkg/apiserver"
	"github.com/easyservice/easyservice/pkg/registry/easyservice/storage"
)

const (
	namespace = "test" // the namespace of the generic registry tester
	name      = "web"
)

// newStorage starts an in-process etcd and returns the storage of easyservices on it, stored as
// app.easyservice.io/v1.
func newStorage(t *testing.T) storage.EasyServiceStorage {
	t.Helper()
	server, etcdStorage := etcd3testing.NewUnsecuredEtcd3TestClientServer(t)
	t.Cleanup(func() { server.Terminate(t) })
	etcdStorage.Codec = apiserver.Codecs.LegacyCodec(v1.SchemeGroupVersion)
	restOptions := generic.RESTOptions{
		StorageConfig:           etcdStorage.ForResource(easyservice.Resource("easyservices")),
		Decorator:               generic.UndecoratedStorage,
		DeleteCollectionWorkers: 1,
		ResourcePrefix:          "easyservices",
	}
	st, err := storage.NewStorage(apiserver.Scheme, restOptions, validation.DefaultOptions())
	if err != nil {
		t.Fatalf("NewStorage: %v", err)
	}
	t.Cleanup(st.EasyService.DestroyFunc)
	return st
}

// validNewEasyService returns a valid, defaulted EasyService with no status.
func validNewEasyService() *easyservice.EasyService {
	return &easyservice.EasyService{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels:    map[string]string{"app": "web"},
		},
		Spec: easyservice.EasyServiceSpec{
			Replicas:        3,
			Image:           "nginx:1.27",
			ImagePullPolicy: corev1.PullIfNotPresent,
			Env:             []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
			Ports: []easyservice.EasyServicePort{{
				Name:       "http",
				Protocol:   corev1.ProtocolTCP,
				Port:       80,
				TargetPort: intstr.FromInt32(8080),
				NodePort:   31002,
			}},
			ServiceType: corev1.ServiceTypeNodePort,
		},
	}
}

// validStatus is a status a controller could report for validNewEasyService.
func validStatus() easyservice.EasyServiceStatus {
	return easyservice.EasyServiceStatus{
		ObservedGeneration: 1,
		Replicas:           3,
		UpdatedReplicas:    3,
		ReadyReplicas:      2,
		AvailableReplicas:  2,
		Selector:           "app.easyservice.io/name=web",
	}
}

// requestContext returns the context of a request to a version of app.easyservice.io in the test
// namespace, for the main resource or a subresource.
func requestContext(version, subresource string) context.Context {
	ctx := genericapirequest.WithNamespace(genericapirequest.NewContext(), namespace)
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true,
		APIGroup:          easyservice.GroupName,
		APIVersion:        version,
		Resource:          "easyservices",
		Subresource:       subresource,
		Namespace:         namespace,
		Name:              name,
	})
}

// createEasyService creates validNewEasyService through the main resource.
func createEasyService(t *testing.T, st storage.EasyServiceStorage) *easyservice.EasyService {
	t.Helper()
	obj, err := st.EasyService.Create(requestContext("v1", ""), validNewEasyService(), rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return obj.(*easyservice.EasyService)
}

// getEasyService reads the stored EasyService.
func getEasyService(t *testing.T, st storage.EasyServiceStorage) *easyservice.EasyService {
	t.Helper()
	obj, err := st.EasyService.Get(requestContext("v1", ""), name, &metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return obj.(*easyservice.EasyService)
}

// setStatus writes a status through /status and returns the stored EasyService.
func setStatus(t *testing.T, st storage.EasyServiceStorage, status easyservice.EasyServiceStatus) *easyservice.EasyService {
	t.Helper()
	es := getEasyService(t, st)
	es.Status = status
	obj, _, err := st.Status.Update(requestContext("v1", "status"), name, rest.DefaultUpdatedObjectInfo(es), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("status Update: %v", err)
	}
	return obj.(*easyservice.EasyService)
}

func TestCreate(t *testing.T) {
	st := newStorage(t)
	test := genericregistrytest.New(t, st.EasyService.Store)
	es := validNewEasyService()
	es.ObjectMeta = metav1.ObjectMeta{}

	emptyImage := validNewEasyService()
	emptyImage.Spec.Image = ""
	negativeReplicas := validNewEasyService()
	negativeReplicas.Spec.Replicas = -1
	badNodePort := validNewEasyService()
	badNodePort.Spec.Ports[0].NodePort = 80
	noPorts := validNewEasyService()
	noPorts.Spec.Ports = nil
	badName := validNewEasyService()
	badName.Name = "Web_1"

	test.TestCreate(
		// valid
		es,
		// invalid
		emptyImage,
		negativeReplicas,
		badNodePort,
		noPorts,
		badName,
	)
}

func TestCreateResetsStatusAndGeneration(t *testing.T) {
	st := newStorage(t)
	es := validNewEasyService()
	es.Status = validStatus()
	es.Generation = 9
	obj, err := st.EasyService.Create(requestContext("v1", ""), es, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	created := obj.(*easyservice.EasyService)
	if !apiequality.Semantic.DeepEqual(created.Status, easyservice.EasyServiceStatus{}) {
		t.Errorf("status = %#v, want it cleared", created.Status)
	}
	if created.Generation != 1 {
		t.Errorf("generation = %d, want 1", created.Generation)
	}
	if stored := getEasyService(t, st); !apiequality.Semantic.DeepEqual(stored, created) {
		t.Errorf("stored %#v, want the created %#v", stored, created)
	}
}

func TestUpdate(t *testing.T) {
	st := newStorage(t)
	test := genericregistrytest.New(t, st.EasyService.Store)
	test.TestUpdate(
		// valid
		validNewEasyService(),
		// updateFunc
		func(obj runtime.Object) runtime.Object {
			object := obj.(*easyservice.EasyService)
			object.Spec.Image = "nginx:1.28"
			object.Spec.Replicas = 5
			return object
		},
		// invalid updateFuncs
		func(obj runtime.Object) runtime.Object {
			object := obj.(*easyservice.EasyService)
			object.Spec.Image = ""
			return object
		},
		func(obj runtime.Object) runtime.Object {
			object := obj.(*easyservice.EasyService)
			object.Spec.Ports[0].NodePort = 40000
			return object
		},
		func(obj runtime.Object) runtime.Object {
			object := obj.(*easyservice.EasyService)
			object.Spec.ServiceType = corev1.ServiceTypeExternalName
			return object
		},
	)
}

func TestUpdateGenerationAndStatus(t *testing.T) {
	st := newStorage(t)
	createEasyService(t, st)
	setStatus(t, st, validStatus())
	ctx := requestContext("v1", "")

	update := func(mutate func(*easyservice.EasyService)) *easyservice.EasyService {
		t.Helper()
		es := getEasyService(t, st)
		mutate(es)
		obj, _, err := st.EasyService.Update(ctx, name, rest.DefaultUpdatedObjectInfo(es), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		return obj.(*easyservice.EasyService)
	}

	// Metadata changes do not bump the generation; a status in the request is ignored.
	got := update(func(es *easyservice.EasyService) {
		es.Labels["tier"] = "front"
		es.Annotations = map[string]string{"note": "x"}
		es.Status.ReadyReplicas = 0
		es.Status.Selector = "other=selector"
	})
	if got.Generation != 1 {
		t.Errorf("after a metadata change: generation = %d, want 1", got.Generation)
	}
	if got.Labels["tier"] != "front" || got.Annotations["note"] != "x" {
		t.Errorf("metadata change lost: labels %v annotations %v", got.Labels, got.Annotations)
	}
	if !apiequality.Semantic.DeepEqual(got.Status, validStatus()) {
		t.Errorf("status = %#v, want the stored status %#v", got.Status, validStatus())
	}

	// A spec change bumps the generation.
	got = update(func(es *easyservice.EasyService) { es.Spec.Image = "nginx:1.28" })
	if got.Generation != 2 {
		t.Errorf("after a spec change: generation = %d, want 2", got.Generation)
	}
	if got.Spec.Image != "nginx:1.28" {
		t.Errorf("image = %q, want %q", got.Spec.Image, "nginx:1.28")
	}
	if !apiequality.Semantic.DeepEqual(got.Status, validStatus()) {
		t.Errorf("status = %#v, want the stored status %#v", got.Status, validStatus())
	}
}

func TestDelete(t *testing.T) {
	st := newStorage(t)
	test := genericregistrytest.New(t, st.EasyService.Store)
	test.TestDelete(validNewEasyService())
}

func TestGet(t *testing.T) {
	st := newStorage(t)
	test := genericregistrytest.New(t, st.EasyService.Store)
	test.TestGet(validNewEasyService())
}

func TestList(t *testing.T) {
	st := newStorage(t)
	test := genericregistrytest.New(t, st.EasyService.Store)
	test.TestList(validNewEasyService())
}

func TestWatch(t *testing.T) {
	st := newStorage(t)
	test := genericregistrytest.New(t, st.EasyService.Store)
	test.TestWatch(
		validNewEasyService(),
		// matching labels
		[]labels.Set{
			{},
			{"app": "web"},
		},
		// not matching labels
		[]labels.Set{
			{"app": "db"},
			{"foo": "bar"},
		},
		// matching fields
		[]fields.Set{
			{"metadata.name": name},
			{"metadata.namespace": namespace},
			{"spec.image": "nginx:1.27"},
			{"spec.serviceType": "NodePort"},
			{"metadata.name": name, "spec.image": "nginx:1.27", "spec.serviceType": "NodePort"},
		},
		// not matching fields
		[]fields.Set{
			{"metadata.name": "bar"},
			{"name": name},
			{"spec.image": "nginx"},
			{"spec.image": "nginx:latest"},
			{"spec.serviceType": "ClusterIP"},
			{"spec.serviceType": "LoadBalancer"},
			{"metadata.name": name, "spec.serviceType": "ClusterIP"},
		},
	)
}

func TestShortNamesAndCategories(t *testing.T) {
	st := newStorage(t)
	var provider rest.ShortNamesProvider = st.EasyService
	if got, want := provider.ShortNames(), []string{"esvc"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ShortNames = %v, want %v", got, want)
	}
	var categories rest.CategoriesProvider = st.EasyService
	if got, want := categories.Categories(), []string{"all"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Categories = %v, want %v", got, want)
	}
}

func TestStoreSettings(t *testing.T) {
	st := newStorage(t)
	store := st.EasyService.Store
	if got, want := store.DefaultQualifiedResource, easyservice.Resource("easyservices"); got != want {
		t.Errorf("DefaultQualifiedResource = %v, want %v", got, want)
	}
	if got, want := store.SingularQualifiedResource, easyservice.Resource("easyservice"); got != want {
		t.Errorf("SingularQualifiedResource = %v, want %v", got, want)
	}
	if _, ok := st.EasyService.New().(*easyservice.EasyService); !ok {
		t.Errorf("New returns %T", st.EasyService.New())
	}
	if _, ok := st.EasyService.NewList().(*easyservice.EasyServiceList); !ok {
		t.Errorf("NewList returns %T", st.EasyService.NewList())
	}
	if !st.EasyService.NamespaceScoped() {
		t.Error("easyservices must be namespace scoped")
	}
	if _, ok := st.Status.New().(*easyservice.EasyService); !ok {
		t.Errorf("status New returns %T", st.Status.New())
	}
	if _, ok := st.Scale.New().(*autoscalingv1.Scale); !ok {
		t.Errorf("scale New returns %T", st.Scale.New())
	}
}

func TestResetFields(t *testing.T) {
	st := newStorage(t)
	versions := []fieldpath.APIVersion{
		fieldpath.APIVersion(v1.SchemeGroupVersion.String()),
		fieldpath.APIVersion(v1beta1.SchemeGroupVersion.String()),
	}
	mainWant := fieldpath.NewSet(fieldpath.MakePathOrDie("status"))
	statusWant := fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata"))
	mainFields := st.EasyService.GetResetFields()
	statusFields := st.Status.GetResetFields()
	for _, v := range versions {
		if set := mainFields[v]; set == nil || !set.Equals(mainWant) {
			t.Errorf("main reset fields of %s = %v, want %v", v, set, mainWant)
		}
		if set := statusFields[v]; set == nil || !set.Equals(statusWant) {
			t.Errorf("status reset fields of %s = %v, want %v", v, set, statusWant)
		}
	}
}

func TestStatusUpdate(t *testing.T) {
	st := newStorage(t)
	created := createEasyService(t, st)

	update := created.DeepCopy()
	update.Spec.Replicas = 100
	update.Spec.Image = "nginx:2"
	update.Labels = map[string]string{"app": "other"}
	update.Annotations = map[string]string{"note": "x"}
	update.Status = validStatus()

	obj, createdOnUpdate, err := st.Status.Update(requestContext("v1", "status"), name, rest.DefaultUpdatedObjectInfo(update), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("status Update: %v", err)
	}
	if createdOnUpdate {
		t.Error("a status update must not create")
	}
	if !apiequality.Semantic.DeepEqual(obj.(*easyservice.EasyService).Status, validStatus()) {
		t.Errorf("returned status = %#v, want %#v", obj.(*easyservice.EasyService).Status, validStatus())
	}

	got := getEasyService(t, st)
	if !apiequality.Semantic.DeepEqual(got.Spec, created.Spec) {
		t.Errorf("spec = %#v, want the unchanged %#v", got.Spec, created.Spec)
	}
	if !reflect.DeepEqual(got.Labels, created.Labels) {
		t.Errorf("labels = %v, want the unchanged %v", got.Labels, created.Labels)
	}
	if len(got.Annotations) != 0 {
		t.Errorf("annotations = %v, want none", got.Annotations)
	}
	if !apiequality.Semantic.DeepEqual(got.Status, validStatus()) {
		t.Errorf("status = %#v, want %#v", got.Status, validStatus())
	}
	if got.Generation != created.Generation {
		t.Errorf("generation = %d, want the unchanged %d", got.Generation, created.Generation)
	}
	if got.ResourceVersion == created.ResourceVersion {
		t.Error("the resourceVersion did not change")
	}

	if _, err := st.Status.Get(requestContext("v1", "status"), name, &metav1.GetOptions{}); err != nil {
		t.Errorf("status Get: %v", err)
	}
}

func TestStatusUpdateInvalid(t *testing.T) {
	st := newStorage(t)
	created := createEasyService(t, st)

	update := created.DeepCopy()
	update.Status = validStatus()
	update.Status.ReadyReplicas = 4 // more than status.replicas
	_, _, err := st.Status.Update(requestContext("v1", "status"), name, rest.DefaultUpdatedObjectInfo(update), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("expected an Invalid error, got %v", err)
	}
}

func TestStatusUpdateNotFound(t *testing.T) {
	st := newStorage(t)
	update := validNewEasyService()
	update.Status = validStatus()
	// forceAllowCreate is ignored: /status never creates.
	_, _, err := st.Status.Update(requestContext("v1", "status"), name, rest.DefaultUpdatedObjectInfo(update), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, true, &metav1.UpdateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("expected a NotFound error, got %v", err)
	}
	if _, err := st.EasyService.Get(requestContext("v1", ""), name, &metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the EasyService was created by a status update: %v", err)
	}
}

func TestScaleGet(t *testing.T) {
	st := newStorage(t)
	createEasyService(t, st)
	es := setStatus(t, st, validStatus())

	obj, err := st.Scale.Get(requestContext("v1", "scale"), name, &metav1.GetOptions{})
	if err != nil {
		t.Fatalf("scale Get: %v", err)
	}
	got, ok := obj.(*autoscalingv1.Scale)
	if !ok {
		t.Fatalf("scale Get returned %T, want *autoscalingv1.Scale", obj)
	}
	want := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			Namespace:         namespace,
			UID:               es.UID,
			ResourceVersion:   es.ResourceVersion,
			CreationTimestamp: es.CreationTimestamp,
		},
		Spec: autoscalingv1.ScaleSpec{Replicas: 3},
		Status: autoscalingv1.ScaleStatus{
			Replicas: 3,
			Selector: "app.easyservice.io/name=web",
		},
	}
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("scale = %#v, want %#v", got, want)
	}

	gvk := st.Scale.GroupVersionKind(v1beta1.SchemeGroupVersion)
	if gvk != autoscalingv1.SchemeGroupVersion.WithKind("Scale") {
		t.Errorf("GroupVersionKind = %v, want autoscaling/v1 Scale", gvk)
	}

	table, err := st.Scale.ConvertToTable(requestContext("v1", "scale"), got, nil)
	if err != nil {
		t.Fatalf("scale ConvertToTable: %v", err)
	}
	if len(table.Rows) != 1 {
		t.Errorf("scale table has %d rows, want 1", len(table.Rows))
	}
}

func TestScaleGetNotFound(t *testing.T) {
	st := newStorage(t)
	_, err := st.Scale.Get(requestContext("v1", "scale"), name, &metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("expected a NotFound error, got %v", err)
	}
}

// updateScale sets the replicas of the Scale, optionally with a resourceVersion precondition.
func updateScale(ctx context.Context, st storage.EasyServiceStorage, replicas int32, resourceVersion string) (runtime.Object, error) {
	scale := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, ResourceVersion: resourceVersion},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
	}
	obj, _, err := st.Scale.Update(ctx, name, rest.DefaultUpdatedObjectInfo(scale), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	return obj, err
}

func TestScaleUpdate(t *testing.T) {
	for _, version := range []string{"v1", "v1beta1"} {
		t.Run(version, func(t *testing.T) {
			st := newStorage(t)
			created := createEasyService(t, st)
			setStatus(t, st, validStatus())
			ctx := requestContext(version, "scale")

			obj, err := updateScale(ctx, st, 12, "")
			if err != nil {
				t.Fatalf("scale Update: %v", err)
			}
			scale, ok := obj.(*autoscalingv1.Scale)
			if !ok {
				t.Fatalf("scale Update returned %T, want *autoscalingv1.Scale", obj)
			}
			if scale.Spec.Replicas != 12 {
				t.Errorf("returned spec.replicas = %d, want 12", scale.Spec.Replicas)
			}
			if scale.Status.Selector != validStatus().Selector || scale.Status.Replicas != validStatus().Replicas {
				t.Errorf("returned status = %#v, want the EasyService's", scale.Status)
			}

			es := getEasyService(t, st)
			if es.Spec.Replicas != 12 {
				t.Errorf("spec.replicas = %d, want 12", es.Spec.Replicas)
			}
			if es.Generation != created.Generation+1 {
				t.Errorf("generation = %d, want %d", es.Generation, created.Generation+1)
			}
			if scale.ResourceVersion != es.ResourceVersion {
				t.Errorf("returned resourceVersion %q, stored %q", scale.ResourceVersion, es.ResourceVersion)
			}
			wantSpec := validNewEasyService().Spec
			wantSpec.Replicas = 12
			if !apiequality.Semantic.DeepEqual(es.Spec, wantSpec) {
				t.Errorf("spec = %#v, want only replicas changed: %#v", es.Spec, wantSpec)
			}
			if !apiequality.Semantic.DeepEqual(es.Status, validStatus()) {
				t.Errorf("status = %#v, want the unchanged %#v", es.Status, validStatus())
			}

			got, err := st.Scale.Get(ctx, name, &metav1.GetOptions{})
			if err != nil {
				t.Fatalf("scale Get: %v", err)
			}
			if got.(*autoscalingv1.Scale).Spec.Replicas != 12 {
				t.Errorf("scale Get: spec.replicas = %d, want 12", got.(*autoscalingv1.Scale).Spec.Replicas)
			}

			// The same replicas again is no spec change.
			if _, err := updateScale(ctx, st, 12, es.ResourceVersion); err != nil {
				t.Fatalf("scale Update with the current resourceVersion: %v", err)
			}
			if again := getEasyService(t, st); again.Generation != es.Generation {
				t.Errorf("generation = %d after a no-op scale, want %d", again.Generation, es.Generation)
			}
		})
	}
}

func TestScaleUpdateToZero(t *testing.T) {
	st := newStorage(t)
	createEasyService(t, st)
	if _, err := updateScale(requestContext("v1", "scale"), st, 0, ""); err != nil {
		t.Fatalf("scale Update: %v", err)
	}
	if es := getEasyService(t, st); es.Spec.Replicas != 0 {
		t.Errorf("spec.replicas = %d, want 0", es.Spec.Replicas)
	}
}

func TestScaleUpdateNegative(t *testing.T) {
	st := newStorage(t)
	created := createEasyService(t, st)
	_, err := updateScale(requestContext("v1", "scale"), st, -1, "")
	if !apierrors.IsInvalid(err) {
		t.Fatalf("expected an Invalid error, got %v", err)
	}
	if es := getEasyService(t, st); es.Spec.Replicas != created.Spec.Replicas || es.ResourceVersion != created.ResourceVersion {
		t.Errorf("a rejected scale changed the EasyService: replicas %d, resourceVersion %s", es.Spec.Replicas, es.ResourceVersion)
	}
}

func TestScaleUpdateNotFound(t *testing.T) {
	st := newStorage(t)
	_, err := updateScale(requestContext("v1", "scale"), st, 2, "")
	if !apierrors.IsNotFound(err) {
		t.Errorf("expected a NotFound error, got %v", err)
	}
	if _, err := st.EasyService.Get(requestContext("v1", ""), name, &metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the EasyService was created by a scale update: %v", err)
	}
}

func TestScaleUpdateConflict(t *testing.T) {
	st := newStorage(t)
	created := createEasyService(t, st)
	ctx := requestContext("v1", "scale")
	if _, err := updateScale(ctx, st, 5, created.ResourceVersion); err != nil {
		t.Fatalf("scale Update with the current resourceVersion: %v", err)
	}
	// created.ResourceVersion is stale now.
	_, err := updateScale(ctx, st, 7, created.ResourceVersion)
	if !apierrors.IsConflict(err) {
		t.Fatalf("expected a Conflict error, got %v", err)
	}
	if es := getEasyService(t, st); es.Spec.Replicas != 5 {
		t.Errorf("spec.replicas = %d, want 5", es.Spec.Replicas)
	}
}

func TestScaleUpdateWrongUID(t *testing.T) {
	st := newStorage(t)
	createEasyService(t, st)
	patch := func(_ context.Context, _, current runtime.Object) (runtime.Object, error) {
		scale := current.(*autoscalingv1.Scale)
		scale.UID = "not-the-uid"
		scale.Spec.Replicas = 4
		return scale, nil
	}
	_, _, err := st.Scale.Update(requestContext("v1", "scale"), name, rest.DefaultUpdatedObjectInfo(nil, patch), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("expected a Conflict error, got %v", err)
	}
}

func TestScaleUpdateUnknownVersion(t *testing.T) {
	st := newStorage(t)
	createEasyService(t, st)
	_, err := updateScale(requestContext("v2", "scale"), st, 4, "")
	if !apierrors.IsBadRequest(err) {
		t.Errorf("expected a BadRequest error, got %v", err)
	}
}

func TestScaleUpdateAdmission(t *testing.T) {
	st := newStorage(t)
	createEasyService(t, st)
	var seen []*autoscalingv1.Scale
	validate := func(_ context.Context, obj, old runtime.Object) error {
		newScale, ok := obj.(*autoscalingv1.Scale)
		if !ok {
			t.Errorf("update validation got %T, want a Scale", obj)
			return nil
		}
		oldScale, ok := old.(*autoscalingv1.Scale)
		if !ok {
			t.Errorf("update validation got old %T, want a Scale", old)
			return nil
		}
		seen = append(seen, oldScale, newScale)
		return nil
	}
	scale := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: 6},
	}
	if _, _, err := st.Scale.Update(requestContext("v1", "scale"), name, rest.DefaultUpdatedObjectInfo(scale), rest.ValidateAllObjectFunc, validate, false, &metav1.UpdateOptions{}); err != nil {
		t.Fatalf("scale Update: %v", err)
	}
	if len(seen) != 2 {
		t.Fatalf("update validation called with %d scales, want 2", len(seen))
	}
	if seen[0].Spec.Replicas != 3 || seen[1].Spec.Replicas != 6 {
		t.Errorf("update validation saw replicas %d -> %d, want 3 -> 6", seen[0].Spec.Replicas, seen[1].Spec.Replicas)
	}
}
