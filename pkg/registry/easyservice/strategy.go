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

// Package easyservice holds the storage strategies and the table convertor of EasyServices.
package easyservice

import (
	"context"
	"fmt"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
)

// servedVersions are the API versions whose fields GetResetFields describes.
var servedVersions = []fieldpath.APIVersion{"app.easyservice.io/v1", "app.easyservice.io/v1beta1"}

// Strategy is the logic that applies when EasyServices are created and updated through the main
// resource. It needs the validation options of the server (the node port range), so it is built by
// NewStrategy rather than being a package variable.
type Strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	options validation.Options
}

// NewStrategy returns the strategy of the main resource.
func NewStrategy(typer runtime.ObjectTyper, options validation.Options) Strategy {
	return Strategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator, options: options}
}

var (
	_ rest.RESTCreateUpdateStrategy        = Strategy{}
	_ rest.RESTDeleteStrategy              = Strategy{}
	_ rest.GarbageCollectionDeleteStrategy = Strategy{}
	_ rest.ResetFieldsStrategy             = Strategy{}
	_ rest.RESTUpdateStrategy              = StatusStrategy{}
	_ rest.ResetFieldsStrategy             = StatusStrategy{}
)

// NamespaceScoped is true: EasyServices live in namespaces.
func (Strategy) NamespaceScoped() bool { return true }

// DefaultGarbageCollectionPolicy deletes dependents in the background, as for built-in workloads.
func (Strategy) DefaultGarbageCollectionPolicy(context.Context) rest.GarbageCollectionPolicy {
	return rest.DeleteDependents
}

// GetResetFields tells server-side apply that the main resource never changes status.
func (Strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return resetFields(fieldpath.MakePathOrDie("status"))
}

// PrepareForCreate clears the status and sets the first generation.
func (Strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	es := obj.(*easyservice.EasyService)
	es.Status = easyservice.EasyServiceStatus{}
	es.Generation = 1
}

// PrepareForUpdate keeps the stored status and bumps the generation when the spec changed.
func (Strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newES := obj.(*easyservice.EasyService)
	oldES := old.(*easyservice.EasyService)
	newES.Status = oldES.Status
	if !apiequality.Semantic.DeepEqual(newES.Spec, oldES.Spec) {
		newES.Generation = oldES.Generation + 1
	}
}

// Validate validates a new EasyService.
func (s Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return inRequestVersion(ctx, validation.ValidateEasyService(obj.(*easyservice.EasyService), s.options))
}

// WarningsOnCreate returns advice on a valid new EasyService.
func (Strategy) WarningsOnCreate(_ context.Context, obj runtime.Object) []string {
	return specWarnings(&obj.(*easyservice.EasyService).Spec, nil)
}

// Canonicalize does nothing: an EasyService has a single canonical form after defaulting.
func (Strategy) Canonicalize(runtime.Object) {}

// AllowCreateOnUpdate is false: an update (or a non-apply patch) of a missing object is a 404.
func (Strategy) AllowCreateOnUpdate(context.Context) bool { return false }

// AllowUnconditionalUpdate is true: an update without a resourceVersion overwrites.
func (Strategy) AllowUnconditionalUpdate(context.Context) bool { return true }

// ValidateUpdate validates an update of an EasyService.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return inRequestVersion(ctx, validation.ValidateEasyServiceUpdate(obj.(*easyservice.EasyService), old.(*easyservice.EasyService), s.options))
}

// v1beta1Fields maps the hub's field paths to the names a v1beta1 client wrote, where they differ.
var v1beta1Fields = []struct{ hub, v1beta1 string }{
	{"spec.replicas", "spec.size"},
	{"spec.env", "spec.envs"},
}

// inRequestVersion renames the field paths of validation errors, which name the hub's fields, to
// those of the request's version, so that a v1beta1 client reads "spec.size", not "spec.replicas".
func inRequestVersion(ctx context.Context, errs field.ErrorList) field.ErrorList {
	info, ok := genericapirequest.RequestInfoFrom(ctx)
	if !ok || info.APIVersion != v1beta1.SchemeGroupVersion.Version {
		return errs
	}
	for _, err := range errs {
		for _, f := range v1beta1Fields {
			if rest, found := strings.CutPrefix(err.Field, f.hub); found && (rest == "" || rest[0] == '.' || rest[0] == '[') {
				err.Field = f.v1beta1 + rest
			}
		}
	}
	return errs
}

// WarningsOnUpdate returns advice on an update, only for what the update changed.
func (Strategy) WarningsOnUpdate(_ context.Context, obj, old runtime.Object) []string {
	return specWarnings(&obj.(*easyservice.EasyService).Spec, &old.(*easyservice.EasyService).Spec)
}

// specWarnings warns about an image that will float: no tag, or the ":latest" tag. On update it
// warns only when the image changed.
func specWarnings(spec, oldSpec *easyservice.EasyServiceSpec) []string {
	if oldSpec != nil && oldSpec.Image == spec.Image {
		return nil
	}
	image := spec.Image
	if i := strings.Index(image, "@"); i >= 0 {
		return nil // pinned by digest
	}
	tag := ""
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		tag = image[i+1:]
	}
	switch tag {
	case "":
		return []string{fmt.Sprintf("spec.image: %q has no tag, so it means :latest and the pods may run different versions; pin a tag or a digest", image)}
	case "latest":
		return []string{fmt.Sprintf("spec.image: %q uses the :latest tag, so the pods may run different versions; pin a tag or a digest", image)}
	}
	return nil
}

// StatusStrategy is the logic of the /status subresource: only status changes, and spec and
// metadata changes are ignored.
type StatusStrategy struct {
	Strategy
}

// NewStatusStrategy returns the strategy of the /status subresource.
func NewStatusStrategy(s Strategy) StatusStrategy {
	return StatusStrategy{s}
}

// GetResetFields tells server-side apply that /status never changes spec or metadata.
func (StatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return resetFields(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata"))
}

// PrepareForUpdate keeps everything of the stored object but its status.
func (StatusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newES := obj.(*easyservice.EasyService)
	oldES := old.(*easyservice.EasyService)
	newES.Spec = oldES.Spec
	// Status writers may not change labels, annotations or other metadata either; the generic
	// store keeps the system fields (UID, creation time, ...) itself.
	newES.Labels = oldES.Labels
	newES.Annotations = oldES.Annotations
	newES.OwnerReferences = oldES.OwnerReferences
	newES.Finalizers = oldES.Finalizers
}

// ValidateUpdate validates a status update.
func (StatusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateEasyServiceStatusUpdate(obj.(*easyservice.EasyService), old.(*easyservice.EasyService))
}

// WarningsOnUpdate returns no warnings: status is written by controllers.
func (StatusStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func resetFields(paths ...fieldpath.Path) map[fieldpath.APIVersion]*fieldpath.Set {
	fields := make(map[fieldpath.APIVersion]*fieldpath.Set, len(servedVersions))
	for _, v := range servedVersions {
		fields[v] = fieldpath.NewSet(paths...)
	}
	return fields
}

// GetAttrs returns the labels and the selectable fields of an EasyService.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	es, ok := obj.(*easyservice.EasyService)
	if !ok {
		return nil, nil, fmt.Errorf("not an EasyService: %T", obj)
	}
	return es.Labels, SelectableFields(es), nil
}

// SelectableFields returns the fields a field selector can match: metadata.name,
// metadata.namespace, spec.image and spec.serviceType.
func SelectableFields(es *easyservice.EasyService) fields.Set {
	return generic.AddObjectMetaFieldsSet(fields.Set{
		easyservice.FieldImage:       es.Spec.Image,
		easyservice.FieldServiceType: string(es.Spec.ServiceType),
	}, &es.ObjectMeta, true)
}

// MatchEasyService returns the storage predicate of a label and a field selector.
func MatchEasyService(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{
		Label:    label,
		Field:    field,
		GetAttrs: GetAttrs,
	}
}
