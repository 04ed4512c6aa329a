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
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
)

func addConversionFuncs(scheme *runtime.Scheme) error {
	return scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("EasyService"), easyservice.ConvertFieldLabel)
}

// Convert_v1beta1_EasyServiceSpec_To_easyservice_EasyServiceSpec maps envs to env and Service-shaped
// ports to EasyService ports.
func Convert_v1beta1_EasyServiceSpec_To_easyservice_EasyServiceSpec(in *EasyServiceSpec, out *easyservice.EasyServiceSpec, s conversion.Scope) error {
	if err := autoConvert_v1beta1_EasyServiceSpec_To_easyservice_EasyServiceSpec(in, out, s); err != nil {
		return err
	}
	out.Env = in.Envs
	out.Ports = nil
	if in.Ports != nil {
		out.Ports = make([]easyservice.EasyServicePort, len(in.Ports))
		for i, p := range in.Ports {
			out.Ports[i] = easyservice.EasyServicePort{
				Name:        p.Name,
				Protocol:    p.Protocol,
				AppProtocol: p.AppProtocol,
				Port:        p.Port,
				TargetPort:  p.TargetPort,
				NodePort:    p.NodePort,
			}
		}
	}
	return nil
}

// Convert_easyservice_EasyServiceSpec_To_v1beta1_EasyServiceSpec maps env to envs and EasyService
// ports to Service-shaped ports.
func Convert_easyservice_EasyServiceSpec_To_v1beta1_EasyServiceSpec(in *easyservice.EasyServiceSpec, out *EasyServiceSpec, s conversion.Scope) error {
	if err := autoConvert_easyservice_EasyServiceSpec_To_v1beta1_EasyServiceSpec(in, out, s); err != nil {
		return err
	}
	out.Envs = in.Env
	out.Ports = nil
	if in.Ports != nil {
		out.Ports = make([]corev1.ServicePort, len(in.Ports))
		for i, p := range in.Ports {
			out.Ports[i] = corev1.ServicePort{
				Name:        p.Name,
				Protocol:    p.Protocol,
				AppProtocol: p.AppProtocol,
				Port:        p.Port,
				TargetPort:  p.TargetPort,
				NodePort:    p.NodePort,
			}
		}
	}
	return nil
}
