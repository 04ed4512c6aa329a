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

package conflicts

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/warning"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	esfake "github.com/easyservice/easyservice/pkg/generated/clientset/versioned/fake"
)

func controllerRef(kind, apiVersion, name string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("u-" + name), Controller: ptr.To(true)}}
}

func storedEasyService(namespace, name string, nodePorts ...int32) *v1.EasyService {
	es := &v1.EasyService{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("u-" + name)},
		Spec: v1.EasyServiceSpec{Image: "nginx:1.27", ServiceType: corev1.ServiceTypeNodePort}}
	for i, p := range nodePorts {
		es.Spec.Ports = append(es.Spec.Ports, v1.EasyServicePort{Port: 80 + int32(i), NodePort: p})
	}
	return es
}

func service(namespace, name string, owners []metav1.OwnerReference, nodePorts ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, OwnerReferences: owners},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}
	for i, p := range nodePorts {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 80 + int32(i), NodePort: p})
	}
	return s
}

// newPlugin returns the plugin with informers over fake clients holding objects, synced.
func newPlugin(t *testing.T, objects ...runtime.Object) *Plugin {
	t.Helper()
	var es, kube []runtime.Object
	for _, o := range objects {
		if _, ok := o.(*v1.EasyService); ok {
			es = append(es, o)
		} else {
			kube = append(kube, o)
		}
	}
	informers, start, err := NewInformers(esfake.NewClientset(es...), kubefake.NewClientset(kube...))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	start(stop)
	if err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return informers.HasSynced(), nil
	}); err != nil {
		t.Fatalf("informers not synced: %v", err)
	}
	p := New()
	p.SetInformers(informers)
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p
}

func newEasyService(namespace, name string, nodePorts ...int32) *easyservice.EasyService {
	es := &easyservice.EasyService{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: easyservice.EasyServiceSpec{Image: "nginx:1.27", ServiceType: corev1.ServiceTypeNodePort}}
	for i, p := range nodePorts {
		es.Spec.Ports = append(es.Spec.Ports, easyservice.EasyServicePort{Name: "p" + string(rune('a'+i)), Port: 80 + int32(i), NodePort: p})
	}
	return es
}

func attributes(obj, old *easyservice.EasyService, op admission.Operation, subresource string) admission.Attributes {
	var oldObj runtime.Object
	if old != nil {
		oldObj = old
	}
	return admission.NewAttributesRecord(obj, oldObj, v1.SchemeGroupVersion.WithKind("EasyService"), obj.Namespace, obj.Name,
		v1.SchemeGroupVersion.WithResource("easyservices"), subresource, op, nil, false, &user.DefaultInfo{Name: "alice"})
}

type recorder struct {
	sync.Mutex
	warnings []string
}

func (r *recorder) AddWarning(_, text string) {
	r.Lock()
	defer r.Unlock()
	r.warnings = append(r.warnings, text)
}

func TestValidate(t *testing.T) {
	es := "app.easyservice.io/v1"
	world := []runtime.Object{
		storedEasyService("other", "web", 30080),
		storedEasyService("team", "api", 30090, 30091),
		service("team", "api", controllerRef("EasyService", es, "api"), 30090, 30091),
		service("team", "db", nil, 30100),
		// A Service named like an EasyService but controlled by something else.
		service("team", "cache", controllerRef("EasyService", "other.example.com/v1", "cache"), 30110),
		service("team", "legacy", nil),
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "legacy"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "owned", OwnerReferences: controllerRef("EasyService", es, "owned")}},
	}
	tests := []struct {
		name     string
		attrs    admission.Attributes
		refused  []string // in the message, when refused
		warnings []string
	}{
		{name: "free nodePort", attrs: attributes(newEasyService("team", "new", 30200), nil, admission.Create, "")},
		{name: "no nodePort", attrs: attributes(newEasyService("team", "new", 0), nil, admission.Create, "")},
		{name: "held by an EasyService of another namespace",
			attrs:   attributes(newEasyService("team", "new", 30200, 30080), nil, admission.Create, ""),
			refused: []string{"spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated to EasyService other/web"}},
		{name: "held by a Service of the name no EasyService controls", attrs: attributes(newEasyService("team", "db", 30100), nil, admission.Create, ""),
			refused:  []string{"spec.ports[0].nodePort", "Service team/db"},
			warnings: nil},
		{name: "held by a Service controlled by another group's EasyService",
			attrs:   attributes(newEasyService("team", "cache", 30110), nil, admission.Create, ""),
			refused: []string{"spec.ports[0].nodePort", "Service team/cache"}},
		{name: "update of the holder itself", attrs: attributes(newEasyService("team", "api", 30090, 30091), newEasyService("team", "api", 30090, 30091), admission.Update, "")},
		{name: "held by the EasyService's own Service: a create after a delete, before the garbage collector",
			attrs: attributes(newEasyService("team", "api", 30091), nil, admission.Create, "")},
		{name: "update adding a held nodePort", attrs: attributes(newEasyService("other", "web", 30080, 30100), newEasyService("other", "web", 30080), admission.Update, ""),
			refused: []string{"spec.ports[1].nodePort", "Service team/db"}},
		{name: "update keeping a clash stored before", attrs: attributes(newEasyService("x", "y", 30080), newEasyService("x", "y", 30080), admission.Update, "")},
		{name: "status update", attrs: attributes(newEasyService("x", "y", 30080), newEasyService("x", "y", 0), admission.Update, "status")},
		{name: "a Deployment and a Service of the name no EasyService controls",
			attrs: attributes(newEasyService("team", "legacy", 0), nil, admission.Create, ""),
			warnings: []string{
				"Deployment team/legacy exists and no EasyService controls it: the controller will not adopt it, and this EasyService reports ResourceExists until it is gone",
				"Service team/legacy exists and no EasyService controls it: the controller will not adopt it, and this EasyService reports ResourceExists until it is gone",
			}},
		{name: "a Deployment an EasyService of the name controls", attrs: attributes(newEasyService("team", "owned", 0), nil, admission.Create, "")},
		{name: "no warning on update", attrs: attributes(newEasyService("team", "legacy", 0), newEasyService("team", "legacy", 0), admission.Update, "")},
	}
	p := newPlugin(t, world...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			ctx := warning.WithWarningRecorder(t.Context(), r)
			err := p.Validate(ctx, tc.attrs, nil)
			if tc.refused == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else {
				if !apierrors.IsInvalid(err) {
					t.Fatalf("got %v, want 422 Invalid", err)
				}
				for _, want := range tc.refused {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
			}
			if strings.Join(r.warnings, "\n") != strings.Join(tc.warnings, "\n") {
				t.Errorf("warnings = %q, want %q", r.warnings, tc.warnings)
			}
		})
	}
}

// TestTrim: the caches keep the name, the controller reference and the nodePorts only.
func TestTrim(t *testing.T) {
	s := service("team", "api", append(controllerRef("EasyService", "app.easyservice.io/v1", "api"),
		metav1.OwnerReference{Kind: "Other", Name: "x"}), 30090, 0)
	s.Labels = map[string]string{"a": "b"}
	s.Spec.Selector = map[string]string{"a": "b"}
	obj, err := Trim(s)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*corev1.Service)
	if got.Name != "api" || got.Namespace != "team" || len(got.OwnerReferences) != 1 || got.OwnerReferences[0].Kind != "EasyService" ||
		got.Labels != nil || got.Spec.Selector != nil || len(got.Spec.Ports) != 1 || got.Spec.Ports[0].NodePort != 30090 {
		t.Errorf("trimmed Service = %+v", got)
	}
	keys, err := indexNodePort(storedEasyService("a", "b", 30001, 0, 30002))
	if err != nil || strings.Join(keys, ",") != "30001,30002" {
		t.Errorf("index of an EasyService = %v, %v", keys, err)
	}
}
