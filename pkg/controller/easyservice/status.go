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
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// problem is something that keeps an EasyService from being Ready that the sync found: a child it
// does not control, or one the cluster refused. Its reason and message go to the Ready condition and
// to a Warning event.
type problem struct {
	reason  string
	message string
}

// observed is what a sync saw of the children of an EasyService.
type observed struct {
	// deployment is the Deployment the EasyService controls, nil if there is none.
	deployment *appsv1.Deployment
	// service is the Service the EasyService controls, nil if there is none.
	service *corev1.Service
	// problems are the problems with the children, in the order they were found.
	problems []problem
}

// computeStatus returns the status of es given what a sync observed. It is a pure function of its
// arguments: now only stamps the conditions whose status changes, so that computing the status
// again from the same observations gives an equal status and the controller writes nothing.
func computeStatus(es *v1.EasyService, obs observed, now metav1.Time) v1.EasyServiceStatus {
	want := *es.Spec.Replicas
	status := v1.EasyServiceStatus{
		ObservedGeneration: es.Generation,
		Selector:           Selector(es.Name),
	}
	if d := obs.deployment; d != nil {
		// The Deployment's counters are sums over its ReplicaSets, read at slightly different
		// times; clamp them so that the status is always consistent (and valid).
		status.Replicas = d.Status.Replicas
		status.UpdatedReplicas = min(d.Status.UpdatedReplicas, status.Replicas)
		status.ReadyReplicas = min(d.Status.ReadyReplicas, status.Replicas)
		status.AvailableReplicas = min(d.Status.AvailableReplicas, status.ReadyReplicas)
		status.UnavailableReplicas = d.Status.UnavailableReplicas
	}

	// Keep the conditions we own, with their transition times; drop any other.
	for _, c := range es.Status.Conditions {
		switch c.Type {
		case v1.EasyServiceAvailable, v1.EasyServiceProgressing, v1.EasyServiceReady:
			status.Conditions = append(status.Conditions, *c.DeepCopy())
		}
	}
	for _, c := range []metav1.Condition{
		mirroredCondition(obs.deployment, appsv1.DeploymentAvailable),
		mirroredCondition(obs.deployment, appsv1.DeploymentProgressing),
		readyCondition(obs, want),
	} {
		c.ObservedGeneration = es.Generation
		c.LastTransitionTime = now
		meta.SetStatusCondition(&status.Conditions, c)
	}
	return status
}

// mirroredCondition returns the Deployment's condition of type t as an EasyService condition.
func mirroredCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) metav1.Condition {
	if d == nil {
		return metav1.Condition{Type: string(t), Status: metav1.ConditionUnknown, Reason: v1.ReasonDeploymentNotFound,
			Message: "No Deployment controlled by this EasyService exists"}
	}
	for _, dc := range d.Status.Conditions {
		if dc.Type != t {
			continue
		}
		c := metav1.Condition{Type: string(t), Status: metav1.ConditionStatus(dc.Status), Reason: dc.Reason, Message: dc.Message}
		if c.Reason == "" {
			c.Reason = v1.ReasonConditionNotReported
		}
		return c
	}
	return metav1.Condition{Type: string(t), Status: metav1.ConditionUnknown, Reason: v1.ReasonConditionNotReported,
		Message: fmt.Sprintf("The Deployment has not reported its %s condition yet", t)}
}

// readyCondition sums up the EasyService: True when the Deployment has rolled out the current spec
// to every replica, all of them ready and available, and the Service exists.
func readyCondition(obs observed, want int32) metav1.Condition {
	notReady := func(reason, message string) metav1.Condition {
		return metav1.Condition{Type: v1.EasyServiceReady, Status: metav1.ConditionFalse, Reason: reason, Message: message}
	}
	if len(obs.problems) > 0 {
		messages := make([]string, 0, len(obs.problems))
		for _, p := range obs.problems {
			messages = append(messages, p.message)
		}
		return notReady(obs.problems[0].reason, strings.Join(messages, "; "))
	}
	d := obs.deployment
	if d == nil {
		return notReady(v1.ReasonDeploymentNotFound, "Waiting for the Deployment to be created")
	}
	if d.Status.ObservedGeneration < d.Generation {
		return notReady(v1.ReasonDeploymentNotReady, fmt.Sprintf("Waiting for the Deployment controller to observe generation %d of the Deployment", d.Generation))
	}
	if st := d.Status; !allReplicas(d, want) {
		return notReady(v1.ReasonDeploymentNotReady, fmt.Sprintf("%d of %d replicas ready and available, %d updated, %d in total",
			min(st.ReadyReplicas, st.AvailableReplicas), want, st.UpdatedReplicas, st.Replicas))
	}
	if !deploymentConditionTrue(d, appsv1.DeploymentAvailable) {
		return notReady(v1.ReasonDeploymentNotReady, "The Deployment is not Available")
	}
	if obs.service == nil {
		return notReady(v1.ReasonServiceNotFound, "Waiting for the Service to be created")
	}
	return metav1.Condition{Type: v1.EasyServiceReady, Status: metav1.ConditionTrue, Reason: v1.ReasonAllReplicasReady,
		Message: fmt.Sprintf("%d of %d replicas ready and available", want, want)}
}

// allReplicas tells whether the Deployment asks for want replicas and reports want replicas, all of
// them updated, ready and available.
func allReplicas(d *appsv1.Deployment, want int32) bool {
	st := d.Status
	return st.UpdatedReplicas == want && st.Replicas == want && st.ReadyReplicas == want && st.AvailableReplicas == want &&
		(d.Spec.Replicas == nil || *d.Spec.Replicas == want)
}

// rolledOut tells whether the Deployment has rolled out its current generation: every replica it
// asks for updated, ready and available, and its Available condition True. Nothing changes a
// Deployment in that state but a change of its spec or a pod failing.
func rolledOut(d *appsv1.Deployment) bool {
	return d.Status.ObservedGeneration >= d.Generation && allReplicas(d, ptr.Deref(d.Spec.Replicas, 1)) &&
		deploymentConditionTrue(d, appsv1.DeploymentAvailable)
}

func deploymentConditionTrue(d *appsv1.Deployment, t appsv1.DeploymentConditionType) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
