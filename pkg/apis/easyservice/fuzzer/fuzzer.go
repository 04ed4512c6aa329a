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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/randfill"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
)

// Funcs returns the fuzzer functions of the group. They produce internal objects as they look after
// defaulting, so that decoding (which defaults) gives back the same object.
var Funcs = func(_ runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(s *easyservice.EasyServiceSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.ServiceType == "" {
				s.ServiceType = corev1.ServiceTypeNodePort
			}
			for i := range s.Ports {
				p := &s.Ports[i]
				if p.Protocol == "" {
					p.Protocol = corev1.ProtocolTCP
				}
				if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
					p.TargetPort = intstr.FromInt32(p.Port)
				}
			}
			for i := range s.Env {
				if ref := s.Env[i].ValueFrom; ref != nil && ref.FileKeyRef != nil && ref.FileKeyRef.Optional == nil {
					ref.FileKeyRef.Optional = ptr.To(false)
				}
			}
			if len(s.Ports) == 1 && s.Ports[0].Name == "" {
				s.Ports[0].Name = fmt.Sprintf("port-%d", s.Ports[0].Port)
			}
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
