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

package v1

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_EasyServiceSpec names a single unnamed port. The +default markers on the types
// default replicas to 1, the service type to NodePort and protocols to TCP.
func SetDefaults_EasyServiceSpec(obj *EasyServiceSpec) {
	// A single unnamed port gets a name, so the container port and the Service port are named too.
	if len(obj.Ports) == 1 && obj.Ports[0].Name == "" {
		SetDefaults_EasyServicePort(&obj.Ports[0])
		obj.Ports[0].Name = DefaultPortName(obj.Ports[0].Protocol, obj.Ports[0].Port)
	}
}

// SetDefaults_EasyServicePort defaults the protocol to TCP and the target port to the port.
func SetDefaults_EasyServicePort(obj *EasyServicePort) {
	if obj.Protocol == "" {
		obj.Protocol = corev1.ProtocolTCP
	}
	if obj.TargetPort.Type == intstr.Int && obj.TargetPort.IntVal == 0 {
		obj.TargetPort = intstr.FromInt32(obj.Port)
	}
}

// DefaultPortName is the name given to the only port of an EasyService when it has none,
// for example "tcp-80".
func DefaultPortName(protocol corev1.Protocol, port int32) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(string(protocol)), port)
}
