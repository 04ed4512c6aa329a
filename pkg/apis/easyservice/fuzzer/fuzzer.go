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

// Package fuzzer holds the fuzzer functions of the app.easyservice.io API group, used by the
// round-trip tests.
package fuzzer

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// Funcs returns the fuzzer functions of the group. They produce internal objects as they look after
// defaulting, so that decoding (which defaults) gives back the same object.
var Funcs = func(_ runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(s *easyservice.EasyServiceSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			defaultSpec(s)
		},
		func(is *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*is = intstr.FromInt32(c.Int31())
			} else {
				*is = intstr.FromString(c.String(0))
			}
		},
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewQuantity(c.Int63n(1000), resource.DecimalExponent)
		},
	}
}

// defaultSpec defaults s as decoding does: through v1's defaulters, so that the defaults are defined
// in one place. (The internal spec converts to v1 and back losslessly.)
func defaultSpec(s *easyservice.EasyServiceSpec) {
	es := &v1.EasyService{}
	if err := v1.Convert_easyservice_EasyServiceSpec_To_v1_EasyServiceSpec(s, &es.Spec, nil); err != nil {
		panic(fmt.Sprintf("converting a fuzzed spec to v1: %v", err))
	}
	v1.SetObjectDefaults_EasyService(es)
	if err := v1.Convert_v1_EasyServiceSpec_To_easyservice_EasyServiceSpec(&es.Spec, s, nil); err != nil {
		panic(fmt.Sprintf("converting a defaulted spec from v1: %v", err))
	}
}
