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

// Package install registers the app.easyservice.io API group in a scheme.
package install

import (
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
)

// Install registers the internal types and every served version, v1 first: it is the preferred
// and the storage version.
func Install(scheme *runtime.Scheme) {
	utilruntime.Must(easyservice.AddToScheme(scheme))
	utilruntime.Must(v1.AddToScheme(scheme))
	utilruntime.Must(v1beta1.AddToScheme(scheme))
	utilruntime.Must(scheme.SetVersionPriority(v1.SchemeGroupVersion, v1beta1.SchemeGroupVersion))
	utilruntime.Must(addCrossVersionConversions(scheme))
}

// addCrossVersionConversions registers conversions between the two served versions of an
// EasyService, through the internal type. The codecs never need them (they convert to and from the
// internal version), but a typed object's ConvertToVersion from one external version to another does:
// k8s.io/apiserver's MutatingAdmissionPolicy dispatcher evaluates a policy in the version it matches
// (v1 for a policy written against v1) and converts the patched object straight back to the
// request's version, so a v1beta1 request under a v1 policy would otherwise fail with "unknown
// conversion". Only single objects pass through admission; lists do not.
func addCrossVersionConversions(scheme *runtime.Scheme) error {
	if err := scheme.AddConversionFunc((*v1.EasyService)(nil), (*v1beta1.EasyService)(nil), viaInternal(scheme)); err != nil {
		return err
	}
	return scheme.AddConversionFunc((*v1beta1.EasyService)(nil), (*v1.EasyService)(nil), viaInternal(scheme))
}

// viaInternal converts an external EasyService to the internal type and that to the other version,
// with the generated and hand-written conversions each version already registers.
func viaInternal(scheme *runtime.Scheme) conversion.ConversionFunc {
	return func(in, out any, scope conversion.Scope) error {
		var context any
		if meta := scope.Meta(); meta != nil {
			context = meta.Context
		}
		internal := &easyservice.EasyService{}
		if err := scheme.Convert(in, internal, context); err != nil {
			return err
		}
		return scheme.Convert(internal, out, context)
	}
}
