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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:method=GetScale,verb=get,subresource=scale,result=k8s.io/api/autoscaling/v1.Scale
// +genclient:method=UpdateScale,verb=update,subresource=scale,input=k8s.io/api/autoscaling/v1.Scale,result=k8s.io/api/autoscaling/v1.Scale
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EasyService runs an image as a Deployment of N pods behind a Service of the same name.
type EasyService struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata. Its name names the Deployment and the Service.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// spec is the desired state of the EasyService.
	// +optional
	Spec EasyServiceSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`

	// status is the most recently observed state of the EasyService, written by the controller.
	// +optional
	Status EasyServiceStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// EasyServiceSpec is the desired state of an EasyService, in the shape of the tutorial CRD
// (size, image, resources, envs, ports), plus the two optional fields v1 adds.
type EasyServiceSpec struct {
	// (The Go field cannot be named Size: the generated protobuf code gives every type a Size
	// method. Its JSON and protobuf name is size.)

	// size is the number of desired pods. Defaults to 1. It is spec.replicas in v1.
	// +optional
	// +default=1
	Replicas *int32 `json:"size,omitempty" protobuf:"varint,1,opt,name=size"`

	// image is the container image to run, for example "nginx:1.27".
	// +required
	Image string `json:"image" protobuf:"bytes,2,opt,name=image"`

	// resources are the compute resources of the container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty" protobuf:"bytes,3,opt,name=resources"`

	// envs lists the environment variables set in the container. It is spec.env in v1.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	Envs []corev1.EnvVar `json:"envs,omitempty" patchStrategy:"merge" patchMergeKey:"name" protobuf:"bytes,4,rep,name=envs"`

	// ports are exposed by the container (targetPort) and by the Service (port, nodePort).
	// +optional
	// +listType=map
	// +listMapKey=port
	// +listMapKey=protocol
	// +patchMergeKey=port
	// +patchStrategy=merge
	Ports []corev1.ServicePort `json:"ports,omitempty" patchStrategy:"merge" patchMergeKey:"port" protobuf:"bytes,5,rep,name=ports"`

	// imagePullPolicy is the container's image pull policy: Always, Never or IfNotPresent.
	// Not in the tutorial CRD; it is here so that v1 objects convert to v1beta1 without loss.
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty" protobuf:"bytes,6,opt,name=imagePullPolicy,casttype=k8s.io/api/core/v1.PullPolicy"`

	// serviceType is the type of the Service: ClusterIP, NodePort or LoadBalancer. Defaults to
	// NodePort. Not in the tutorial CRD (whose Service was always NodePort); it is here so that v1
	// objects convert to v1beta1 without loss.
	// +optional
	// +default="NodePort"
	ServiceType corev1.ServiceType `json:"serviceType,omitempty" protobuf:"bytes,7,opt,name=serviceType,casttype=k8s.io/api/core/v1.ServiceType"`
}

// EasyServiceStatus is the most recently observed state of an EasyService.
type EasyServiceStatus struct {
	// observedGeneration is the generation of the spec the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`

	// replicas is the number of pods of the Deployment.
	// +optional
	Replicas int32 `json:"replicas,omitempty" protobuf:"varint,2,opt,name=replicas"`

	// updatedReplicas is the number of pods running the current pod template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty" protobuf:"varint,3,opt,name=updatedReplicas"`

	// readyReplicas is the number of ready pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty" protobuf:"varint,4,opt,name=readyReplicas"`

	// availableReplicas is the number of pods ready for at least minReadySeconds.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty" protobuf:"varint,5,opt,name=availableReplicas"`

	// unavailableReplicas is the number of pods still needed for the Deployment to be fully available.
	// +optional
	UnavailableReplicas int32 `json:"unavailableReplicas,omitempty" protobuf:"varint,6,opt,name=unavailableReplicas"`

	// selector is the label selector of the pods, in string form, as the scale subresource reports it.
	// +optional
	Selector string `json:"selector,omitempty" protobuf:"bytes,7,opt,name=selector"`

	// conditions are the latest observations of the EasyService's state: Available, Progressing and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchMergeKey=type
	// +patchStrategy=merge
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type" protobuf:"bytes,8,rep,name=conditions"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EasyServiceList is a list of EasyServices.
type EasyServiceList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// items is the list of EasyServices.
	Items []EasyService `json:"items" protobuf:"bytes,2,rep,name=items"`
}
