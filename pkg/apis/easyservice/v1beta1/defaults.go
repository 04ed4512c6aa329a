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

package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_EasyServiceSpec applies the port defaults of v1: protocol TCP, targetPort = port, and a
// name for a single unnamed port. The +default markers on the types default size and service type.
func SetDefaults_EasyServiceSpec(obj *EasyServiceSpec) {
	for i := range obj.Ports {
		p := &obj.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if len(obj.Ports) == 1 && obj.Ports[0].Name == "" {
		obj.Ports[0].Name = v1.DefaultPortName(obj.Ports[0].Protocol, obj.Ports[0].Port)
	}
}
