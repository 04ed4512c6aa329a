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

package easyservice

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// newEasyService returns a defaulted EasyService web in namespace ns, as the API stores it.
func newEasyService(mutate ...func(*v1.EasyService)) *v1.EasyService {
	es := &v1.EasyService{
		TypeMeta: metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: "EasyService"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "web", UID: types.UID("uid-web"), Generation: 1, ResourceVersion: "10",
		},
		Spec: v1.EasyServiceSpec{
			Replicas:    ptr.To[int32](2),
			Image:       "nginx:1.27",
			Ports:       []v1.EasyServicePort{{Name: "tcp-80", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)}},
			ServiceType: corev1.ServiceTypeNodePort,
		},
	}
	for _, m := range mutate {
		m(es)
	}
	return es
}

// asYAMLMap turns an apply configuration, or YAML, into a generic map to compare.
func asYAMLMap(t *testing.T, v any) map[string]any {
	t.Helper()
	var raw []byte
	var err error
	if s, ok := v.(string); ok {
		raw, err = yaml.YAMLToJSON([]byte(s))
	} else {
		raw, err = json.Marshal(v)
	}
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const childMetadata = `
metadata:
  name: web
  namespace: ns
  labels:
    app.kubernetes.io/name: web
    app.kubernetes.io/instance: web
    app.kubernetes.io/managed-by: easyservice
  ownerReferences:
  - apiVersion: app.easyservice.io/v1
    kind: EasyService
    name: web
    uid: uid-web
    controller: true
    blockOwnerDeletion: true
`

const podLabels = `
        app.kubernetes.io/name: web
        app.kubernetes.io/instance: web
        app.kubernetes.io/managed-by: easyservice
`

func TestNewDeployment(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*v1.EasyService)
		// container is the expected container, under spec.template.spec.containers.
		container string
		replicas  int
	}{{
		name:     "one port",
		replicas: 2,
		container: `
name: web
image: nginx:1.27
ports:
- {name: tcp-80, containerPort: 80, protocol: TCP}`,
	}, {
		name: "every container field",
		mutate: func(es *v1.EasyService) {
			es.Spec.Replicas = ptr.To[int32](0)
			es.Spec.ImagePullPolicy = corev1.PullAlways
			es.Spec.Env = []corev1.EnvVar{
				{Name: "A", Value: "1"},
				{Name: "EMPTY"},
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				{Name: "CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k", Optional: ptr.To(true)}}},
				{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
			}
			es.Spec.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			}
		},
		container: `
name: web
image: nginx:1.27
imagePullPolicy: Always
env:
- {name: A, value: "1"}
- {name: EMPTY}
- {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
- {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
- {name: CM, valueFrom: {configMapKeyRef: {name: cm, key: k, optional: true}}}
- {name: SECRET, valueFrom: {secretKeyRef: {name: s, key: k}}}
resources:
  requests: {cpu: 100m}
  limits: {memory: 128Mi}
ports:
- {name: tcp-80, containerPort: 80, protocol: TCP}`,
	}, {
		name: "named, shared and other-protocol target ports",
		mutate: func(es *v1.EasyService) {
			es.Spec.Ports = []v1.EasyServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)},
				{Name: "alt", Protocol: corev1.ProtocolTCP, Port: 8080, TargetPort: intstr.FromInt32(8080)},
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(8080)},
				{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromString("metrics")},
			}
		},
		replicas: 2,
		container: `
name: web
image: nginx:1.27
ports:
- {name: http, containerPort: 8080, protocol: TCP}
- {name: dns, containerPort: 8080, protocol: UDP}`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := newEasyService()
			if tc.mutate != nil {
				tc.mutate(es)
			}
			want := asYAMLMap(t, "apiVersion: apps/v1\nkind: Deployment\n"+childMetadata+`
spec:
  replicas: 0
  selector:
    matchLabels:`+podLabels+`
  template:
    metadata:
      labels:`+podLabels+`
    spec:
      containers: []
`)
			spec := want["spec"].(map[string]any)
			spec["replicas"] = float64(tc.replicas)
			spec["template"].(map[string]any)["spec"].(map[string]any)["containers"] = []any{asYAMLMap(t, tc.container)}

			if diff := cmp.Diff(want, asYAMLMap(t, newDeployment(es))); diff != "" {
				t.Errorf("newDeployment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*v1.EasyService)
		spec   string
	}{{
		name: "NodePort without a nodePort: the cluster allocates one",
		spec: `
type: NodePort
selector:` + podLabels + `
ports:
- {name: tcp-80, protocol: TCP, port: 80, targetPort: 80}`,
	}, {
		name: "every port field",
		mutate: func(es *v1.EasyService) {
			es.Spec.ServiceType = corev1.ServiceTypeLoadBalancer
			es.Spec.Ports = []v1.EasyServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To("http"), Port: 80, TargetPort: intstr.FromString("web"), NodePort: 31080},
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)},
			}
		},
		spec: `
type: LoadBalancer
selector:` + podLabels + `
ports:
- {name: http, protocol: TCP, appProtocol: http, port: 80, targetPort: web, nodePort: 31080}
- {name: dns, protocol: UDP, port: 53, targetPort: 5353}`,
	}, {
		name:   "ClusterIP",
		mutate: func(es *v1.EasyService) { es.Spec.ServiceType = corev1.ServiceTypeClusterIP },
		spec: `
type: ClusterIP
selector:` + podLabels + `
ports:
- {name: tcp-80, protocol: TCP, port: 80, targetPort: 80}`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := newEasyService()
			if tc.mutate != nil {
				tc.mutate(es)
			}
			want := asYAMLMap(t, "apiVersion: v1\nkind: Service\n"+childMetadata)
			want["spec"] = asYAMLMap(t, tc.spec)
			if diff := cmp.Diff(want, asYAMLMap(t, newService(es))); diff != "" {
				t.Errorf("newService (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelector(t *testing.T) {
	want := "app.kubernetes.io/instance=web,app.kubernetes.io/managed-by=easyservice,app.kubernetes.io/name=web"
	if got := Selector("web"); got != want {
		t.Errorf("Selector(web) = %q, want %q", got, want)
	}
}
