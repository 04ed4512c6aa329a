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

// Package storage wires EasyServices to etcd: the main resource, /status and /scale.
package storage

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
	registry "github.com/easyservice/easyservice/pkg/registry/easyservice"
)

// EasyServiceStorage holds the REST storage of the resource and its subresources.
type EasyServiceStorage struct {
	EasyService *REST
	Status      *StatusREST
	Scale       *ScaleREST
}

// NewStorage returns the storage of easyservices, easyservices/status and easyservices/scale.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, options validation.Options) (EasyServiceStorage, error) {
	strategy := registry.NewStrategy(scheme, options)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &easyservice.EasyService{} },
		NewListFunc:               func() runtime.Object { return &easyservice.EasyServiceList{} },
		PredicateFunc:             registry.MatchEasyService,
		DefaultQualifiedResource:  easyservice.Resource("easyservices"),
		SingularQualifiedResource: easyservice.Resource("easyservice"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: registry.TableConvertor{},
	}
	storeOptions := &generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: registry.GetAttrs}
	if err := store.CompleteWithOptions(storeOptions); err != nil {
		return EasyServiceStorage{}, fmt.Errorf("completing the easyservices store: %w", err)
	}

	statusStrategy := registry.NewStatusStrategy(strategy)
	statusStore := *store
	statusStore.UpdateStrategy = statusStrategy
	statusStore.ResetFieldsStrategy = statusStrategy

	return EasyServiceStorage{
		EasyService: &REST{store},
		Status:      &StatusREST{store: &statusStore},
		Scale:       &ScaleREST{store: store},
	}, nil
}

// REST is the storage of easyservices.
type REST struct {
	*genericregistry.Store
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames makes "kubectl get esvc" work.
func (r *REST) ShortNames() []string { return []string{"esvc"} }

// Categories puts EasyServices in "kubectl get all".
func (r *REST) Categories() []string { return []string{"all"} }

// StatusREST is the storage of easyservices/status.
type StatusREST struct {
	store *genericregistry.Store
}

var (
	_ rest.Getter  = &StatusREST{}
	_ rest.Updater = &StatusREST{}
	_ rest.Patcher = &StatusREST{}
)

// New returns an empty EasyService.
func (r *StatusREST) New() runtime.Object { return &easyservice.EasyService{} }

// Destroy does nothing: the store is shared with REST, which destroys it.
func (r *StatusREST) Destroy() {}

// Get returns the EasyService, for the status of which a patch is computed.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// Update changes the status of an EasyService. Creating one through /status is never allowed.
func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// GetResetFields tells server-side apply which fields /status never changes.
func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

// ConvertToTable prints the EasyService.
func (r *StatusREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}

// replicasPaths says where each served version keeps the replica count, so that the managed
// fields of the scale subresource map to the right field of the parent.
var replicasPaths = managedfields.ResourcePathMappings{
	v1.SchemeGroupVersion.String():      fieldpath.MakePathOrDie("spec", "replicas"),
	v1beta1.SchemeGroupVersion.String(): fieldpath.MakePathOrDie("spec", "size"),
}

// ScaleREST is the storage of easyservices/scale: an autoscaling/v1 Scale, so that kubectl scale
// and a HorizontalPodAutoscaler can drive an EasyService.
type ScaleREST struct {
	store *genericregistry.Store
}

var (
	_ rest.Getter                   = &ScaleREST{}
	_ rest.Updater                  = &ScaleREST{}
	_ rest.Patcher                  = &ScaleREST{}
	_ rest.GroupVersionKindProvider = &ScaleREST{}
)

// GroupVersionKind is autoscaling/v1 Scale in every version of the group.
func (r *ScaleREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
}

// New returns an empty Scale.
func (r *ScaleREST) New() runtime.Object { return &autoscalingv1.Scale{} }

// Destroy does nothing: the store is shared with REST, which destroys it.
func (r *ScaleREST) Destroy() {}

// Get returns the Scale of an EasyService.
func (r *ScaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return scaleFromEasyService(obj.(*easyservice.EasyService)), nil
}

// Update changes the replicas of an EasyService through its Scale.
func (r *ScaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	obj, _, err := r.store.Update(ctx, name,
		&scaleUpdatedObjectInfo{name: name, reqObjInfo: objInfo},
		toScaleCreateValidation(createValidation),
		toScaleUpdateValidation(updateValidation),
		false, options)
	if err != nil {
		return nil, false, err
	}
	return scaleFromEasyService(obj.(*easyservice.EasyService)), false, nil
}

// ConvertToTable prints the Scale as the generic server prints objects without a table convertor.
func (r *ScaleREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return rest.NewDefaultTableConvertor(easyservice.Resource("easyservices/scale")).ConvertToTable(ctx, object, tableOptions)
}

func toScaleCreateValidation(f rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	return func(ctx context.Context, obj runtime.Object) error {
		return f(ctx, scaleFromEasyService(obj.(*easyservice.EasyService)))
	}
}

func toScaleUpdateValidation(f rest.ValidateObjectUpdateFunc) rest.ValidateObjectUpdateFunc {
	return func(ctx context.Context, obj, old runtime.Object) error {
		return f(ctx, scaleFromEasyService(obj.(*easyservice.EasyService)), scaleFromEasyService(old.(*easyservice.EasyService)))
	}
}

// scaleFromEasyService returns the Scale of an EasyService. The selector is the one the controller
// reports in status, which an autoscaler uses to find the pods.
func scaleFromEasyService(es *easyservice.EasyService) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name:              es.Name,
			Namespace:         es.Namespace,
			UID:               es.UID,
			ResourceVersion:   es.ResourceVersion,
			CreationTimestamp: es.CreationTimestamp,
		},
		Spec: autoscalingv1.ScaleSpec{Replicas: es.Spec.Replicas},
		Status: autoscalingv1.ScaleStatus{
			Replicas: es.Status.Replicas,
			Selector: es.Status.Selector,
		},
	}
}

// scaleUpdatedObjectInfo turns the stored EasyService into its Scale, lets the request update the
// Scale, and writes the new replica count (and the Scale's managed fields) back to the EasyService.
type scaleUpdatedObjectInfo struct {
	name       string
	reqObjInfo rest.UpdatedObjectInfo
}

func (i *scaleUpdatedObjectInfo) Preconditions() *metav1.Preconditions {
	return i.reqObjInfo.Preconditions()
}

func (i *scaleUpdatedObjectInfo) UpdatedObject(ctx context.Context, oldObj runtime.Object) (runtime.Object, error) {
	es := oldObj.DeepCopyObject().(*easyservice.EasyService)
	// The store passes an empty object when the EasyService does not exist.
	if es.ResourceVersion == "" {
		return nil, errors.NewNotFound(easyservice.Resource("easyservices/scale"), i.name)
	}

	groupVersion := v1.SchemeGroupVersion
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok {
		gv := schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
		if _, served := replicasPaths[gv.String()]; !served {
			return nil, errors.NewBadRequest(fmt.Sprintf("unknown group version %s for easyservices/scale", gv))
		}
		groupVersion = gv
	}
	managedFields := managedfields.NewScaleHandler(es.ManagedFields, groupVersion, replicasPaths)

	oldScale := scaleFromEasyService(es)
	scaleManagedFields, err := managedFields.ToSubresource()
	if err != nil {
		return nil, err
	}
	oldScale.ManagedFields = scaleManagedFields

	newObj, err := i.reqObjInfo.UpdatedObject(ctx, oldScale)
	if err != nil {
		return nil, err
	}
	scale, ok := newObj.(*autoscalingv1.Scale)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("expected an autoscaling/v1 Scale, got %T", newObj))
	}
	if errs := validateScale(scale); len(errs) > 0 {
		return nil, errors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), es.Name, errs)
	}
	if scale.UID != "" && scale.UID != es.UID {
		return nil, errors.NewConflict(easyservice.Resource("easyservices/scale"), es.Name,
			fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", scale.UID, es.UID))
	}

	es.Spec.Replicas = scale.Spec.Replicas
	es.ResourceVersion = scale.ResourceVersion
	if es.ManagedFields, err = managedFields.ToParent(scale.ManagedFields); err != nil {
		return nil, err
	}
	return es, nil
}

// validateScale checks what a Scale may change: the replica count, which must not be negative.
func validateScale(scale *autoscalingv1.Scale) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(int64(scale.Spec.Replicas), field.NewPath("spec", "replicas"))
}
