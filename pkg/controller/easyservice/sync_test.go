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

package easyservice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/metadata/metadatainformer"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	esfake "github.com/easyservice/easyservice/pkg/generated/clientset/versioned/fake"
)

var webKey = cache.ObjectName{Namespace: "ns", Name: "web"}

// fixture is a controller over fake clientsets whose informers are not started: the tests place
// objects in the informers' caches (and in the fake APIs) themselves, then run one sync.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	kube     *k8sfake.Clientset
	es       *esfake.Clientset
	esMeta   *metadatafake.FakeMetadataClient
	recorder *record.FakeRecorder

	controller    *Controller
	esStore       cache.Indexer
	esFull        cache.Indexer
	deployStore   cache.Indexer
	serviceStore  cache.Indexer
	kubeInformers informers.SharedInformerFactory
	esInformers   metadatainformer.SharedInformerFactory
}

func newFixture(t *testing.T) *fixture {
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{t: t, ctx: ctx, kube: k8sfake.NewClientset(), es: esfake.NewClientset(),
		esMeta: metadatafake.NewSimpleMetadataClient(metadataScheme()), recorder: record.NewFakeRecorder(100)}
	f.kubeInformers = informers.NewSharedInformerFactoryWithOptions(f.kube, 0, informers.WithTransform(TrimChild))
	f.esInformers = metadatainformer.NewSharedInformerFactoryWithOptions(f.esMeta, 0, metadatainformer.WithTransform(TrimEasyServiceMetadata))
	esInformer := f.esInformers.ForResource(v1.SchemeGroupVersion.WithResource("easyservices"))
	deployInformer := f.kubeInformers.Apps().V1().Deployments()
	serviceInformer := f.kubeInformers.Core().V1().Services()
	// The informer has the EasyServices' metadata; whole ones come from esFull, as from the
	// server's watch cache.
	f.esFull = cache.NewIndexer(cache.MetaNamespaceKeyFunc, nil)
	getEasyService := func(_ context.Context, namespace, name string) (*v1.EasyService, error) {
		obj, exists, err := f.esFull.GetByKey(namespace + "/" + name)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, apierrors.NewNotFound(v1.Resource("easyservices"), name)
		}
		return obj.(*v1.EasyService), nil
	}
	c, err := NewController(ctx, f.kube, f.kube, f.es, esInformer, getEasyService, deployInformer, serviceInformer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.recorder = f.recorder
	c.clock = clocktesting.NewFakeClock(now.Time)
	f.controller = c
	f.esStore = esInformer.Informer().GetIndexer()
	f.deployStore = deployInformer.Informer().GetIndexer()
	f.serviceStore = serviceInformer.Informer().GetIndexer()
	return f
}

// add puts objects in the fake APIs and in the informers' caches.
func (f *fixture) add(objects ...runtime.Object) {
	f.t.Helper()
	f.addToAPI(objects...)
	f.addToCache(objects...)
}

// addToAPI puts objects in the fake APIs only.
func (f *fixture) addToAPI(objects ...runtime.Object) {
	f.t.Helper()
	for _, obj := range objects {
		if es, ok := obj.(*v1.EasyService); ok {
			f.addEasyServiceToAPI(es)
			continue
		}
		if err := f.kube.Tracker().Add(obj); err != nil {
			f.t.Fatal(err)
		}
	}
}

// addEasyServiceToAPI puts es in the fake API and its metadata in the fake metadata API.
func (f *fixture) addEasyServiceToAPI(es *v1.EasyService) {
	f.t.Helper()
	if err := f.es.Tracker().Add(es); err != nil {
		f.t.Fatal(err)
	}
	if err := f.esMeta.Tracker().Add(partialMetadata(es)); err != nil {
		f.t.Fatal(err)
	}
}

// metadataScheme is the scheme of the fake metadata API: EasyServices as metadata.
func metadataScheme() *runtime.Scheme {
	scheme := metadatafake.NewTestScheme()
	scheme.AddKnownTypeWithName(v1.SchemeGroupVersion.WithKind(kind), &metav1.PartialObjectMetadata{})
	scheme.AddKnownTypeWithName(v1.SchemeGroupVersion.WithKind(kind+"List"), &metav1.PartialObjectMetadataList{})
	return scheme
}

// partialMetadata is es as the metadata API gives it.
func partialMetadata(es *v1.EasyService) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: kind},
		ObjectMeta: *es.ObjectMeta.DeepCopy(),
	}
}

// addToCache puts objects in the informers' caches as the informers would: trimmed.
func (f *fixture) addToCache(objects ...runtime.Object) {
	f.t.Helper()
	for _, obj := range objects {
		var store cache.Indexer
		transform := TrimChild
		cached := obj.DeepCopyObject()
		switch o := obj.(type) {
		case *v1.EasyService:
			store, transform, cached = f.esStore, TrimEasyServiceMetadata, partialMetadata(o)
		case *appsv1.Deployment:
			store = f.deployStore
		case *corev1.Service:
			store = f.serviceStore
		}
		trimmed, err := transform(cached)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := store.Update(trimmed); err != nil {
			f.t.Fatal(err)
		}
		if store == f.esStore {
			if err := f.esFull.Update(obj.DeepCopyObject()); err != nil {
				f.t.Fatal(err)
			}
		}
		if m := f.mutations(obj); m != nil {
			m.OnAddOrUpdate(trimmed.(runtime.Object))
		}
	}
}

// deleteFromCache removes a child from its informer's cache, as the informer would.
func (f *fixture) deleteFromCache(obj runtime.Object) {
	f.t.Helper()
	store := f.deployStore
	if _, ok := obj.(*corev1.Service); ok {
		store = f.serviceStore
	}
	if err := store.Delete(obj); err != nil {
		f.t.Fatal(err)
	}
	f.mutations(obj).OnDelete(obj)
}

// mutations returns the controller's cache of its own applies of obj's kind, nil for an EasyService.
func (f *fixture) mutations(obj runtime.Object) cache.MutationCache {
	switch obj.(type) {
	case *appsv1.Deployment:
		return f.controller.deployments
	case *corev1.Service:
		return f.controller.services
	}
	return nil
}

// converge runs a sync of web, then loads what it wrote into the caches, so that the next sync sees
// the world as the informers would after the watch events.
func (f *fixture) converge() {
	f.t.Helper()
	if err := f.controller.sync(f.ctx, webKey); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	f.addToCache(f.deployment(), f.service(), f.easyService())
	f.kube.ClearActions()
	f.es.ClearActions()
	f.events()
}

// deployment, service and easyService read web from the fake APIs' trackers, without an action.
func (f *fixture) deployment() *appsv1.Deployment {
	f.t.Helper()
	return f.get(f.kube.Tracker(), appsv1.SchemeGroupVersion.WithResource("deployments")).(*appsv1.Deployment)
}

func (f *fixture) service() *corev1.Service {
	f.t.Helper()
	return f.get(f.kube.Tracker(), corev1.SchemeGroupVersion.WithResource("services")).(*corev1.Service)
}

func (f *fixture) easyService() *v1.EasyService {
	f.t.Helper()
	return f.get(f.es.Tracker(), v1.SchemeGroupVersion.WithResource("easyservices")).(*v1.EasyService)
}

func (f *fixture) get(tracker core.ObjectTracker, gvr schema.GroupVersionResource) runtime.Object {
	f.t.Helper()
	obj, err := tracker.Get(gvr, "ns", "web")
	if err != nil {
		f.t.Fatal(err)
	}
	return obj
}

// actions describes the requests made since the last ClearActions, as "verb resource[/subresource]",
// with the field manager and force of an apply.
func (f *fixture) actions() []string {
	var out []string
	for _, a := range append(f.kube.Actions(), f.es.Actions()...) {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		switch a := a.(type) {
		case core.PatchActionImpl:
			opts := a.GetPatchOptions()
			s += fmt.Sprintf(" %s manager=%s force=%v", a.GetPatchType(), opts.FieldManager, ptr.Deref(opts.Force, false))
		case core.UpdateAction:
			if u, ok := a.(core.UpdateActionImpl); ok {
				s += " manager=" + u.UpdateOptions.FieldManager
			}
		}
		out = append(out, s)
	}
	f.kube.ClearActions()
	f.es.ClearActions()
	return out
}

// events returns the events recorded since the last call.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) expect(wantActions, wantEvents []string) {
	f.t.Helper()
	if diff := cmp.Diff(wantActions, f.actions()); diff != "" {
		f.t.Errorf("actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEvents, f.events()); diff != "" {
		f.t.Errorf("events (-want +got):\n%s", diff)
	}
}

// ready returns the Ready condition the EasyService has in the fake API.
func (f *fixture) ready() metav1.Condition {
	f.t.Helper()
	c := meta.FindStatusCondition(f.easyService().Status.Conditions, v1.EasyServiceReady)
	if c == nil {
		f.t.Fatal("the EasyService has no Ready condition")
	}
	return *c
}

const (
	applyDeployment = "patch deployments application/apply-patch+yaml manager=easyservice-controller force=true"
	applyService    = "patch services application/apply-patch+yaml manager=easyservice-controller force=true"
	updateStatus    = "update easyservices/status manager=easyservice-controller"
)

func TestSyncCreatesChildren(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())

	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect(
		[]string{applyDeployment, applyService, updateStatus},
		[]string{"Normal DeploymentCreated Created Deployment web", "Normal ServiceCreated Created Service web"},
	)
	d := f.deployment()
	if !metav1.IsControlledBy(d, newEasyService()) || *d.Spec.Replicas != 2 || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("Deployment = %+v", d)
	}
	if s := f.service(); !metav1.IsControlledBy(s, newEasyService()) || s.Spec.Type != corev1.ServiceTypeNodePort {
		t.Errorf("Service = %+v", s)
	}
	status := f.easyService().Status
	if status.ObservedGeneration != 1 || status.Selector != webSelector {
		t.Errorf("status = %+v", status)
	}
	if r := f.ready(); r.Status != metav1.ConditionFalse || r.Reason != v1.ReasonDeploymentNotReady {
		t.Errorf("Ready = %+v, want False/%s", r, v1.ReasonDeploymentNotReady)
	}
}

func TestSyncNoOp(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	f.converge()

	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect(nil, nil)
}

func TestSyncReady(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	f.converge()

	// The Deployment controller rolled it out.
	d := f.deployment()
	d.Generation, d.ResourceVersion = 1, "2"
	d.Status = newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed).Status
	d.Status.ObservedGeneration = 1
	f.addToCache(d)

	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect([]string{updateStatus}, nil)
	status := f.easyService().Status
	if status.ReadyReplicas != 2 || status.AvailableReplicas != 2 || status.UpdatedReplicas != 2 || status.Replicas != 2 {
		t.Errorf("status = %+v", status)
	}
	if r := f.ready(); r.Status != metav1.ConditionTrue || r.Reason != v1.ReasonAllReplicasReady {
		t.Errorf("Ready = %+v, want True", r)
	}
}

func TestSyncRestoresEditedDeployment(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	f.converge()

	// kubectl set image: another manager takes the image over.
	d := f.deployment()
	d.Spec.Template.Spec.Containers[0].Image = "evil:1"
	d, err := f.kube.AppsV1().Deployments("ns").Update(f.ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-set"})
	if err != nil {
		t.Fatal(err)
	}
	d.ResourceVersion = "2"
	f.addToCache(d)
	f.kube.ClearActions()

	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect([]string{applyDeployment}, []string{"Normal DeploymentUpdated Updated Deployment web"})
	if image := f.deployment().Spec.Template.Spec.Containers[0].Image; image != "nginx:1.27" {
		t.Errorf("image = %q, want nginx:1.27 restored", image)
	}
}

func TestSyncKeepsOthersFields(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	f.converge()

	// Someone adds a label and an annotation: not ours, nothing to do.
	d := f.deployment()
	d.Labels["team"] = "a"
	d.Annotations = map[string]string{"note": "b"}
	d, err := f.kube.AppsV1().Deployments("ns").Update(f.ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-label"})
	if err != nil {
		t.Fatal(err)
	}
	f.addToCache(d)
	f.kube.ClearActions()

	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect(nil, nil)
}

func TestSyncSpecChange(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	f.converge()

	es := f.easyService()
	es.Spec.Replicas = ptr.To[int32](5)
	es.Spec.Ports[0].NodePort = 31080
	es.Generation = 2
	f.addToCache(es)
	d, s := f.deployment(), f.service()
	d.ResourceVersion, s.ResourceVersion = "2", "2"
	f.addToCache(d, s)
	f.kube.ClearActions()

	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect(
		[]string{applyDeployment, applyService, updateStatus},
		[]string{"Normal DeploymentUpdated Updated Deployment web", "Normal ServiceUpdated Updated Service web"},
	)
	if r := f.deployment().Spec.Replicas; *r != 5 {
		t.Errorf("replicas = %d, want 5", *r)
	}
	if p := f.service().Spec.Ports[0].NodePort; p != 31080 {
		t.Errorf("nodePort = %d, want 31080", p)
	}
	if g := f.easyService().Status.ObservedGeneration; g != 2 {
		t.Errorf("observedGeneration = %d, want 2", g)
	}
}

func TestSyncCorrectsStatus(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	f.converge()

	es := f.easyService()
	want := es.Status
	es.Status.ReadyReplicas = 7
	es.Status.Conditions = nil
	if err := f.es.Tracker().Update(v1.SchemeGroupVersion.WithResource("easyservices"), es, "ns"); err != nil {
		t.Fatal(err)
	}
	f.addToCache(es)
	f.es.ClearActions()

	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect([]string{updateStatus}, nil)
	got := f.easyService().Status
	// Conditions start over from now; the counters and the reasons are back.
	if got.ReadyReplicas != want.ReadyReplicas || len(got.Conditions) != 3 || got.Conditions[2].Reason != want.Conditions[2].Reason {
		t.Errorf("status = %+v, want %+v", got, want)
	}
}

func TestSyncForeignChild(t *testing.T) {
	orphan := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: "3",
		Labels: map[string]string{LabelManagedBy: ManagedBy}}}
	otherIncarnation := orphan.DeepCopy()
	otherIncarnation.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(
		&v1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "old-uid"}}, v1.SchemeGroupVersion.WithKind(kind))}
	unlabelled := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: "3"}}

	const message = "Deployment ns/web exists and is not controlled by this EasyService; delete it or rename the EasyService"
	for _, tc := range []struct {
		name       string
		deployment *appsv1.Deployment
	}{
		{"an orphan with our label", orphan},
		{"the child of an EasyService of the same name deleted before", otherIncarnation},
		{"an object without our label", unlabelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.add(newEasyService())
			f.add(tc.deployment)

			err := f.controller.sync(f.ctx, webKey)
			if !onlyResourceExists(err) {
				t.Errorf("sync = %v, want errResourceExists alone, so that it is retried quietly", err)
			}
			f.expect([]string{applyService, updateStatus}, []string{
				"Normal ServiceCreated Created Service web",
				"Warning ResourceExists " + message,
			})
			if r := f.ready(); r.Status != metav1.ConditionFalse || r.Reason != v1.ReasonResourceExists || r.Message != message {
				t.Errorf("Ready = %+v, want False/ResourceExists", r)
			}
			if d := f.deployment(); len(d.ManagedFields) != 0 || d.Spec.Template.Spec.Containers != nil {
				t.Errorf("the foreign Deployment was changed: %+v", d)
			}

			// Retried: the problem is already reported, nothing is written, no new event.
			f.addToCache(f.easyService(), f.service())
			f.kube.ClearActions()
			if err := f.controller.sync(f.ctx, webKey); !errors.Is(err, errResourceExists) {
				t.Errorf("second sync = %v, want errResourceExists", err)
			}
			f.expect(nil, nil)

			// Once it is gone, the EasyService converges.
			if err := f.kube.AppsV1().Deployments("ns").Delete(f.ctx, "web", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			f.deleteFromCache(tc.deployment)
			f.kube.ClearActions()
			if err := f.controller.sync(f.ctx, webKey); err != nil {
				t.Fatal(err)
			}
			f.expect([]string{applyDeployment, updateStatus}, []string{"Normal DeploymentCreated Created Deployment web"})
		})
	}
}

func TestSyncRejectedChild(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService(func(es *v1.EasyService) { es.Spec.Ports[0].NodePort = 31080 }))
	refused := apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web", field.ErrorList{
		field.Invalid(field.NewPath("spec", "ports").Index(0).Child("nodePort"), 31080, "provided port is already allocated"),
	})
	f.kube.PrependReactor("patch", "services", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, refused
	})

	err := f.controller.sync(f.ctx, webKey)
	if !apierrors.IsInvalid(err) {
		t.Errorf("sync = %v, want the Invalid error, to retry with backoff", err)
	}
	const message = `Applying Service ns/web failed: Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 31080: provided port is already allocated`
	f.expect(
		[]string{applyDeployment, applyService, updateStatus},
		[]string{"Normal DeploymentCreated Created Deployment web", "Warning ServiceFailed " + message},
	)
	if r := f.ready(); r.Status != metav1.ConditionFalse || r.Reason != v1.ReasonServiceFailed || r.Message != message {
		t.Errorf("Ready = %+v, want False/%s with %q", r, v1.ReasonServiceFailed, message)
	}

	// Retried while the port is taken: no new event, no status write.
	f.addToCache(f.deployment(), f.easyService())
	if err := f.controller.sync(f.ctx, webKey); !apierrors.IsInvalid(err) {
		t.Errorf("second sync = %v, want the Invalid error", err)
	}
	f.expect([]string{applyService}, nil)

	// The port is free again.
	f.kube.ReactionChain = f.kube.ReactionChain[1:]
	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect([]string{applyService, updateStatus}, []string{"Normal ServiceCreated Created Service web"})
	if r := f.ready(); r.Reason != v1.ReasonDeploymentNotReady {
		t.Errorf("Ready = %+v, want reason %s", r, v1.ReasonDeploymentNotReady)
	}
}

func TestSyncTransientErrorKeepsStatus(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	f.converge()
	es := f.easyService()
	es.Spec.Image = "nginx:1.28"
	es.Generation = 2
	f.addToCache(es)
	f.kube.PrependReactor("patch", "deployments", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServerTimeout(schema.GroupResource{Group: "apps", Resource: "deployments"}, "patch", 1)
	})

	if err := f.controller.sync(f.ctx, webKey); !apierrors.IsServerTimeout(err) {
		t.Errorf("sync = %v, want the timeout", err)
	}
	// The status is left alone rather than report a Deployment the sync knows nothing about.
	f.expect([]string{applyDeployment}, nil)
}

func TestSyncNamespaceTerminating(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	f.converge()
	// The namespace controller deleted the Service before the EasyService.
	f.deleteFromCache(f.service())
	if err := f.kube.CoreV1().Services("ns").Delete(f.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	terminating := apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "web",
		errors.New("unable to create new content in namespace ns because it is being terminated"))
	terminating.ErrStatus.Details.Causes = append(terminating.ErrStatus.Details.Causes,
		metav1.StatusCause{Type: corev1.NamespaceTerminatingCause, Field: "metadata.namespace"})
	f.kube.PrependReactor("patch", "services", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, terminating
	})
	f.kube.ClearActions()

	// Nothing to report, nothing to retry: the EasyService goes next.
	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Errorf("sync = %v, want nil", err)
	}
	f.expect([]string{applyService}, nil)
}

func TestSyncNothingToDo(t *testing.T) {
	deleting := newEasyService(func(es *v1.EasyService) {
		es.DeletionTimestamp = &now
		es.Finalizers = []string{metav1.FinalizerDeleteDependents}
	})
	for name, objects := range map[string][]runtime.Object{
		"the EasyService is gone":                                   nil,
		"the EasyService is being deleted: never recreate children": {deleting},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.add(objects...)
			if err := f.controller.sync(f.ctx, webKey); err != nil {
				t.Fatal(err)
			}
			f.expect(nil, nil)
		})
	}
}

func TestChildEventsEnqueueTheOwner(t *testing.T) {
	other := newEasyService(func(es *v1.EasyService) { es.Name, es.UID = "other", "uid-other" })
	controlled := func(name string, owner *v1.EasyService) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: "1",
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, v1.SchemeGroupVersion.WithKind(kind))}}}
	}
	orphan := func(name string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: "1"}}
	}
	rs := orphan("web")
	rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: types.UID("x"), Controller: ptr.To(true)}}

	tests := []struct {
		name  string
		event func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment])
		want  []cache.ObjectName
	}{
		{"add of a child", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) {
			h.AddFunc(controlled("web", newEasyService()))
		}, []cache.ObjectName{webKey}},
		{"the controller reference wins over the name", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) {
			h.AddFunc(controlled("web", other))
		}, []cache.ObjectName{{Namespace: "ns", Name: "other"}}},
		{"an orphan maps by name", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) { h.AddFunc(orphan("web")) }, []cache.ObjectName{webKey}},
		{"someone else's child maps by name", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) { h.AddFunc(rs) }, []cache.ObjectName{webKey}},
		{"no EasyService of that name", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) { h.AddFunc(orphan("nobody")) }, nil},
		{"update", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) {
			newer := controlled("web", newEasyService())
			newer.ResourceVersion = "2"
			h.UpdateFunc(controlled("web", newEasyService()), newer)
		}, []cache.ObjectName{webKey}},
		{"a resync is ignored", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) {
			h.UpdateFunc(controlled("web", newEasyService()), controlled("web", newEasyService()))
		}, nil},
		{"delete", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) {
			h.DeleteFunc(cache.DeletedObject[*appsv1.Deployment]{OptionalObj: orphan("web")})
		}, []cache.ObjectName{webKey}},
		{"delete of an unknown final state", func(h cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment]) {
			h.DeleteFunc(cache.DeletedObject[*appsv1.Deployment]{FinalStateUnknown: &cache.DeletedFinalStateUnknown{Key: "ns/web"}})
		}, []cache.ObjectName{webKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.addToCache(newEasyService(), other)
			queue := newQueue(clock.RealClock{})
			f.controller.setQueue(queue)
			defer queue.ShutDown()

			tc.event(f.controller.deploymentEvents())
			var got []cache.ObjectName
			for queue.Len() > 0 {
				key, _ := queue.Get()
				got = append(got, key)
				queue.Done(key)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("queued (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRefusedChildMessage(t *testing.T) {
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "web", errors.New("exceeded quota"))
	p := refusedChild(v1.ReasonServiceFailed, "Service", newEasyService(), err)
	if p == nil || p.reason != v1.ReasonServiceFailed || !strings.Contains(p.message, "exceeded quota") {
		t.Errorf("refusedChild(Forbidden) = %+v", p)
	}
	if p := refusedChild(v1.ReasonServiceFailed, "Service", newEasyService(), apierrors.NewTooManyRequests("slow down", 1)); p != nil {
		t.Errorf("refusedChild(TooManyRequests) = %+v, want nil: only retried", p)
	}
}

// A sync right after another, before the informer delivered the children the first one made,
// neither applies them again nor reports them twice: the controller's own applies stand in for them.
func TestSyncBeforeTheInformerCaughtUp(t *testing.T) {
	f := newFixture(t)
	f.add(newEasyService())
	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect([]string{applyDeployment, applyService, updateStatus},
		[]string{"Normal DeploymentCreated Created Deployment web", "Normal ServiceCreated Created Service web"})
	if n := len(f.deployStore.List()) + len(f.serviceStore.List()); n != 0 {
		t.Fatalf("the informers' caches hold %d objects, want none", n)
	}

	f.addToCache(f.easyService())
	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect(nil, nil)
}

// With a status batch period, the sync that applies the Deployment leaves the status to a sync
// after the period, when the Deployment has reported on its new generation.
func TestSyncStatusAfterTheBatchPeriod(t *testing.T) {
	f := newFixture(t)
	f.controller.statusBatchPeriod = time.Second
	fakeClock := clocktesting.NewFakeClock(time.Now())
	queue := newQueue(fakeClock)
	f.controller.setQueue(queue)
	defer queue.ShutDown()
	f.add(newEasyService())

	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect([]string{applyDeployment, applyService},
		[]string{"Normal DeploymentCreated Created Deployment web", "Normal ServiceCreated Created Service web"})
	if n := queue.Len(); n != 0 {
		t.Errorf("queue length %d at once, want 0", n)
	}
	fakeClock.Step(time.Second)
	if err := wait.PollUntilContextTimeout(f.ctx, time.Millisecond, wait.ForeverTestTimeout, true, func(context.Context) (bool, error) {
		return queue.Len() == 1, nil
	}); err != nil {
		t.Fatalf("the EasyService was not queued after the batch period: %v", err)
	}

	// The Deployment controller has reported meanwhile: one status write says it all.
	d := f.deployment()
	d.Generation, d.ResourceVersion = 1, "2"
	d.Status = newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed).Status
	d.Status.ObservedGeneration = 1
	f.addToCache(d, f.service())
	if err := f.controller.sync(f.ctx, webKey); err != nil {
		t.Fatal(err)
	}
	f.expect([]string{updateStatus}, nil)
	if r := f.ready(); r.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v, want True", r)
	}
}

// A problem is reported at once, batch period or not.
func TestSyncProblemNotBatched(t *testing.T) {
	f := newFixture(t)
	f.controller.statusBatchPeriod = time.Hour
	f.add(newEasyService(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: "3"}})

	if err := f.controller.sync(f.ctx, webKey); !errors.Is(err, errResourceExists) {
		t.Errorf("sync = %v, want errResourceExists", err)
	}
	f.expect([]string{applyDeployment, updateStatus}, []string{
		"Normal DeploymentCreated Created Deployment web",
		"Warning ResourceExists Service ns/web exists and is not controlled by this EasyService; delete it or rename the EasyService",
	})
}

func TestChildEventsWaitForTheBatchPeriod(t *testing.T) {
	f := newFixture(t)
	f.controller.statusBatchPeriod = time.Second
	fakeClock := clocktesting.NewFakeClock(time.Now())
	queue := newQueue(fakeClock)
	f.controller.setQueue(queue)
	defer queue.ShutDown()
	f.addToCache(newEasyService())
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: "1"}}
	h := f.controller.deploymentEvents()

	h.AddFunc(d)
	if n := queue.Len(); n != 0 {
		t.Errorf("queue length %d right after an add, want 0 until the batch period is over", n)
	}
	h.DeleteFunc(cache.DeletedObject[*appsv1.Deployment]{OptionalObj: d})
	if n := queue.Len(); n != 1 {
		t.Errorf("queue length %d right after a delete, want 1", n)
	}
	key, _ := queue.Get()
	queue.Done(key)

	// A Deployment on its way is batched; one that has rolled out is reported at once.
	progressingD := newDeploymentWithStatus([4]int32{2, 2, 1, 1}, unavailable, progressing)
	h.UpdateFunc(d, progressingD)
	if n := queue.Len(); n != 0 {
		t.Errorf("queue length %d right after a rollout step, want 0 until the batch period is over", n)
	}
	done := newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed)
	done.ResourceVersion = "8"
	h.UpdateFunc(progressingD, done)
	if n := queue.Len(); n != 1 {
		t.Errorf("queue length %d right after the rollout finished, want 1", n)
	}
}

func TestTrimChild(t *testing.T) {
	owner := []metav1.OwnerReference{*metav1.NewControllerRef(newEasyService(), v1.SchemeGroupVersion.WithKind(kind))}
	entries := []metav1.ManagedFieldsEntry{{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply}, {Manager: "kube-controller-manager"}}
	foreign := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u", ResourceVersion: "5", Labels: map[string]string{"a": "b"},
			Annotations: map[string]string{"big": "x"}, ManagedFields: entries},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)},
	}
	got, err := TrimChild(foreign.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	want := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u", ResourceVersion: "5", Labels: map[string]string{"a": "b"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TrimChild(foreign Deployment) (-want +got):\n%s", diff)
	}

	ours := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Labels: map[string]string{LabelManagedBy: ManagedBy},
			OwnerReferences: owner, ManagedFields: entries},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort},
	}
	got, err = TrimChild(ours.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	wantService := ours.DeepCopy()
	wantService.ManagedFields = entries[:1]
	if diff := cmp.Diff(wantService, got); diff != "" {
		t.Errorf("TrimChild(our Service) (-want +got):\n%s", diff)
	}

	es := newEasyService()
	es.ManagedFields = entries
	es.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
	got, err = TrimEasyServiceMetadata(partialMetadata(es))
	if err != nil {
		t.Fatal(err)
	}
	wantES := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "app.easyservice.io/v1", Kind: "EasyService"},
		ObjectMeta: metav1.ObjectMeta{Namespace: es.Namespace, Name: es.Name, UID: es.UID, ResourceVersion: es.ResourceVersion}}
	if diff := cmp.Diff(wantES, got); diff != "" {
		t.Errorf("TrimEasyServiceMetadata (-want +got):\n%s", diff)
	}
}

// TestOnlyResourceExists: handleErr retries quietly only when a child's name taken is the sync's
// only failure, however many children it concerns.
func TestOnlyResourceExists(t *testing.T) {
	conflict := apierrors.NewConflict(v1.Resource("easyservices"), "web", errors.New("changed"))
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"errResourceExists", errResourceExists, true},
		{"both children's names taken", errors.Join(errResourceExists, errResourceExists), true},
		{"wrapped", fmt.Errorf("syncing: %w", errors.Join(nil, errResourceExists)), true},
		{"and a conflict", errors.Join(errResourceExists, conflict), false},
		{"a conflict", conflict, false},
		{"nested with another error", errors.Join(errResourceExists, errors.Join(errResourceExists, errNamespaceTerminating)), false},
	} {
		if got := onlyResourceExists(tc.err); got != tc.want {
			t.Errorf("%s: onlyResourceExists(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
