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

package validation

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/install"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
)

// Error keys, "<type> <field>", as errorKeys builds them.
const (
	required     = string(field.ErrorTypeRequired) + " "
	invalid      = string(field.ErrorTypeInvalid) + " "
	notSupported = string(field.ErrorTypeNotSupported) + " "
	duplicate    = string(field.ErrorTypeDuplicate) + " "
	forbidden    = string(field.ErrorTypeForbidden) + " "
)

// errorKeys returns the type and field of every error, sorted, for example
// "FieldValueRequired spec.image".
func errorKeys(errs field.ErrorList) []string {
	keys := make([]string, 0, len(errs))
	for _, err := range errs {
		keys = append(keys, string(err.Type)+" "+err.Field)
	}
	slices.Sort(keys)
	return keys
}

// expectErrors fails the test unless errs has exactly the wanted types and fields. A validator
// reports one error per failed rule, so a value can have the same key more than once.
func expectErrors(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	want = slices.Clone(want)
	if want == nil {
		want = []string{}
	}
	slices.Sort(want)
	if got := errorKeys(errs); !slices.Equal(got, want) {
		t.Errorf("errors = %q, want %q\nfull errors: %v", got, want, errs)
	}
}

// validEasyService returns a minimal valid, defaulted EasyService.
func validEasyService() *easyservice.EasyService {
	return &easyservice.EasyService{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: easyservice.EasyServiceSpec{
			Replicas:    1,
			Image:       "nginx:1.27",
			ServiceType: corev1.ServiceTypeNodePort,
			Ports: []easyservice.EasyServicePort{{
				Name:       "tcp-80",
				Protocol:   corev1.ProtocolTCP,
				Port:       80,
				TargetPort: intstr.FromInt32(80),
			}},
		},
	}
}

// port returns a TCP port whose target port is the port itself.
func port(name string, number int32) easyservice.EasyServicePort {
	return easyservice.EasyServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: number, TargetPort: intstr.FromInt32(number)}
}

// withPorts sets the ports of the EasyService.
func withPorts(ports ...easyservice.EasyServicePort) func(*easyservice.EasyService) {
	return func(es *easyservice.EasyService) { es.Spec.Ports = ports }
}

// withEnv sets the environment variables of the EasyService.
func withEnv(env ...corev1.EnvVar) func(*easyservice.EasyService) {
	return func(es *easyservice.EasyService) { es.Spec.Env = env }
}

// withResources sets the resources of the EasyService.
func withResources(limits, requests corev1.ResourceList) func(*easyservice.EasyService) {
	return func(es *easyservice.EasyService) {
		es.Spec.Resources = corev1.ResourceRequirements{Limits: limits, Requests: requests}
	}
}

func TestDefaultOptions(t *testing.T) {
	opts := DefaultOptions()
	if opts.NodePortRange != (utilnet.PortRange{Base: 30000, Size: 2768}) {
		t.Errorf("DefaultOptions().NodePortRange = %+v, want 30000-32767", opts.NodePortRange)
	}
	if got := opts.NodePortRange.String(); got != "30000-32767" {
		t.Errorf("DefaultOptions().NodePortRange.String() = %q, want 30000-32767", got)
	}
	if DefaultNodePortRange != opts.NodePortRange {
		t.Errorf("DefaultNodePortRange = %+v, want %+v", DefaultNodePortRange, opts.NodePortRange)
	}
}

func TestValidateEasyService(t *testing.T) {
	narrowRange := Options{NodePortRange: utilnet.PortRange{Base: 31000, Size: 10}}
	secretRef := &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}
	configMapRef := &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "config"}, Key: "mode"}}
	fieldRef := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
	}
	resourceRef := func(res string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: res}}
	}
	q := resource.MustParse

	tests := []struct {
		name   string
		tweak  func(*easyservice.EasyService)
		opts   *Options // DefaultOptions() when nil
		expect []string
	}{
		// Valid objects.
		{name: "valid minimal", tweak: func(*easyservice.EasyService) {}},
		{name: "valid v1beta1 sample", tweak: func(es *easyservice.EasyService) {
			es.Name = "example-easyservice"
			es.Spec = easyservice.EasyServiceSpec{
				Replicas:    2,
				Image:       "nginx:1.7.9",
				ServiceType: corev1.ServiceTypeNodePort,
				Ports: []easyservice.EasyServicePort{{
					Name: "tcp-80", Protocol: corev1.ProtocolTCP, Port: 80,
					TargetPort: intstr.FromInt32(80), NodePort: 31002,
				}},
			}
		}},
		{name: "valid full", tweak: func(es *easyservice.EasyService) {
			es.Spec = easyservice.EasyServiceSpec{
				Replicas:        3,
				Image:           "registry.example.com:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				ImagePullPolicy: corev1.PullIfNotPresent,
				ServiceType:     corev1.ServiceTypeLoadBalancer,
				Env: []corev1.EnvVar{
					{Name: "MODE", Value: "prod"},
					{Name: "EMPTY"},
					{Name: "PASSWORD", ValueFrom: secretRef},
					{Name: "FEATURE", ValueFrom: configMapRef},
					{Name: "POD_NAME", ValueFrom: fieldRef("metadata.name")},
					{Name: "APP", ValueFrom: fieldRef("metadata.labels['app']")},
					{Name: "CPU", ValueFrom: resourceRef("limits.cpu")},
				},
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("256Mi"), "example.com/gpu": q("1")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("128Mi"), corev1.ResourceEphemeralStorage: q("1Gi")},
				},
				Ports: []easyservice.EasyServicePort{
					{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30000, AppProtocol: ptr.To("http")},
					{Name: "h2c", Protocol: corev1.ProtocolTCP, Port: 81, TargetPort: intstr.FromInt32(8081), NodePort: 32767, AppProtocol: ptr.To("kubernetes.io/h2c")},
					{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353), NodePort: 30000},
					{Name: "sctp", Protocol: corev1.ProtocolSCTP, Port: 9999, TargetPort: intstr.FromInt32(65535)},
				},
			}
		}},
		{name: "valid zero replicas", tweak: func(es *easyservice.EasyService) { es.Spec.Replicas = 0 }},
		{name: "valid ClusterIP", tweak: func(es *easyservice.EasyService) { es.Spec.ServiceType = corev1.ServiceTypeClusterIP }},
		{name: "valid LoadBalancer", tweak: func(es *easyservice.EasyService) { es.Spec.ServiceType = corev1.ServiceTypeLoadBalancer }},
		{name: "valid pull policy Always", tweak: func(es *easyservice.EasyService) { es.Spec.ImagePullPolicy = corev1.PullAlways }},
		{name: "valid pull policy Never", tweak: func(es *easyservice.EasyService) { es.Spec.ImagePullPolicy = corev1.PullNever }},
		{name: "valid pull policy IfNotPresent", tweak: func(es *easyservice.EasyService) { es.Spec.ImagePullPolicy = corev1.PullIfNotPresent }},

		// Metadata.
		{name: "missing name", tweak: func(es *easyservice.EasyService) { es.Name = "" },
			expect: []string{required + "metadata.name"}},
		{name: "name not a DNS-1035 label: leading digit", tweak: func(es *easyservice.EasyService) { es.Name = "1web" },
			expect: []string{invalid + "metadata.name"}},
		{name: "name not a DNS-1035 label: dot", tweak: func(es *easyservice.EasyService) { es.Name = "web.app" },
			expect: []string{invalid + "metadata.name"}},
		{name: "missing namespace", tweak: func(es *easyservice.EasyService) { es.Namespace = "" },
			expect: []string{required + "metadata.namespace"}},

		// Image.
		{name: "missing image", tweak: func(es *easyservice.EasyService) { es.Spec.Image = "" },
			expect: []string{required + "spec.image"}},
		{name: "image with leading whitespace", tweak: func(es *easyservice.EasyService) { es.Spec.Image = " nginx" },
			expect: []string{invalid + "spec.image"}},
		{name: "image with trailing whitespace", tweak: func(es *easyservice.EasyService) { es.Spec.Image = "nginx\n" },
			expect: []string{invalid + "spec.image"}},
		{name: "image with inner whitespace", tweak: func(es *easyservice.EasyService) { es.Spec.Image = "nginx :1.27" },
			expect: []string{invalid + "spec.image"}},

		// Replicas, pull policy and service type.
		{name: "negative replicas", tweak: func(es *easyservice.EasyService) { es.Spec.Replicas = -1 },
			expect: []string{invalid + "spec.replicas"}},
		{name: "unsupported pull policy", tweak: func(es *easyservice.EasyService) { es.Spec.ImagePullPolicy = "Sometimes" },
			expect: []string{notSupported + "spec.imagePullPolicy"}},
		{name: "missing service type", tweak: func(es *easyservice.EasyService) { es.Spec.ServiceType = "" },
			expect: []string{required + "spec.serviceType"}},
		{name: "ExternalName service type", tweak: func(es *easyservice.EasyService) { es.Spec.ServiceType = corev1.ServiceTypeExternalName },
			expect: []string{notSupported + "spec.serviceType"}},
		{name: "unknown service type", tweak: func(es *easyservice.EasyService) { es.Spec.ServiceType = "Headless" },
			expect: []string{notSupported + "spec.serviceType"}},

		// Ports.
		{name: "no ports for NodePort", tweak: withPorts(),
			expect: []string{required + "spec.ports"}},
		{name: "no ports for ClusterIP", tweak: func(es *easyservice.EasyService) {
			es.Spec.ServiceType = corev1.ServiceTypeClusterIP
			es.Spec.Ports = nil
		}, expect: []string{required + "spec.ports"}},
		{name: "no ports for LoadBalancer", tweak: func(es *easyservice.EasyService) {
			es.Spec.ServiceType = corev1.ServiceTypeLoadBalancer
			es.Spec.Ports = nil
		}, expect: []string{required + "spec.ports"}},
		{name: "port zero", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Port = 0 },
			expect: []string{invalid + "spec.ports[0].port"}},
		{name: "port too large", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Port = 65536 },
			expect: []string{invalid + "spec.ports[0].port"}},
		{name: "target port zero", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].TargetPort = intstr.FromInt32(0) },
			expect: []string{invalid + "spec.ports[0].targetPort"}},
		{name: "target port too large", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) },
			expect: []string{invalid + "spec.ports[0].targetPort"}},
		{name: "target port name", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].TargetPort = intstr.FromString("http") },
			expect: []string{invalid + "spec.ports[0].targetPort"}},
		{name: "target port name of another port", tweak: withPorts(port("http", 8080), easyservice.EasyServicePort{
			Name: "web", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}),
			expect: []string{invalid + "spec.ports[1].targetPort"}},
		{name: "target port name invalid", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].TargetPort = intstr.FromString("not_valid") },
			expect: []string{invalid + "spec.ports[0].targetPort"}},
		{name: "target port name empty", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].TargetPort = intstr.FromString("") },
			expect: []string{invalid + "spec.ports[0].targetPort"}},
		{name: "target port of unknown type", tweak: func(es *easyservice.EasyService) {
			es.Spec.Ports[0].TargetPort = intstr.IntOrString{Type: 7}
		}, expect: []string{string(field.ErrorTypeInternal) + " spec.ports[0].targetPort"}},
		{name: "protocol UDP", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Protocol = corev1.ProtocolUDP }},
		{name: "protocol SCTP", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Protocol = corev1.ProtocolSCTP }},
		{name: "missing protocol", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Protocol = "" },
			expect: []string{required + "spec.ports[0].protocol"}},
		{name: "unsupported protocol", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Protocol = "HTTP" },
			expect: []string{notSupported + "spec.ports[0].protocol"}},
		{name: "single unnamed port", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Name = "" }},
		{name: "port name with underscore", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Name = "tcp_80" },
			expect: []string{invalid + "spec.ports[0].name"}},
		{name: "port name with upper case", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Name = "HTTP" },
			expect: []string{invalid + "spec.ports[0].name", invalid + "spec.ports[0].name"}},
		{name: "port name too long", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].Name = "a-very-long-name" },
			expect: []string{invalid + "spec.ports[0].name"}},
		{name: "several named ports", tweak: withPorts(port("http", 80), port("https", 443))},
		{name: "unnamed port among several", tweak: withPorts(port("http", 80), port("", 443)),
			expect: []string{required + "spec.ports[1].name"}},
		{name: "duplicate port names", tweak: withPorts(port("http", 80), port("https", 443), port("http", 8080)),
			expect: []string{duplicate + "spec.ports[2].name"}},
		{name: "duplicate port and protocol", tweak: withPorts(port("http", 80), port("web", 80)),
			expect: []string{duplicate + "spec.ports[1]"}},
		{name: "same port with different protocols", tweak: func(es *easyservice.EasyService) {
			udp := port("dns-udp", 53)
			udp.Protocol = corev1.ProtocolUDP
			es.Spec.Ports = []easyservice.EasyServicePort{port("dns-tcp", 53), udp}
		}},
		{name: "valid app protocol", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].AppProtocol = ptr.To("kubernetes.io/ws") }},
		{name: "invalid app protocol", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].AppProtocol = ptr.To("not a protocol") },
			expect: []string{invalid + "spec.ports[0].appProtocol"}},
		{name: "empty app protocol", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].AppProtocol = ptr.To("") },
			expect: []string{invalid + "spec.ports[0].appProtocol", invalid + "spec.ports[0].appProtocol"}},

		// Node ports.
		{name: "node port for LoadBalancer", tweak: func(es *easyservice.EasyService) {
			es.Spec.ServiceType = corev1.ServiceTypeLoadBalancer
			es.Spec.Ports[0].NodePort = 32000
		}},
		{name: "node port for ClusterIP", tweak: func(es *easyservice.EasyService) {
			es.Spec.ServiceType = corev1.ServiceTypeClusterIP
			es.Spec.Ports[0].NodePort = 31002
		}, expect: []string{forbidden + "spec.ports[0].nodePort"}},
		{name: "node port below the range", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 29999 },
			expect: []string{invalid + "spec.ports[0].nodePort"}},
		{name: "node port above the range", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 32768 },
			expect: []string{invalid + "spec.ports[0].nodePort"}},
		{name: "negative node port", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = -1 },
			expect: []string{invalid + "spec.ports[0].nodePort"}},
		{name: "node port outside the range for LoadBalancer", tweak: func(es *easyservice.EasyService) {
			es.Spec.ServiceType = corev1.ServiceTypeLoadBalancer
			es.Spec.Ports[0].NodePort = 8080
		}, expect: []string{invalid + "spec.ports[0].nodePort"}},
		{name: "node port inside a custom range", opts: &narrowRange,
			tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 31009 }},
		{name: "node port outside a custom range", opts: &narrowRange,
			tweak:  func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 31010 },
			expect: []string{invalid + "spec.ports[0].nodePort"}},
		{name: "zero options use the default range", opts: &Options{},
			tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 32767 }},
		{name: "duplicate node ports", tweak: func(es *easyservice.EasyService) {
			a, b := port("http", 80), port("https", 443)
			a.NodePort, b.NodePort = 31000, 31000
			es.Spec.Ports = []easyservice.EasyServicePort{a, b}
		}, expect: []string{duplicate + "spec.ports[1].nodePort"}},
		{name: "same node port with different protocols", tweak: func(es *easyservice.EasyService) {
			a, b := port("dns-tcp", 53), port("dns-udp", 53)
			b.Protocol = corev1.ProtocolUDP
			a.NodePort, b.NodePort = 31053, 31053
			es.Spec.Ports = []easyservice.EasyServicePort{a, b}
		}},

		// Environment variables.
		{name: "env name with dots and dashes", tweak: withEnv(corev1.EnvVar{Name: "my.var-1", Value: "x"})},
		{name: "missing env name", tweak: withEnv(corev1.EnvVar{Value: "x"}),
			expect: []string{required + "spec.env[0].name"}},
		{name: "invalid env name", tweak: withEnv(corev1.EnvVar{Name: "A=B", Value: "x"}),
			expect: []string{invalid + "spec.env[0].name"}},
		{name: "duplicate env names", tweak: withEnv(corev1.EnvVar{Name: "A", Value: "1"}, corev1.EnvVar{Name: "B"}, corev1.EnvVar{Name: "A", Value: "2"}),
			expect: []string{duplicate + "spec.env[2].name"}},
		{name: "env value and valueFrom", tweak: withEnv(corev1.EnvVar{Name: "A", Value: "x", ValueFrom: secretRef}),
			expect: []string{invalid + "spec.env[0].valueFrom"}},
		{name: "env valueFrom without source", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{}}),
			expect: []string{invalid + "spec.env[0].valueFrom"}},
		{name: "env valueFrom with two sources", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: secretRef.SecretKeyRef, ConfigMapKeyRef: configMapRef.ConfigMapKeyRef}}),
			expect: []string{invalid + "spec.env[0].valueFrom"}},
		{name: "env secret key missing", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}),
			expect: []string{required + "spec.env[0].valueFrom.secretKeyRef.key"}},
		{name: "env config map name missing", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			Key: "mode"}}}),
			expect: []string{invalid + "spec.env[0].valueFrom.configMapKeyRef.name"}},
		{name: "env config map key invalid", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "config"}, Key: "a/b"}}}),
			expect: []string{invalid + "spec.env[0].valueFrom.configMapKeyRef.key"}},
		{name: "env field path missing", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: fieldRef("")}),
			expect: []string{required + "spec.env[0].valueFrom.fieldRef.fieldPath"}},
		{name: "env field path unsupported", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: fieldRef("spec.containers")}),
			expect: []string{notSupported + "spec.env[0].valueFrom.fieldRef.fieldPath"}},
		{name: "env field path with empty subscript", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: fieldRef("metadata.labels['']")}),
			expect: []string{notSupported + "spec.env[0].valueFrom.fieldRef.fieldPath"}},
		{name: "env annotation field path", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: fieldRef("metadata.annotations['example.com/x']")})},
		{name: "env resource missing", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: resourceRef("")}),
			expect: []string{required + "spec.env[0].valueFrom.resourceFieldRef.resource"}},
		{name: "env resource unsupported", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: resourceRef("limits.gpu")}),
			expect: []string{notSupported + "spec.env[0].valueFrom.resourceFieldRef.resource"}},
		{name: "env huge pages resource", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: resourceRef("requests.hugepages-2Mi")})},
		{name: "env file key", tweak: withEnv(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{
			VolumeName: "config", Path: "env", Key: "A"}}}),
			expect: []string{forbidden + "spec.env[0].valueFrom.fileKeyRef"}},

		// Resources.
		{name: "requests without limits", tweak: withResources(nil, corev1.ResourceList{corev1.ResourceCPU: q("2")})},
		{name: "limits without requests", tweak: withResources(corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}, nil)},
		{name: "negative limit", tweak: withResources(corev1.ResourceList{corev1.ResourceCPU: q("-1")}, nil),
			expect: []string{invalid + "spec.resources.limits[cpu]"}},
		{name: "negative request", tweak: withResources(nil, corev1.ResourceList{corev1.ResourceMemory: q("-1Mi")}),
			expect: []string{invalid + "spec.resources.requests[memory]"}},
		{name: "invalid resource name", tweak: withResources(corev1.ResourceList{"bad name": q("1")}, nil),
			expect: []string{invalid + "spec.resources.limits[bad name]"}},
		{name: "request above limit", tweak: withResources(
			corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("1Gi")},
			corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("1Gi")}),
			expect: []string{invalid + "spec.resources.requests[cpu]"}},
		{name: "resource claims", tweak: func(es *easyservice.EasyService) {
			es.Spec.Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}}
		}, expect: []string{forbidden + "spec.resources.claims"}},

		// Several errors at once.
		{name: "several errors", tweak: func(es *easyservice.EasyService) {
			es.Spec.Image = ""
			es.Spec.Replicas = -2
			es.Spec.Ports = []easyservice.EasyServicePort{{Port: 0, TargetPort: intstr.FromInt32(0)}, port("http", 80)}
		}, expect: []string{
			required + "spec.image",
			invalid + "spec.replicas",
			required + "spec.ports[0].name",
			invalid + "spec.ports[0].port",
			required + "spec.ports[0].protocol",
			invalid + "spec.ports[0].targetPort",
		}},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := validEasyService()
			tc.tweak(es)
			opts := DefaultOptions()
			if tc.opts != nil {
				opts = *tc.opts
			}
			expectErrors(t, ValidateEasyService(es, opts), tc.expect)
		})
	}
}

// TestValidateDefaultedVersionedObjects checks that what the served versions accept, once defaulted
// and converted to the internal version as the server does, is valid.
func TestValidateDefaultedVersionedObjects(t *testing.T) {
	scheme := runtime.NewScheme()
	install.Install(scheme)
	meta := metav1.ObjectMeta{Name: "example-easyservice", Namespace: "default"}

	tests := []struct {
		name string
		obj  runtime.Object
	}{
		{name: "v1 minimal", obj: &v1.EasyService{ObjectMeta: meta, Spec: v1.EasyServiceSpec{
			Image: "nginx:1.27",
			Ports: []v1.EasyServicePort{{Port: 8080}},
		}}},
		{name: "v1 several ports", obj: &v1.EasyService{ObjectMeta: meta, Spec: v1.EasyServiceSpec{
			Image:       "nginx:1.27",
			ServiceType: corev1.ServiceTypeClusterIP,
			Ports:       []v1.EasyServicePort{{Name: "http", Port: 80}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}},
		}}},
		{name: "v1beta1 sample", obj: &v1beta1.EasyService{ObjectMeta: meta, Spec: v1beta1.EasyServiceSpec{
			Replicas:    ptr.To[int32](2),
			Image:       "nginx:1.7.9",
			ServiceType: corev1.ServiceTypeNodePort,
			Ports:       []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80), NodePort: 31002}},
		}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scheme.Default(tc.obj)
			internal := &easyservice.EasyService{}
			if err := scheme.Convert(tc.obj, internal, nil); err != nil {
				t.Fatalf("converting to the internal version: %v", err)
			}
			expectErrors(t, ValidateEasyService(internal, DefaultOptions()), nil)
		})
	}
}

func TestValidateEasyServiceSpecPath(t *testing.T) {
	spec := validEasyService().Spec
	spec.Image = ""
	errs := ValidateEasyServiceSpec(&spec, field.NewPath("template", "spec"), DefaultOptions())
	expectErrors(t, errs, []string{required + "template.spec.image"})
}

func TestValidateEasyServiceMessages(t *testing.T) {
	tests := []struct {
		name    string
		tweak   func(*easyservice.EasyService)
		opts    Options
		message string
	}{
		{
			name:    "node port range",
			tweak:   func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 80 },
			opts:    DefaultOptions(),
			message: "must be in the node port range 30000-32767",
		},
		{
			name:    "custom node port range",
			tweak:   func(es *easyservice.EasyService) { es.Spec.Ports[0].NodePort = 80 },
			opts:    Options{NodePortRange: utilnet.PortRange{Base: 31000, Size: 10}},
			message: "must be in the node port range 31000-31009",
		},
		{
			name: "request above limit",
			tweak: withResources(
				corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
				corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}),
			opts:    DefaultOptions(),
			message: "must be less than or equal to cpu limit of 500m",
		},
		{
			name:    "named target port",
			tweak:   func(es *easyservice.EasyService) { es.Spec.Ports[0].TargetPort = intstr.FromString("http") },
			opts:    DefaultOptions(),
			message: "must be a number: an EasyService's container has only the ports its numeric targetPorts declare",
		},
		{
			name:    "image whitespace",
			tweak:   func(es *easyservice.EasyService) { es.Spec.Image = "nginx:1.27 " },
			opts:    DefaultOptions(),
			message: "must not have leading or trailing whitespace",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := validEasyService()
			tc.tweak(es)
			errs := ValidateEasyService(es, tc.opts)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
			}
			if !strings.Contains(errs[0].Detail, tc.message) {
				t.Errorf("detail = %q, want it to contain %q", errs[0].Detail, tc.message)
			}
		})
	}
}

// storedEasyService returns a valid EasyService as it is stored, with a resource version.
func storedEasyService() *easyservice.EasyService {
	es := validEasyService()
	es.ResourceVersion = "1"
	es.Generation = 1
	es.UID = "6d5f6c7e-1f27-4a0c-9a59-3f0bb3c3e3a1"
	return es
}

func TestValidateEasyServiceUpdate(t *testing.T) {
	tests := []struct {
		name   string
		tweak  func(*easyservice.EasyService)
		expect []string
	}{
		{name: "no change", tweak: func(*easyservice.EasyService) {}},
		{name: "spec changes", tweak: func(es *easyservice.EasyService) {
			es.Generation = 2
			es.Spec.Image = "nginx:1.28"
			es.Spec.Replicas = 5
			es.Spec.ImagePullPolicy = corev1.PullAlways
			es.Spec.ServiceType = corev1.ServiceTypeClusterIP
			es.Spec.Ports = []easyservice.EasyServicePort{port("http", 8080), port("metrics", 9090)}
			es.Spec.Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
		}},
		{name: "labels change", tweak: func(es *easyservice.EasyService) { es.Labels = map[string]string{"app": "web"} }},
		{name: "name change", tweak: func(es *easyservice.EasyService) { es.Name = "other" },
			expect: []string{invalid + "metadata.name"}},
		{name: "namespace change", tweak: func(es *easyservice.EasyService) { es.Namespace = "other" },
			expect: []string{invalid + "metadata.namespace"}},
		{name: "uid change", tweak: func(es *easyservice.EasyService) { es.UID = "other" },
			expect: []string{invalid + "metadata.uid"}},
		{name: "missing resource version", tweak: func(es *easyservice.EasyService) { es.ResourceVersion = "" },
			expect: []string{invalid + "metadata.resourceVersion"}},
		{name: "generation decremented", tweak: func(es *easyservice.EasyService) { es.Generation = 0 },
			expect: []string{invalid + "metadata.generation"}},
		{name: "invalid spec", tweak: func(es *easyservice.EasyService) {
			es.Spec.Image = ""
			es.Spec.Ports[0].NodePort = 80
		}, expect: []string{required + "spec.image", invalid + "spec.ports[0].nodePort"}},
		{name: "invalid label", tweak: func(es *easyservice.EasyService) { es.Labels = map[string]string{"a b": "c"} },
			expect: []string{invalid + "metadata.labels"}},
		{name: "named target port added", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[0].TargetPort = intstr.FromString("http") },
			expect: []string{invalid + "spec.ports[0].targetPort"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oldObj := storedEasyService()
			newObj := oldObj.DeepCopy()
			tc.tweak(newObj)
			expectErrors(t, ValidateEasyServiceUpdate(newObj, oldObj, DefaultOptions()), tc.expect)
		})
	}
}

// TestValidateEasyServiceUpdateStoredNamedTargetPort: an object stored before named target ports
// were refused stays updatable as long as it keeps its names; it cannot add another.
func TestValidateEasyServiceUpdateStoredNamedTargetPort(t *testing.T) {
	stored := storedEasyService()
	stored.Spec.Ports = []easyservice.EasyServicePort{port("http", 80), {
		Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromString("metrics")}}
	tests := []struct {
		name   string
		tweak  func(*easyservice.EasyService)
		expect []string
	}{
		{name: "labels change", tweak: func(es *easyservice.EasyService) { es.Labels = map[string]string{"app": "web"} }},
		{name: "finalizer added", tweak: func(es *easyservice.EasyService) { es.Finalizers = []string{"foregroundDeletion"} }},
		{name: "image change", tweak: func(es *easyservice.EasyService) { es.Spec.Image = "nginx:1.28" }},
		{name: "the name moves to another port", tweak: func(es *easyservice.EasyService) {
			es.Spec.Ports[0].TargetPort, es.Spec.Ports[1].TargetPort = intstr.FromString("metrics"), intstr.FromInt32(9090)
		}},
		{name: "the name replaced by a number", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[1].TargetPort = intstr.FromInt32(9090) }},
		{name: "another name", tweak: func(es *easyservice.EasyService) { es.Spec.Ports[1].TargetPort = intstr.FromString("prometheus") },
			expect: []string{invalid + "spec.ports[1].targetPort"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			newObj := stored.DeepCopy()
			tc.tweak(newObj)
			expectErrors(t, ValidateEasyServiceUpdate(newObj, stored, DefaultOptions()), tc.expect)
		})
	}
	// A new object may not have it.
	expectErrors(t, ValidateEasyService(stored, DefaultOptions()), []string{invalid + "spec.ports[1].targetPort"})
}

// validStatus returns a consistent status of a healthy EasyService.
func validStatus() easyservice.EasyServiceStatus {
	now := metav1.Now()
	return easyservice.EasyServiceStatus{
		ObservedGeneration:  1,
		Replicas:            3,
		UpdatedReplicas:     3,
		ReadyReplicas:       3,
		AvailableReplicas:   2,
		UnavailableReplicas: 1,
		Selector:            "app.easyservice.io/name=web",
		Conditions: []metav1.Condition{
			{Type: v1.EasyServiceAvailable, Status: metav1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastTransitionTime: now},
			{Type: v1.EasyServiceProgressing, Status: metav1.ConditionTrue, Reason: "NewReplicaSetAvailable", LastTransitionTime: now},
			{Type: v1.EasyServiceReady, Status: metav1.ConditionFalse, Reason: "Scaling", Message: "2/3 available", LastTransitionTime: now},
		},
	}
}

func TestValidateEasyServiceStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		tweak  func(*easyservice.EasyService)
		expect []string
	}{
		{name: "valid status", tweak: func(*easyservice.EasyService) {}},
		{name: "empty status", tweak: func(es *easyservice.EasyService) { es.Status = easyservice.EasyServiceStatus{} }},
		{name: "invalid spec is not checked", tweak: func(es *easyservice.EasyService) { es.Spec.Image = "" }},
		{name: "selector with set-based requirement", tweak: func(es *easyservice.EasyService) {
			es.Status.Selector = "app in (web,api),tier!=db"
		}},
		{name: "negative observed generation", tweak: func(es *easyservice.EasyService) { es.Status.ObservedGeneration = -1 },
			expect: []string{invalid + "status.observedGeneration"}},
		{name: "negative replicas", tweak: func(es *easyservice.EasyService) {
			es.Status.Replicas, es.Status.UpdatedReplicas, es.Status.ReadyReplicas, es.Status.AvailableReplicas = -1, -1, -1, -1
		}, expect: []string{
			invalid + "status.replicas",
			invalid + "status.updatedReplicas",
			invalid + "status.readyReplicas",
			invalid + "status.availableReplicas",
		}},
		{name: "negative updated replicas", tweak: func(es *easyservice.EasyService) { es.Status.UpdatedReplicas = -1 },
			expect: []string{invalid + "status.updatedReplicas"}},
		{name: "negative ready replicas", tweak: func(es *easyservice.EasyService) {
			es.Status.ReadyReplicas, es.Status.AvailableReplicas = -1, -1
		}, expect: []string{invalid + "status.readyReplicas", invalid + "status.availableReplicas"}},
		{name: "negative available replicas", tweak: func(es *easyservice.EasyService) { es.Status.AvailableReplicas = -1 },
			expect: []string{invalid + "status.availableReplicas"}},
		{name: "negative unavailable replicas", tweak: func(es *easyservice.EasyService) { es.Status.UnavailableReplicas = -1 },
			expect: []string{invalid + "status.unavailableReplicas"}},
		{name: "more updated than replicas", tweak: func(es *easyservice.EasyService) { es.Status.UpdatedReplicas = 4 },
			expect: []string{invalid + "status.updatedReplicas"}},
		{name: "more ready than replicas", tweak: func(es *easyservice.EasyService) { es.Status.ReadyReplicas = 4 },
			expect: []string{invalid + "status.readyReplicas"}},
		{name: "more available than ready", tweak: func(es *easyservice.EasyService) {
			es.Status.ReadyReplicas, es.Status.AvailableReplicas = 1, 2
		}, expect: []string{invalid + "status.availableReplicas"}},
		{name: "invalid selector", tweak: func(es *easyservice.EasyService) { es.Status.Selector = "app in (" },
			expect: []string{invalid + "status.selector"}},
		{name: "duplicate condition", tweak: func(es *easyservice.EasyService) {
			es.Status.Conditions = append(es.Status.Conditions, es.Status.Conditions[0])
		}, expect: []string{duplicate + "status.conditions[3]"}},
		{name: "condition without reason", tweak: func(es *easyservice.EasyService) { es.Status.Conditions[1].Reason = "" },
			expect: []string{required + "status.conditions[1].reason"}},
		{name: "condition with unknown status", tweak: func(es *easyservice.EasyService) { es.Status.Conditions[0].Status = "Maybe" },
			expect: []string{notSupported + "status.conditions[0].status"}},
		{name: "condition without transition time", tweak: func(es *easyservice.EasyService) {
			es.Status.Conditions[2].LastTransitionTime = metav1.Time{}
		}, expect: []string{required + "status.conditions[2].lastTransitionTime"}},
		{name: "name change", tweak: func(es *easyservice.EasyService) { es.Name = "other" },
			expect: []string{invalid + "metadata.name"}},
		{name: "namespace change", tweak: func(es *easyservice.EasyService) { es.Namespace = "other" },
			expect: []string{invalid + "metadata.namespace"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oldObj := storedEasyService()
			newObj := oldObj.DeepCopy()
			newObj.Status = validStatus()
			tc.tweak(newObj)
			expectErrors(t, ValidateEasyServiceStatusUpdate(newObj, oldObj), tc.expect)
		})
	}
}
