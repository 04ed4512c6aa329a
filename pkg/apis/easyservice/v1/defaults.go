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
	"cmp"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// The +default markers on the types say what they can: replicas 1, service type NodePort, protocol
// TCP (they also feed the OpenAPI schema). The functions here default what a marker cannot say: a
// target port that is another field's value, and the name of a single unnamed port. The generated
// SetObjectDefaults_EasyService calls them before it applies the markers' defaults.

// SetDefaults_EasyServiceSpec names a single unnamed port, so the container port and the Service
// port are named too.
func SetDefaults_EasyServiceSpec(obj *EasyServiceSpec) {
	if len(obj.Ports) == 1 && obj.Ports[0].Name == "" {
		obj.Ports[0].Name = DefaultPortName(obj.Ports[0].Protocol, obj.Ports[0].Port)
	}
}

// SetDefaults_EasyServicePort defaults the target port to the port.
func SetDefaults_EasyServicePort(obj *EasyServicePort) {
	obj.TargetPort = DefaultTargetPort(obj.TargetPort, obj.Port)
}

// DefaultTargetPort is targetPort, or port when targetPort is unset.
func DefaultTargetPort(targetPort intstr.IntOrString, port int32) intstr.IntOrString {
	if targetPort.Type == intstr.Int && targetPort.IntVal == 0 {
		return intstr.FromInt32(port)
	}
	return targetPort
}

// DefaultPortName is the name given to the only port of an EasyService when it has none, for
// example "tcp-80". An empty protocol is the protocol's default (its marker, applied after
// SetDefaults_EasyServiceSpec runs).
func DefaultPortName(protocol corev1.Protocol, port int32) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(string(cmp.Or(protocol, corev1.ProtocolTCP))), port)
}
