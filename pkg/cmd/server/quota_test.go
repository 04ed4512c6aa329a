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

package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	"k8s.io/apiserver/pkg/authentication/user"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
)

const easyServiceCount corev1.ResourceName = "count/easyservices.app.easyservice.io"

// TestQuotaAdmissionEnabled: ResourceQuota is registered, on by default and last, as in
// kube-apiserver.
func TestQuotaAdmissionEnabled(t *testing.T) {
	a := NewOptions().RecommendedOptions.Admission
	if order := a.RecommendedPluginOrder; order[len(order)-1] != resourcequota.PluginName {
		t.Errorf("RecommendedPluginOrder = %v, want %s last", order, resourcequota.PluginName)
	}
	if !slices.Contains(a.Plugins.Registered(), resourcequota.PluginName) || a.DefaultOffPlugins.Has(resourcequota.PluginName) {
		t.Errorf("%s: registered %v, off by default %v; want registered and on", resourcequota.PluginName, a.Plugins.Registered(), sets.List(a.DefaultOffPlugins))
	}
	if errs := a.Validate(); len(errs) != 0 {
		t.Errorf("Validate = %v", errs)
	}
}

// TestQuotaConfiguration: the configuration counts EasyServices, one per object, under the name a
// ResourceQuota gives them.
func TestQuotaConfiguration(t *testing.T) {
	c := newQuotaConfiguration()
	var found bool
	for _, e := range c.Evaluators() {
		if e.GroupResource() != easyservice.Resource("easyservices") {
			continue
		}
		found = true
		if got := e.MatchingResources([]corev1.ResourceName{easyServiceCount, "count/deployments.apps", "pods"}); !slices.Equal(got, []corev1.ResourceName{easyServiceCount}) {
			t.Errorf("MatchingResources = %v, want [%s]", got, easyServiceCount)
		}
		usage, err := e.Usage(&v1.EasyService{})
		if q := usage[easyServiceCount]; err != nil || len(usage) != 1 || q.Value() != 1 {
			t.Errorf("Usage = %v, %v; want %s=1", usage, err, easyServiceCount)
		}
	}
	if !found {
		t.Errorf("no evaluator for easyservices.app.easyservice.io in %v", c.Evaluators())
	}
}

// TestQuotaAdmission runs the plugin as the options register and initialize it against a quota of 2
// EasyServices of which 1 is used: a dry run is admitted and charges nothing, a create is admitted
// and charged (an update of the quota's status), the next is refused in either version, and a
// namespace without a quota is not limited.
func TestQuotaAdmission(t *testing.T) {
	two, one := resource.MustParse("2"), resource.MustParse("1")
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "limited", ResourceVersion: "1"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{easyServiceCount: two}},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{easyServiceCount: two},
			Used: corev1.ResourceList{easyServiceCount: one},
		},
	}
	client := fake.NewClientset(q)
	informers := kubeinformers.NewSharedInformerFactory(client, 0)
	stopCh := make(chan struct{})
	t.Cleanup(func() { close(stopCh) })

	o := NewOptions()
	extra, err := o.RecommendedOptions.ExtraAdmissionInitializers(nil)
	if err != nil {
		t.Fatal(err)
	}
	initializers := admission.PluginInitializers{initializer.New(client, nil, informers, nil, nil, nil, stopCh, nil)}
	config, err := admission.ReadAdmissionConfiguration([]string{resourcequota.PluginName}, "", runtime.NewScheme())
	if err != nil {
		t.Fatal(err)
	}
	// NewFromPlugins fails unless the plugin is fully initialized (ValidateInitialization).
	plugin, err := o.RecommendedOptions.Admission.Plugins.NewFromPlugins([]string{resourcequota.PluginName}, config, append(initializers, extra...), nil)
	if err != nil {
		t.Fatal(err)
	}
	informers.Start(stopCh)
	informers.WaitForCacheSync(stopCh)

	validate := func(namespace, name, version string, dryRun bool) error {
		gvr := v1.SchemeGroupVersion.WithResource("easyservices")
		var obj runtime.Object = &v1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
		if version == "v1beta1" {
			gvr = v1beta1.SchemeGroupVersion.WithResource("easyservices")
			obj = &v1beta1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
		}
		attrs := admission.NewAttributesRecord(obj, nil, gvr.GroupVersion().WithKind("EasyService"), namespace, name, gvr, "",
			admission.Create, &metav1.CreateOptions{}, dryRun, &user.DefaultInfo{Name: "alice"})
		return plugin.(admission.ValidationInterface).Validate(t.Context(), attrs, nil)
	}
	statusUpdates := func() []*corev1.ResourceQuota {
		var out []*corev1.ResourceQuota
		for _, a := range client.Actions() {
			if u, ok := a.(clienttesting.UpdateAction); ok && a.GetResource().Resource == "resourcequotas" && a.GetSubresource() == "status" {
				out = append(out, u.GetObject().(*corev1.ResourceQuota))
			}
		}
		return out
	}

	if err := validate("limited", "dry", "v1", true); err != nil {
		t.Errorf("dry-run create within the quota: %v", err)
	}
	if u := statusUpdates(); len(u) != 0 {
		t.Errorf("a dry run charged the quota: %v", u)
	}
	if err := validate("limited", "second", "v1", false); err != nil {
		t.Fatalf("second create: %v", err)
	}
	if u := statusUpdates(); len(u) != 1 || u[0].Status.Used.Name(easyServiceCount, resource.DecimalSI).Value() != 2 {
		t.Errorf("after the second create: status updates %v, want one to used=2", u)
	}
	// The plugin takes the newer of its informer's quota and the one it wrote by resourceVersion,
	// which the fake clientset does not advance: wait for the informer to have the write.
	lister := informers.Core().V1().ResourceQuotas().Lister()
	err = wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		q, err := lister.ResourceQuotas("limited").Get("q")
		return err == nil && q.Status.Used.Name(easyServiceCount, resource.DecimalSI).Value() == 2, nil
	})
	if err != nil {
		t.Fatalf("waiting for the informer to have the charged quota: %v", err)
	}
	for _, version := range []string{"v1", "v1beta1"} {
		for _, dryRun := range []bool{true, false} {
			err := validate("limited", "third", version, dryRun)
			want := "exceeded quota: q, requested: " + string(easyServiceCount) + "=1, used: " + string(easyServiceCount) + "=2, limited: " + string(easyServiceCount) + "=2"
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
				t.Errorf("third create in %s (dry run %v): %v, want 403 with %q", version, dryRun, err, want)
			}
		}
	}
	if u := statusUpdates(); len(u) != 1 {
		t.Errorf("refused creates updated the quota: %v", u)
	}
	if err := validate("unlimited", "web", "v1", false); err != nil {
		t.Errorf("create in a namespace without a quota: %v", err)
	}
}
