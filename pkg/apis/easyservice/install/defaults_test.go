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

package install

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
)

// TestDefaults: what the scheme's defaulters (markers and SetDefaults_* together) give in each
// version, the defaults the controller relies on.
func TestDefaults(t *testing.T) {
	scheme := runtime.NewScheme()
	Install(scheme)

	v1Tests := []struct {
		name string
		in   v1.EasyServiceSpec
		want v1.EasyServiceSpec
	}{{
		name: "empty",
		want: v1.EasyServiceSpec{Replicas: ptr.To[int32](1), ServiceType: corev1.ServiceTypeNodePort},
	}, {
		name: "a single unnamed port: protocol, target port and name",
		in:   v1.EasyServiceSpec{Ports: []v1.EasyServicePort{{Port: 80}}},
		want: v1.EasyServiceSpec{
			Replicas: ptr.To[int32](1), ServiceType: corev1.ServiceTypeNodePort,
			Ports: []v1.EasyServicePort{{Name: "tcp-80", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)}},
		},
	}, {
		name: "a single unnamed UDP port is named after its protocol",
		in:   v1.EasyServiceSpec{Ports: []v1.EasyServicePort{{Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)}}},
		want: v1.EasyServiceSpec{
			Replicas: ptr.To[int32](1), ServiceType: corev1.ServiceTypeNodePort,
			Ports: []v1.EasyServicePort{{Name: "udp-53", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)}},
		},
	}, {
		name: "two ports: no names made up; set fields kept",
		in: v1.EasyServiceSpec{
			Replicas: ptr.To[int32](0), ServiceType: corev1.ServiceTypeClusterIP,
			Ports: []v1.EasyServicePort{{Port: 80}, {Port: 443, TargetPort: intstr.FromString("https")}},
		},
		want: v1.EasyServiceSpec{
			Replicas: ptr.To[int32](0), ServiceType: corev1.ServiceTypeClusterIP,
			Ports: []v1.EasyServicePort{
				{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)},
				{Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromString("https")},
			},
		},
	}}
	for _, tc := range v1Tests {
		es := &v1.EasyService{Spec: tc.in}
		testDefault(t, scheme, "v1/"+tc.name, es, &es.Spec, tc.want)
	}

	v1beta1Tests := []struct {
		name string
		in   v1beta1.EasyServiceSpec
		want v1beta1.EasyServiceSpec
	}{{
		name: "empty",
		want: v1beta1.EasyServiceSpec{Replicas: ptr.To[int32](1), ServiceType: corev1.ServiceTypeNodePort},
	}, {
		name: "a single unnamed port: protocol, target port and name",
		in:   v1beta1.EasyServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		want: v1beta1.EasyServiceSpec{
			Replicas: ptr.To[int32](1), ServiceType: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Name: "tcp-80", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)}},
		},
	}, {
		name: "two ports: no names made up; set fields kept",
		in: v1beta1.EasyServiceSpec{
			Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolSCTP, Port: 80}, {Port: 443, TargetPort: intstr.FromInt32(8443)}},
		},
		want: v1beta1.EasyServiceSpec{
			Replicas: ptr.To[int32](1), ServiceType: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{
				{Protocol: corev1.ProtocolSCTP, Port: 80, TargetPort: intstr.FromInt32(80)},
				{Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(8443)},
			},
		},
	}}
	for _, tc := range v1beta1Tests {
		es := &v1beta1.EasyService{Spec: tc.in}
		testDefault(t, scheme, "v1beta1/"+tc.name, es, &es.Spec, tc.want)
	}
}

// testDefault defaults obj with scheme and compares its spec, at spec, with want.
func testDefault[S any](t *testing.T, scheme *runtime.Scheme, name string, obj runtime.Object, spec *S, want S) {
	t.Run(name, func(t *testing.T) {
		scheme.Default(obj)
		if diff := cmp.Diff(want, *spec); diff != "" {
			t.Errorf("defaulted spec (-want +got):\n%s", diff)
		}
	})
}
