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
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_EasyServiceSpec applies v1's port defaults that no marker says: targetPort = port, and a
// name for a single unnamed port. The +default markers default size and service type, and
// corev1.ServicePort's own marker the protocol (TCP).
func SetDefaults_EasyServiceSpec(obj *EasyServiceSpec) {
	for i := range obj.Ports {
		obj.Ports[i].TargetPort = v1.DefaultTargetPort(obj.Ports[i].TargetPort, obj.Ports[i].Port)
	}
	if len(obj.Ports) == 1 && obj.Ports[0].Name == "" {
		obj.Ports[0].Name = v1.DefaultPortName(obj.Ports[0].Protocol, obj.Ports[0].Port)
	}
}
