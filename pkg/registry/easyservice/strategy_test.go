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

// The tests are in an external package: the field label test goes through pkg/apiserver, which
// imports this package.
package easyservice_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
	"github.com/easyservice/easyservice/pkg/apiserver"
	registry "github.com/easyservice/easyservice/pkg/registry/easyservice"
)

func newTestStrategy() registry.Strategy {
	return registry.NewStrategy(apiserver.Scheme, validation.DefaultOptions())
}

func testContext() context.Context {
	return genericapirequest.WithNamespace(genericapirequest.NewContext(), metav1.NamespaceDefault)
}

// newValidEasyService returns a valid, defaulted EasyService as stored, with a status.
func newValidEasyService() *easyservice.EasyService {
	return &easyservice.EasyService{
		ObjectMeta: metav1.ObjectMeta{
			Name:            "web",
			Namespace:       metav1.NamespaceDefault,
			ResourceVersion: "10",
			Generation:      4,
			Labels:          map[string]string{"app": "web"},
			Annotations:     map[string]string{"team": "a"},
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
		Status: easyservice.EasyServiceStatus{
			ObservedGeneration: 3,
			Replicas:           3,
			UpdatedReplicas:    3,
			ReadyReplicas:      2,
			AvailableReplicas:  2,
			Selector:           "app.easyservice.io/name=web",
		},
	}
}

func TestStrategyScope(t *testing.T) {
	s := newTestStrategy()
	if !s.NamespaceScoped() {
		t.Error("EasyService must be namespace scoped")
	}
	if !registry.NewStatusStrategy(s).NamespaceScoped() {
		t.Error("the status strategy must be namespace scoped")
	}
	if s.AllowCreateOnUpdate(testContext()) {
		t.Error("EasyService must not allow create on update")
	}
	if !s.AllowUnconditionalUpdate(testContext()) {
		t.Error("EasyService must allow unconditional update")
	}
	if got := s.DefaultGarbageCollectionPolicy(testContext()); got != rest.DeleteDependents {
		t.Errorf("DefaultGarbageCollectionPolicy = %v, want %v", got, rest.DeleteDependents)
	}
}

func TestPrepareForCreate(t *testing.T) {
	es := newValidEasyService()
	es.Generation = 7
	wantSpec := *es.Spec.DeepCopy()

	newTestStrategy().PrepareForCreate(testContext(), es)

	if !apiequality.Semantic.DeepEqual(es.Status, easyservice.EasyServiceStatus{}) {
		t.Errorf("status not cleared: %#v", es.Status)
	}
	if es.Generation != 1 {
		t.Errorf("generation = %d, want 1", es.Generation)
	}
	if !apiequality.Semantic.DeepEqual(es.Spec, wantSpec) {
		t.Errorf("spec changed on create: %#v", es.Spec)
	}
}

func TestPrepareForUpdate(t *testing.T) {
	tests := []struct {
		name           string
		mutate         func(*easyservice.EasyService)
		wantGeneration int64
	}{
		{
			name:           "no change",
			mutate:         func(*easyservice.EasyService) {},
			wantGeneration: 4,
		},
		{
			name:           "spec replicas change",
			mutate:         func(es *easyservice.EasyService) { es.Spec.Replicas = 5 },
			wantGeneration: 5,
		},
		{
			name:           "spec image change",
			mutate:         func(es *easyservice.EasyService) { es.Spec.Image = "nginx:1.28" },
			wantGeneration: 5,
		},
		{
			name: "spec port change",
			mutate: func(es *easyservice.EasyService) {
				es.Spec.Ports = append(es.Spec.Ports, easyservice.EasyServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(8443)})
			},
			wantGeneration: 5,
		},
		{
			name:           "labels change",
			mutate:         func(es *easyservice.EasyService) { es.Labels = map[string]string{"app": "web", "tier": "front"} },
			wantGeneration: 4,
		},
		{
			name:           "annotations change",
			mutate:         func(es *easyservice.EasyService) { es.Annotations = map[string]string{"team": "b"} },
			wantGeneration: 4,
		},
		{
			name: "status change",
			mutate: func(es *easyservice.EasyService) {
				es.Status.ReadyReplicas = 3
				es.Status.AvailableReplicas = 3
				es.Status.ObservedGeneration = 4
			},
			wantGeneration: 4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := newValidEasyService()
			obj := old.DeepCopy()
			tc.mutate(obj)
			wantSpec := *obj.Spec.DeepCopy()
			wantLabels := obj.Labels

			newTestStrategy().PrepareForUpdate(testContext(), obj, old)

			if !apiequality.Semantic.DeepEqual(obj.Status, old.Status) {
				t.Errorf("status = %#v, want the old status %#v", obj.Status, old.Status)
			}
			if obj.Generation != tc.wantGeneration {
				t.Errorf("generation = %d, want %d", obj.Generation, tc.wantGeneration)
			}
			if !apiequality.Semantic.DeepEqual(obj.Spec, wantSpec) {
				t.Errorf("spec = %#v, want the new spec %#v", obj.Spec, wantSpec)
			}
			if !reflect.DeepEqual(obj.Labels, wantLabels) {
				t.Errorf("labels = %v, want the new labels %v", obj.Labels, wantLabels)
			}
		})
	}
}

func TestStatusStrategyPrepareForUpdate(t *testing.T) {
	old := newValidEasyService()
	old.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "1234"}}
	old.Finalizers = []string{"example.com/keep"}

	obj := old.DeepCopy()
	obj.Spec.Replicas = 10
	obj.Spec.Image = "nginx:2"
	obj.Labels = map[string]string{"app": "other"}
	obj.Annotations = map[string]string{"team": "z"}
	obj.OwnerReferences = nil
	obj.Finalizers = nil
	newStatus := easyservice.EasyServiceStatus{
		ObservedGeneration: 4,
		Replicas:           3,
		UpdatedReplicas:    3,
		ReadyReplicas:      3,
		AvailableReplicas:  3,
		Selector:           "app.easyservice.io/name=web",
		Conditions: []metav1.Condition{{
			Type:               v1.EasyServiceReady,
			Status:             metav1.ConditionTrue,
			Reason:             "AllReady",
			LastTransitionTime: metav1.Now(),
		}},
	}
	obj.Status = *newStatus.DeepCopy()

	registry.NewStatusStrategy(newTestStrategy()).PrepareForUpdate(testContext(), obj, old)

	if !apiequality.Semantic.DeepEqual(obj.Spec, old.Spec) {
		t.Errorf("spec = %#v, want the old spec %#v", obj.Spec, old.Spec)
	}
	if !reflect.DeepEqual(obj.Labels, old.Labels) {
		t.Errorf("labels = %v, want the old labels %v", obj.Labels, old.Labels)
	}
	if !reflect.DeepEqual(obj.Annotations, old.Annotations) {
		t.Errorf("annotations = %v, want the old annotations %v", obj.Annotations, old.Annotations)
	}
	if !reflect.DeepEqual(obj.OwnerReferences, old.OwnerReferences) {
		t.Errorf("ownerReferences = %v, want the old ones %v", obj.OwnerReferences, old.OwnerReferences)
	}
	if !reflect.DeepEqual(obj.Finalizers, old.Finalizers) {
		t.Errorf("finalizers = %v, want the old ones %v", obj.Finalizers, old.Finalizers)
	}
	if !apiequality.Semantic.DeepEqual(obj.Status, newStatus) {
		t.Errorf("status = %#v, want the new status %#v", obj.Status, newStatus)
	}
	if obj.Generation != old.Generation {
		t.Errorf("generation = %d, want %d", obj.Generation, old.Generation)
	}
}

func TestStatusStrategyValidateUpdate(t *testing.T) {
	s := registry.NewStatusStrategy(newTestStrategy())
	old := newValidEasyService()

	valid := old.DeepCopy()
	valid.Status.ReadyReplicas = 3
	if errs := s.ValidateUpdate(testContext(), valid, old); len(errs) != 0 {
		t.Errorf("unexpected errors for a valid status: %v", errs)
	}

	invalid := old.DeepCopy()
	invalid.Status.ReadyReplicas = 5 // more than status.replicas
	errs := s.ValidateUpdate(testContext(), invalid, old)
	if !hasErrorAt(errs, "status.readyReplicas") {
		t.Errorf("expected an error at status.readyReplicas, got %v", errs)
	}

	if w := s.WarningsOnUpdate(testContext(), invalid, old); len(w) != 0 {
		t.Errorf("status updates must not warn, got %v", w)
	}
}

func TestGetResetFields(t *testing.T) {
	versions := []fieldpath.APIVersion{"app.easyservice.io/v1", "app.easyservice.io/v1beta1"}
	s := newTestStrategy()
	tests := []struct {
		name string
		got  map[fieldpath.APIVersion]*fieldpath.Set
		want *fieldpath.Set
	}{
		{
			name: "main resource",
			got:  s.GetResetFields(),
			want: fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
		},
		{
			name: "status subresource",
			got:  registry.NewStatusStrategy(s).GetResetFields(),
			want: fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata")),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) != len(versions) {
				t.Errorf("reset fields cover %d versions, want %d: %v", len(tc.got), len(versions), tc.got)
			}
			for _, v := range versions {
				set, ok := tc.got[v]
				if !ok {
					t.Errorf("no reset fields for %s", v)
					continue
				}
				if !set.Equals(tc.want) {
					t.Errorf("reset fields of %s = %v, want %v", v, set, tc.want)
				}
			}
		})
	}
	// The versions must be the ones the scheme serves.
	for _, gv := range []schema.GroupVersion{v1.SchemeGroupVersion, v1beta1.SchemeGroupVersion} {
		if _, ok := s.GetResetFields()[fieldpath.APIVersion(gv.String())]; !ok {
			t.Errorf("no reset fields for served version %s", gv)
		}
	}
}

func hasErrorAt(errs field.ErrorList, path string) bool {
	for _, err := range errs {
		if err.Field == path {
			return true
		}
	}
	return false
}

func TestValidate(t *testing.T) {
	customRange := validation.Options{NodePortRange: utilnet.PortRange{Base: 20000, Size: 1000}}
	tests := []struct {
		name     string
		opts     validation.Options
		mutate   func(*easyservice.EasyService)
		wantPath string // empty: valid
	}{
		{
			name:   "valid",
			opts:   validation.DefaultOptions(),
			mutate: func(*easyservice.EasyService) {},
		},
		{
			name:     "empty image",
			opts:     validation.DefaultOptions(),
			mutate:   func(es *easyservice.EasyService) { es.Spec.Image = "" },
			wantPath: "spec.image",
		},
		{
			name:     "negative replicas",
			opts:     validation.DefaultOptions(),
			mutate:   func(es *easyservice.EasyService) { es.Spec.Replicas = -1 },
			wantPath: "spec.replicas",
		},
		{
			name:     "unsupported service type",
			opts:     validation.DefaultOptions(),
			mutate:   func(es *easyservice.EasyService) { es.Spec.ServiceType = corev1.ServiceTypeExternalName },
			wantPath: "spec.serviceType",
		},
		{
			name:     "invalid name",
			opts:     validation.DefaultOptions(),
			mutate:   func(es *easyservice.EasyService) { es.Name = "1web" },
			wantPath: "metadata.name",
		},
		{
			name:     "nodePort outside the default range",
			opts:     validation.DefaultOptions(),
			mutate:   func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 20500 },
			wantPath: "spec.ports[0].nodePort",
		},
		{
			name:   "nodePort inside a custom range",
			opts:   customRange,
			mutate: func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 20500 },
		},
		{
			name:     "nodePort of the default range outside a custom range",
			opts:     customRange,
			mutate:   func(*easyservice.EasyService) {}, // 31002
			wantPath: "spec.ports[0].nodePort",
		},
		{
			name:     "nodePort just past a custom range",
			opts:     customRange,
			mutate:   func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 21000 },
			wantPath: "spec.ports[0].nodePort",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := registry.NewStrategy(apiserver.Scheme, tc.opts)

			obj := newValidEasyService()
			tc.mutate(obj)
			checkErrs := func(op string, errs field.ErrorList) {
				t.Helper()
				if tc.wantPath == "" {
					if len(errs) != 0 {
						t.Errorf("%s: unexpected errors: %v", op, errs)
					}
					return
				}
				if !hasErrorAt(errs, tc.wantPath) {
					t.Errorf("%s: expected an error at %s, got %v", op, tc.wantPath, errs)
				}
			}
			checkErrs("Validate", s.Validate(testContext(), obj))

			if tc.name == "invalid name" {
				return // a name cannot change on update
			}
			old := newValidEasyService()
			old.Spec.Ports[0].NodePort = 0
			checkErrs("ValidateUpdate", s.ValidateUpdate(testContext(), obj, old))
		})
	}
}

func TestValidateUpdateImmutableMetadata(t *testing.T) {
	old := newValidEasyService()
	obj := old.DeepCopy()
	obj.Name = "other"
	errs := newTestStrategy().ValidateUpdate(testContext(), obj, old)
	if !hasErrorAt(errs, "metadata.name") {
		t.Errorf("expected an error at metadata.name, got %v", errs)
	}
}

func TestWarningsOnCreate(t *testing.T) {
	tests := []struct {
		image    string
		wantWarn bool
	}{
		{image: "nginx", wantWarn: true},
		{image: "nginx:latest", wantWarn: true},
		{image: "nginx:1.27", wantWarn: false},
		{image: "docker.io/library/nginx", wantWarn: true},
		{image: "docker.io/library/nginx:1.27", wantWarn: false},
		{image: "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", wantWarn: false},
		{image: "nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", wantWarn: false},
		{image: "localhost:5000/app", wantWarn: true},
		{image: "localhost:5000/app:1.0", wantWarn: false},
		{image: "localhost:5000/app:latest", wantWarn: true},
		{image: "localhost:5000/team/app", wantWarn: true},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			obj := newValidEasyService()
			obj.Spec.Image = tc.image
			warnings := newTestStrategy().WarningsOnCreate(testContext(), obj)
			if !tc.wantWarn {
				if len(warnings) != 0 {
					t.Errorf("unexpected warnings: %v", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("got %d warnings %v, want 1", len(warnings), warnings)
			}
			if !strings.HasPrefix(warnings[0], "spec.image: ") || !strings.Contains(warnings[0], tc.image) {
				t.Errorf("warning %q should name spec.image and %q", warnings[0], tc.image)
			}
		})
	}
}

func TestWarningsOnUpdate(t *testing.T) {
	tests := []struct {
		name     string
		oldImage string
		newImage string
		wantWarn bool
	}{
		{name: "unchanged untagged image", oldImage: "nginx", newImage: "nginx", wantWarn: false},
		{name: "unchanged latest image", oldImage: "nginx:latest", newImage: "nginx:latest", wantWarn: false},
		{name: "tagged to untagged", oldImage: "nginx:1.27", newImage: "nginx", wantWarn: true},
		{name: "tagged to latest", oldImage: "nginx:1.27", newImage: "nginx:latest", wantWarn: true},
		{name: "untagged to tagged", oldImage: "nginx", newImage: "nginx:1.28", wantWarn: false},
		{name: "tag to tag", oldImage: "nginx:1.27", newImage: "nginx:1.28", wantWarn: false},
		{name: "registry with port, no tag", oldImage: "localhost:5000/app:1.0", newImage: "localhost:5000/app", wantWarn: true},
		{name: "registry with port, tag", oldImage: "localhost:5000/app", newImage: "localhost:5000/app:1.0", wantWarn: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := newValidEasyService()
			old.Spec.Image = tc.oldImage
			obj := old.DeepCopy()
			obj.Spec.Image = tc.newImage
			warnings := newTestStrategy().WarningsOnUpdate(testContext(), obj, old)
			if got := len(warnings) != 0; got != tc.wantWarn {
				t.Errorf("warnings = %v, want warning: %v", warnings, tc.wantWarn)
			}
		})
	}
}

func TestWarningsOnUpdateOtherChanges(t *testing.T) {
	old := newValidEasyService()
	old.Spec.Image = "nginx"
	obj := old.DeepCopy()
	obj.Spec.Replicas = 8
	obj.Labels["tier"] = "front"
	if warnings := newTestStrategy().WarningsOnUpdate(testContext(), obj, old); len(warnings) != 0 {
		t.Errorf("an update that keeps the image must not warn, got %v", warnings)
	}
}

func TestGetAttrs(t *testing.T) {
	es := newValidEasyService()
	ls, fs, err := registry.GetAttrs(es)
	if err != nil {
		t.Fatalf("GetAttrs: %v", err)
	}
	if !reflect.DeepEqual(ls, labels.Set(es.Labels)) {
		t.Errorf("labels = %v, want %v", ls, es.Labels)
	}
	want := fields.Set{
		"metadata.name":      "web",
		"metadata.namespace": metav1.NamespaceDefault,
		"spec.image":         "nginx:1.27",
		"spec.serviceType":   "NodePort",
	}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("fields = %v, want %v", fs, want)
	}
	if got := registry.SelectableFields(es); !reflect.DeepEqual(got, want) {
		t.Errorf("SelectableFields = %v, want %v", got, want)
	}

	if _, _, err := registry.GetAttrs(&easyservice.EasyServiceList{}); err == nil {
		t.Error("GetAttrs of a list: expected an error")
	}
}

func TestMatchEasyService(t *testing.T) {
	es := newValidEasyService()
	tests := []struct {
		name  string
		label labels.Selector
		field fields.Selector
		want  bool
	}{
		{name: "everything", label: labels.Everything(), field: fields.Everything(), want: true},
		{name: "label", label: labels.SelectorFromSet(labels.Set{"app": "web"}), field: fields.Everything(), want: true},
		{name: "other label", label: labels.SelectorFromSet(labels.Set{"app": "db"}), field: fields.Everything(), want: false},
		{name: "image", label: labels.Everything(), field: fields.OneTermEqualSelector("spec.image", "nginx:1.27"), want: true},
		{name: "other image", label: labels.Everything(), field: fields.OneTermEqualSelector("spec.image", "nginx"), want: false},
		{name: "service type", label: labels.Everything(), field: fields.OneTermEqualSelector("spec.serviceType", "NodePort"), want: true},
		{name: "other service type", label: labels.Everything(), field: fields.OneTermNotEqualSelector("spec.serviceType", "NodePort"), want: false},
		{name: "name", label: labels.Everything(), field: fields.OneTermEqualSelector("metadata.name", "web"), want: true},
		{name: "namespace", label: labels.Everything(), field: fields.OneTermEqualSelector("metadata.namespace", "other"), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pred := registry.MatchEasyService(tc.label, tc.field)
			got, err := pred.Matches(es)
			if err != nil {
				t.Fatalf("Matches: %v", err)
			}
			if got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConvertFieldLabel(t *testing.T) {
	kinds := []schema.GroupVersionKind{
		v1.SchemeGroupVersion.WithKind("EasyService"),
		v1beta1.SchemeGroupVersion.WithKind("EasyService"),
	}
	supported := []string{"metadata.name", "metadata.namespace", "spec.image", "spec.serviceType"}
	unsupported := []string{"spec.replicas", "spec.size", "status.replicas", "metadata.labels", "name", ""}
	for _, gvk := range kinds {
		t.Run(gvk.Version, func(t *testing.T) {
			for _, label := range supported {
				gotLabel, gotValue, err := apiserver.Scheme.ConvertFieldLabel(gvk, label, "value")
				if err != nil {
					t.Errorf("%s: unexpected error: %v", label, err)
					continue
				}
				if gotLabel != label || gotValue != "value" {
					t.Errorf("%s: converted to %q=%q, want %q=%q", label, gotLabel, gotValue, label, "value")
				}
			}
			for _, label := range unsupported {
				if _, _, err := apiserver.Scheme.ConvertFieldLabel(gvk, label, "value"); err == nil {
					t.Errorf("%q: expected an error", label)
				}
			}
		})
	}
}
