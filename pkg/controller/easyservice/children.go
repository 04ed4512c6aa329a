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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1apply "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	metav1apply "k8s.io/client-go/applyconfigurations/meta/v1"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// The labels of the children and of their pods. The selector uses all three; it never changes,
// because a Deployment's selector is immutable.
const (
	// LabelName is the standard name label; its value is the EasyService's name.
	LabelName = "app.kubernetes.io/name"
	// LabelInstance is the standard instance label; its value is the EasyService's name.
	LabelInstance = "app.kubernetes.io/instance"
	// LabelManagedBy is the standard managed-by label; the controller keeps whole only the
	// Deployments and Services carrying it with the value ManagedBy (TrimChild).
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on every child.
	ManagedBy = "easyservice"
)

// selectorLabels are the labels that select the pods of the EasyService named name. They label the
// Deployment, its pod template and the Service too.
func selectorLabels(name string) map[string]string {
	return map[string]string{
		LabelName:      name,
		LabelInstance:  name,
		LabelManagedBy: ManagedBy,
	}
}

// Selector is the label selector of the pods of the EasyService named name, in the string form
// status.selector and the scale subresource report.
func Selector(name string) string {
	return labels.SelectorFromSet(selectorLabels(name)).String()
}

// ownerReference is the controller reference the children carry: the garbage collector deletes
// them with their EasyService, and waits for them in a foreground deletion.
func ownerReference(es *v1.EasyService) *metav1apply.OwnerReferenceApplyConfiguration {
	return metav1apply.OwnerReference().
		WithAPIVersion(v1.SchemeGroupVersion.String()).
		WithKind(kind).
		WithName(es.Name).
		WithUID(es.UID).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

// newDeployment returns the Deployment that runs es: the fields the controller owns, for
// server-side apply. Everything else (strategy, revision history, pod defaults, annotations and
// labels others add) is left to the API server's defaults and to other managers.
func newDeployment(es *v1.EasyService) *appsv1apply.DeploymentApplyConfiguration {
	return appsv1apply.Deployment(es.Name, es.Namespace).
		WithLabels(selectorLabels(es.Name)).
		WithOwnerReferences(ownerReference(es)).
		WithSpec(appsv1apply.DeploymentSpec().
			WithReplicas(*es.Spec.Replicas).
			WithSelector(metav1apply.LabelSelector().WithMatchLabels(selectorLabels(es.Name))).
			WithTemplate(corev1apply.PodTemplateSpec().
				WithLabels(selectorLabels(es.Name)).
				WithSpec(corev1apply.PodSpec().WithContainers(newContainer(es)))))
}

// newContainer returns the only container of the pods of es, named like es.
func newContainer(es *v1.EasyService) *corev1apply.ContainerApplyConfiguration {
	c := corev1apply.Container().WithName(es.Name).WithImage(es.Spec.Image)
	if es.Spec.ImagePullPolicy != "" {
		c.WithImagePullPolicy(es.Spec.ImagePullPolicy)
	}
	for i := range es.Spec.Env {
		c.WithEnv(envVar(&es.Spec.Env[i]))
	}
	if r := resources(&es.Spec.Resources); r != nil {
		c.WithResources(r)
	}
	c.WithPorts(containerPorts(es.Spec.Ports)...)
	return c
}

// containerPorts returns a container port, named like the EasyService port, per numeric target
// port. A named target port, which only an EasyService stored before validation refused them can
// have, gets none. Two EasyService ports may share a target port: the container declares it once.
func containerPorts(ports []v1.EasyServicePort) []*corev1apply.ContainerPortApplyConfiguration {
	type key struct {
		port     int32
		protocol corev1.Protocol
	}
	var out []*corev1apply.ContainerPortApplyConfiguration
	seen := map[key]bool{}
	for _, p := range ports {
		if p.TargetPort.Type != intstr.Int {
			continue
		}
		k := key{p.TargetPort.IntVal, p.Protocol}
		if seen[k] {
			continue
		}
		seen[k] = true
		cp := corev1apply.ContainerPort().WithContainerPort(k.port).WithProtocol(k.protocol)
		if p.Name != "" {
			cp.WithName(p.Name)
		}
		out = append(out, cp)
	}
	return out
}

// newService returns the Service that exposes es: the fields the controller owns, for server-side
// apply. The cluster IP is never set, and neither is a node port the spec leaves to the cluster, so
// an allocated one is kept.
func newService(es *v1.EasyService) *corev1apply.ServiceApplyConfiguration {
	spec := corev1apply.ServiceSpec().WithSelector(selectorLabels(es.Name)).WithType(es.Spec.ServiceType)
	for _, p := range es.Spec.Ports {
		sp := corev1apply.ServicePort().
			WithProtocol(p.Protocol).
			WithPort(p.Port).
			WithTargetPort(p.TargetPort)
		if p.Name != "" {
			sp.WithName(p.Name)
		}
		if p.AppProtocol != nil {
			sp.WithAppProtocol(*p.AppProtocol)
		}
		if p.NodePort != 0 {
			sp.WithNodePort(p.NodePort)
		}
		spec.WithPorts(sp)
	}
	return corev1apply.Service(es.Name, es.Namespace).
		WithLabels(selectorLabels(es.Name)).
		WithOwnerReferences(ownerReference(es)).
		WithSpec(spec)
}

// envVar converts an environment variable to its apply configuration. Only the sources an
// EasyService may use (validation refuses fileKeyRef) are converted.
func envVar(in *corev1.EnvVar) *corev1apply.EnvVarApplyConfiguration {
	out := corev1apply.EnvVar().WithName(in.Name)
	if in.Value != "" {
		out.WithValue(in.Value)
	}
	src := in.ValueFrom
	if src == nil {
		return out
	}
	from := corev1apply.EnvVarSource()
	if ref := src.FieldRef; ref != nil {
		sel := corev1apply.ObjectFieldSelector().WithFieldPath(ref.FieldPath)
		if ref.APIVersion != "" {
			sel.WithAPIVersion(ref.APIVersion)
		}
		from.WithFieldRef(sel)
	}
	if ref := src.ResourceFieldRef; ref != nil {
		sel := corev1apply.ResourceFieldSelector().WithResource(ref.Resource)
		if ref.ContainerName != "" {
			sel.WithContainerName(ref.ContainerName)
		}
		if !ref.Divisor.IsZero() {
			sel.WithDivisor(ref.Divisor)
		}
		from.WithResourceFieldRef(sel)
	}
	if ref := src.ConfigMapKeyRef; ref != nil {
		sel := corev1apply.ConfigMapKeySelector().WithName(ref.Name).WithKey(ref.Key)
		if ref.Optional != nil {
			sel.WithOptional(*ref.Optional)
		}
		from.WithConfigMapKeyRef(sel)
	}
	if ref := src.SecretKeyRef; ref != nil {
		sel := corev1apply.SecretKeySelector().WithName(ref.Name).WithKey(ref.Key)
		if ref.Optional != nil {
			sel.WithOptional(*ref.Optional)
		}
		from.WithSecretKeyRef(sel)
	}
	return out.WithValueFrom(from)
}

// resources converts compute resources to their apply configuration, nil when there are none, so
// that an EasyService without resources owns no resources field. Validation refuses claims.
func resources(in *corev1.ResourceRequirements) *corev1apply.ResourceRequirementsApplyConfiguration {
	if len(in.Limits) == 0 && len(in.Requests) == 0 {
		return nil
	}
	out := corev1apply.ResourceRequirements()
	if len(in.Limits) != 0 {
		out.WithLimits(in.Limits.DeepCopy())
	}
	if len(in.Requests) != 0 {
		out.WithRequests(in.Requests.DeepCopy())
	}
	return out
}
