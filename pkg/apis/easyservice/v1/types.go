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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// +genclient
// +genclient:method=GetScale,verb=get,subresource=scale,result=k8s.io/api/autoscaling/v1.Scale
// +genclient:method=UpdateScale,verb=update,subresource=scale,input=k8s.io/api/autoscaling/v1.Scale,result=k8s.io/api/autoscaling/v1.Scale
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// EasyService runs an image as a Deployment of N replicas behind a Service of the same name.
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

// EasyServiceSpec is the desired state of an EasyService.
type EasyServiceSpec struct {
	// replicas is the number of desired pods. Defaults to 1.
	// +optional
	// +default=1
	Replicas *int32 `json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"`

	// image is the container image to run, for example "nginx:1.27".
	// +required
	Image string `json:"image" protobuf:"bytes,2,opt,name=image"`

	// imagePullPolicy is the container's image pull policy: Always, Never or IfNotPresent.
	// Empty means the pod default (Always for ":latest" or no tag, else IfNotPresent).
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty" protobuf:"bytes,3,opt,name=imagePullPolicy,casttype=k8s.io/api/core/v1.PullPolicy"`

	// env lists the environment variables set in the container.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +patchMergeKey=name
	// +patchStrategy=merge
	Env []corev1.EnvVar `json:"env,omitempty" patchStrategy:"merge" patchMergeKey:"name" protobuf:"bytes,4,rep,name=env"`

	// resources are the compute resources of the container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty" protobuf:"bytes,5,opt,name=resources"`

	// ports are exposed by the container and by the Service.
	// +optional
	// +listType=map
	// +listMapKey=port
	// +listMapKey=protocol
	// +patchMergeKey=port
	// +patchStrategy=merge
	Ports []EasyServicePort `json:"ports,omitempty" patchStrategy:"merge" patchMergeKey:"port" protobuf:"bytes,6,rep,name=ports"`

	// serviceType is the type of the Service: ClusterIP, NodePort or LoadBalancer.
	// Defaults to NodePort, so that an EasyService is reachable from outside the cluster.
	// +optional
	// +default="NodePort"
	ServiceType corev1.ServiceType `json:"serviceType,omitempty" protobuf:"bytes,7,opt,name=serviceType,casttype=k8s.io/api/core/v1.ServiceType"`
}

// EasyServicePort is one port of the container and of the Service.
type EasyServicePort struct {
	// name is the name of the port, an IANA service name unique within the EasyService.
	// Required when there is more than one port; a single unnamed port is named after its
	// protocol and number (for example "tcp-80").
	// +optional
	Name string `json:"name,omitempty" protobuf:"bytes,1,opt,name=name"`

	// protocol is TCP, UDP or SCTP. Defaults to TCP.
	// +optional
	// +default="TCP"
	Protocol corev1.Protocol `json:"protocol,omitempty" protobuf:"bytes,2,opt,name=protocol,casttype=k8s.io/api/core/v1.Protocol"`

	// appProtocol is the application protocol of the port, as on a Service port.
	// +optional
	AppProtocol *string `json:"appProtocol,omitempty" protobuf:"bytes,3,opt,name=appProtocol"`

	// port is the port the Service exposes, 1-65535.
	// +required
	Port int32 `json:"port" protobuf:"varint,4,opt,name=port"`

	// targetPort is the container's port, a number 1-65535; the container declares it, named like
	// this port. (A name is refused: the container has no port of its own to name.)
	// Defaults to port.
	// +optional
	TargetPort intstr.IntOrString `json:"targetPort,omitempty" protobuf:"bytes,5,opt,name=targetPort"`

	// nodePort is the port on every node when serviceType is NodePort or LoadBalancer.
	// Zero lets the cluster allocate one.
	// +optional
	NodePort int32 `json:"nodePort,omitempty" protobuf:"varint,6,opt,name=nodePort"`
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
