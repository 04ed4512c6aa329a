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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EasyService runs an image as a Deployment of N replicas behind a Service.
type EasyService struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   EasyServiceSpec
	Status EasyServiceStatus
}

// EasyServiceSpec is the desired state of an EasyService. It is the union of every served version's
// spec, so that conversion through it loses nothing.
type EasyServiceSpec struct {
	// Replicas is the number of desired pods.
	Replicas int32
	// Image is the container image to run.
	Image string
	// ImagePullPolicy is the container's image pull policy.
	ImagePullPolicy corev1.PullPolicy
	// Env lists the environment variables of the container.
	Env []corev1.EnvVar
	// Resources are the container's compute resources.
	Resources corev1.ResourceRequirements
	// Ports are exposed by the container and the Service.
	Ports []EasyServicePort
	// ServiceType is the type of the Service.
	ServiceType corev1.ServiceType
}

// EasyServicePort is one port of the container and of the Service.
type EasyServicePort struct {
	// Name is the name of the port, unique within the EasyService.
	Name string
	// Protocol is TCP, UDP or SCTP.
	Protocol corev1.Protocol
	// AppProtocol is the application protocol of the port.
	AppProtocol *string
	// Port is the port the Service exposes.
	Port int32
	// TargetPort is the container's port, a number. Only an object stored before names were refused
	// can have a name.
	TargetPort intstr.IntOrString
	// NodePort is the port on every node for NodePort and LoadBalancer services.
	NodePort int32
}

// EasyServiceStatus is the observed state of an EasyService.
type EasyServiceStatus struct {
	// ObservedGeneration is the generation the controller last acted on.
	ObservedGeneration int64
	// Replicas is the number of pods of the Deployment.
	Replicas int32
	// UpdatedReplicas is the number of pods at the current template.
	UpdatedReplicas int32
	// ReadyReplicas is the number of ready pods.
	ReadyReplicas int32
	// AvailableReplicas is the number of available pods.
	AvailableReplicas int32
	// UnavailableReplicas is the number of pods that are not available.
	UnavailableReplicas int32
	// Selector is the label selector of the pods, in string form, for the scale subresource.
	Selector string
	// Conditions are the latest observations of the EasyService's state.
	Conditions []metav1.Condition
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EasyServiceList is a list of EasyServices.
type EasyServiceList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []EasyService
}
