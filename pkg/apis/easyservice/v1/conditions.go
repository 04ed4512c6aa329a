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

// The condition types of an EasyService's status.conditions (the same in v1beta1). Available and
// Progressing mirror the conditions of the same type of its Deployment (appsv1.DeploymentAvailable,
// appsv1.DeploymentProgressing), with the Deployment's reasons; Ready sums up the EasyService.
const (
	// EasyServiceAvailable mirrors the Deployment's Available condition.
	EasyServiceAvailable = "Available"
	// EasyServiceProgressing mirrors the Deployment's Progressing condition.
	EasyServiceProgressing = "Progressing"
	// EasyServiceReady is True when the Deployment has rolled out the current spec to every replica
	// and the Service exists.
	EasyServiceReady = "Ready"
)

// The reasons of the conditions the controller sets itself; the Deployment's own reasons are
// mirrored as they are. Most are also the reasons of the events that report the same thing.
const (
	// ReasonAllReplicasReady: Ready is True.
	ReasonAllReplicasReady = "AllReplicasReady"
	// ReasonDeploymentNotReady: the Deployment has not rolled out the current spec to all replicas.
	ReasonDeploymentNotReady = "DeploymentNotReady"
	// ReasonDeploymentNotFound: no Deployment controlled by the EasyService exists (yet).
	ReasonDeploymentNotFound = "DeploymentNotFound"
	// ReasonServiceNotFound: no Service controlled by the EasyService exists (yet).
	ReasonServiceNotFound = "ServiceNotFound"
	// ReasonConditionNotReported: the Deployment has not reported the mirrored condition yet.
	ReasonConditionNotReported = "ConditionNotReported"
	// ReasonResourceExists: a Deployment or Service with the EasyService's name exists and is not
	// controlled by an EasyService; the controller never adopts or overwrites it.
	ReasonResourceExists = "ResourceExists"
	// ReasonDeploymentFailed: the cluster refused the Deployment.
	ReasonDeploymentFailed = "DeploymentFailed"
	// ReasonServiceFailed: the cluster refused the Service.
	ReasonServiceFailed = "ServiceFailed"
)
