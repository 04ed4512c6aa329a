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

// Package conflicts is the EasyServiceConflicts admission plugin: it refuses an EasyService whose
// nodePort another EasyService or a Service holds, as kube-apiserver refuses such a Service, and
// warns about an EasyService named like a Deployment or Service the controller will not adopt.
package conflicts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/tools/cache"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// PluginName names the plugin in --enable-admission-plugins and --disable-admission-plugins.
const PluginName = "EasyServiceConflicts"

// Register registers the plugin.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return New(), nil
	})
}

// Informers are the caches the plugin reads: every EasyService and every Service with their
// nodePorts indexed (IndexNodePort), and every Deployment's metadata. NewInformers makes them.
type Informers struct {
	EasyServices cache.SharedIndexInformer
	Services     cache.SharedIndexInformer
	Deployments  cache.SharedIndexInformer
}

// HasSynced tells whether every cache has its initial list.
func (i Informers) HasSynced() bool {
	return i.EasyServices.HasSynced() && i.Services.HasSynced() && i.Deployments.HasSynced()
}

// WantsInformers is an admission plugin that needs the Informers; an initializer sets them.
type WantsInformers interface {
	SetInformers(Informers)
	admission.InitializationValidator
}

// Plugin is the EasyServiceConflicts admission plugin.
type Plugin struct {
	*admission.Handler
	informers *Informers
}

var (
	_ admission.ValidationInterface = &Plugin{}
	_ WantsInformers                = &Plugin{}
)

// New returns the plugin, which checks creates and updates of EasyServices.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update)}
}

// SetInformers gives the plugin its caches; it answers only once they have synced.
func (p *Plugin) SetInformers(i Informers) {
	p.informers = &i
	p.SetReadyFunc(i.HasSynced)
}

// ValidateInitialization fails when the plugin has no caches.
func (p *Plugin) ValidateInitialization() error {
	if p.informers == nil {
		return fmt.Errorf("%s: no informers", PluginName)
	}
	return nil
}

// Validate refuses an EasyService that asks for a nodePort another EasyService, in any namespace,
// or a Service it does not own holds, with 422 naming spec.ports[i].nodePort and the holder (the
// field has the same path in v1 and v1beta1). An update is only checked for the nodePorts it adds,
// so that an object stored before a clash was refused stays updatable. A create whose name a
// Deployment or Service no EasyService controls already has is let through with a warning: the
// controller does not adopt such an object, and the EasyService reports ResourceExists until it
// is gone.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != easyservice.Resource("easyservices") || a.GetSubresource() != "" {
		return nil
	}
	es, ok := a.GetObject().(*easyservice.EasyService)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("%s: the object is a %T, not an EasyService", PluginName, a.GetObject()))
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, errors.New("not yet ready to handle request: the caches of EasyServices, Services and Deployments have not synced"))
	}
	held := sets.New[int32]()
	if old, ok := a.GetOldObject().(*easyservice.EasyService); ok && a.GetOperation() == admission.Update {
		for _, port := range old.Spec.Ports {
			held.Insert(port.NodePort)
		}
	}
	var errs field.ErrorList
	for i, port := range es.Spec.Ports {
		if port.NodePort == 0 || held.Has(port.NodePort) {
			continue
		}
		holder, err := p.nodePortHolder(es, port.NodePort)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		if holder != "" {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), port.NodePort,
				"provided port is already allocated to "+holder))
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(a.GetKind().GroupKind(), es.Name, errs)
	}
	if a.GetOperation() == admission.Create {
		p.warnForeignChildren(ctx, es)
	}
	return nil
}

// nodePortHolder names what holds nodePort besides es and its own Service, or returns "".
func (p *Plugin) nodePortHolder(es *easyservice.EasyService, nodePort int32) (string, error) {
	key := strconv.Itoa(int(nodePort))
	others, err := p.informers.EasyServices.GetIndexer().ByIndex(IndexNodePort, key)
	if err != nil {
		return "", err
	}
	for _, obj := range others {
		other, ok := obj.(*v1.EasyService)
		if !ok {
			return "", fmt.Errorf("the EasyService cache holds a %T", obj)
		}
		if other.Namespace != es.Namespace || other.Name != es.Name {
			return fmt.Sprintf("EasyService %s/%s", other.Namespace, other.Name), nil
		}
	}
	services, err := p.informers.Services.GetIndexer().ByIndex(IndexNodePort, key)
	if err != nil {
		return "", err
	}
	for _, obj := range services {
		s, ok := obj.(*corev1.Service)
		if !ok {
			return "", fmt.Errorf("the Service cache holds a %T", obj)
		}
		if s.Namespace != es.Namespace || s.Name != es.Name || !controlledByEasyService(s, es.Name) {
			return fmt.Sprintf("Service %s/%s", s.Namespace, s.Name), nil
		}
	}
	return "", nil
}

// warnForeignChildren warns when a Deployment or Service with the EasyService's name exists that no
// EasyService controls.
func (p *Plugin) warnForeignChildren(ctx context.Context, es *easyservice.EasyService) {
	key := es.Name
	if es.Namespace != "" {
		key = es.Namespace + "/" + es.Name
	}
	for _, child := range []struct {
		kind     string
		informer cache.SharedIndexInformer
	}{{"Deployment", p.informers.Deployments}, {"Service", p.informers.Services}} {
		obj, exists, err := child.informer.GetStore().GetByKey(key)
		if err != nil || !exists {
			continue
		}
		m, err := metaOf(obj)
		if err != nil || controlledByEasyService(m, es.Name) {
			continue
		}
		warning.AddWarning(ctx, "", fmt.Sprintf(
			"%s %s/%s exists and no EasyService controls it: the controller will not adopt it, and this EasyService reports %s until it is gone",
			child.kind, es.Namespace, es.Name, v1.ReasonResourceExists))
	}
}

func metaOf(obj any) (metav1.Object, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o, nil
	case *corev1.Service:
		return o, nil
	}
	return nil, fmt.Errorf("the cache holds a %T", obj)
}

// controlledByEasyService tells whether an EasyService named name is obj's controller. The name,
// not the UID: while the garbage collector deletes the children of an EasyService deleted and made
// again, they still belong to the name, and the controller reports them until they are gone.
func controlledByEasyService(obj metav1.Object, name string) bool {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "EasyService" || ref.Name != name {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == easyservice.GroupName
}
