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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

var (
	earlier = metav1.NewTime(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	now     = metav1.NewTime(time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC))
)

const webSelector = "app.kubernetes.io/instance=web,app.kubernetes.io/managed-by=easyservice,app.kubernetes.io/name=web"

// newDeploymentWithStatus returns the Deployment of newEasyService with the given status counters
// (replicas, updated, ready, available) and conditions.
func newDeploymentWithStatus(counts [4]int32, conditions ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: 3, ResourceVersion: "7"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration:  3,
			Replicas:            counts[0],
			UpdatedReplicas:     counts[1],
			ReadyReplicas:       counts[2],
			AvailableReplicas:   counts[3],
			UnavailableReplicas: max(0, 2-counts[3]),
			Conditions:          conditions,
		},
	}
}

var (
	available = appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
		Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."}
	unavailable = appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse,
		Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."}
	progressed = appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
		Reason: "NewReplicaSetAvailable", Message: `ReplicaSet "web-1" has successfully progressed.`}
	progressing = appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
		Reason: "ReplicaSetUpdated", Message: `ReplicaSet "web-2" is progressing.`}
)

func cond(t, status, reason, message string, transition metav1.Time) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason, Message: message,
		ObservedGeneration: 1, LastTransitionTime: transition}
}

func TestComputeStatus(t *testing.T) {
	service := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	readyConditions := []metav1.Condition{
		cond(v1.EasyServiceAvailable, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", earlier),
		cond(v1.EasyServiceProgressing, "True", "NewReplicaSetAvailable", `ReplicaSet "web-1" has successfully progressed.`, earlier),
		cond(v1.EasyServiceReady, "True", v1.ReasonAllReplicasReady, "2 of 2 replicas ready and available", earlier),
	}
	tests := []struct {
		name string
		// old is the status the EasyService has.
		old  v1.EasyServiceStatus
		obs  observed
		want v1.EasyServiceStatus
	}{{
		name: "nothing exists yet",
		obs:  observed{},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Conditions: []metav1.Condition{
			cond(v1.EasyServiceAvailable, "Unknown", v1.ReasonDeploymentNotFound, "No Deployment controlled by this EasyService exists", now),
			cond(v1.EasyServiceProgressing, "Unknown", v1.ReasonDeploymentNotFound, "No Deployment controlled by this EasyService exists", now),
			cond(v1.EasyServiceReady, "False", v1.ReasonDeploymentNotFound, "Waiting for the Deployment to be created", now),
		}},
	}, {
		name: "a new Deployment without conditions",
		obs:  observed{deployment: newDeploymentWithStatus([4]int32{}), service: service},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, UnavailableReplicas: 2, Conditions: []metav1.Condition{
			cond(v1.EasyServiceAvailable, "Unknown", v1.ReasonConditionNotReported, "The Deployment has not reported its Available condition yet", now),
			cond(v1.EasyServiceProgressing, "Unknown", v1.ReasonConditionNotReported, "The Deployment has not reported its Progressing condition yet", now),
			cond(v1.EasyServiceReady, "False", v1.ReasonDeploymentNotReady, "0 of 2 replicas ready and available, 0 updated, 0 in total", now),
		}},
	}, {
		name: "rolling out",
		obs:  observed{deployment: newDeploymentWithStatus([4]int32{3, 1, 2, 2}, available, progressing), service: service},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []metav1.Condition{
				cond(v1.EasyServiceAvailable, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
				cond(v1.EasyServiceProgressing, "True", "ReplicaSetUpdated", `ReplicaSet "web-2" is progressing.`, now),
				cond(v1.EasyServiceReady, "False", v1.ReasonDeploymentNotReady, "2 of 2 replicas ready and available, 1 updated, 3 in total", now),
			}},
	}, {
		name: "ready, from scratch",
		obs:  observed{deployment: newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed), service: service},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []metav1.Condition{
				cond(v1.EasyServiceAvailable, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
				cond(v1.EasyServiceProgressing, "True", "NewReplicaSetAvailable", `ReplicaSet "web-1" has successfully progressed.`, now),
				cond(v1.EasyServiceReady, "True", v1.ReasonAllReplicasReady, "2 of 2 replicas ready and available", now),
			}},
	}, {
		name: "ready again: transition times are kept, foreign conditions dropped",
		old: v1.EasyServiceStatus{Conditions: append([]metav1.Condition{
			cond("Custom", "True", "Whatever", "", earlier)}, readyConditions...)},
		obs: observed{deployment: newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed), service: service},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: readyConditions},
	}, {
		name: "ready but the Service is missing",
		obs:  observed{deployment: newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed)},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []metav1.Condition{
				cond(v1.EasyServiceAvailable, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
				cond(v1.EasyServiceProgressing, "True", "NewReplicaSetAvailable", `ReplicaSet "web-1" has successfully progressed.`, now),
				cond(v1.EasyServiceReady, "False", v1.ReasonServiceNotFound, "Waiting for the Service to be created", now),
			}},
	}, {
		name: "all replicas ready but the Deployment is not Available",
		obs:  observed{deployment: newDeploymentWithStatus([4]int32{2, 2, 2, 2}, unavailable, progressed), service: service},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []metav1.Condition{
				cond(v1.EasyServiceAvailable, "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now),
				cond(v1.EasyServiceProgressing, "True", "NewReplicaSetAvailable", `ReplicaSet "web-1" has successfully progressed.`, now),
				cond(v1.EasyServiceReady, "False", v1.ReasonDeploymentNotReady, "The Deployment is not Available", now),
			}},
	}, {
		name: "the Deployment controller has not seen the latest Deployment",
		old:  v1.EasyServiceStatus{Conditions: readyConditions},
		obs: observed{deployment: func() *appsv1.Deployment {
			d := newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed)
			d.Generation = 4
			return d
		}(), service: service},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []metav1.Condition{
				readyConditions[0], readyConditions[1],
				cond(v1.EasyServiceReady, "False", v1.ReasonDeploymentNotReady, "Waiting for the Deployment controller to observe generation 4 of the Deployment", now),
			}},
	}, {
		name: "inconsistent counters are clamped",
		obs:  observed{deployment: newDeploymentWithStatus([4]int32{2, 3, 3, 4}, available, progressing), service: service},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []metav1.Condition{
				cond(v1.EasyServiceAvailable, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
				cond(v1.EasyServiceProgressing, "True", "ReplicaSetUpdated", `ReplicaSet "web-2" is progressing.`, now),
				cond(v1.EasyServiceReady, "False", v1.ReasonDeploymentNotReady, "3 of 2 replicas ready and available, 3 updated, 2 in total", now),
			}},
	}, {
		name: "problems come first and are all told",
		old:  v1.EasyServiceStatus{Conditions: readyConditions},
		obs: observed{service: service, problems: []problem{
			{v1.ReasonResourceExists, "Deployment ns/web exists"},
			{v1.ReasonServiceFailed, "port taken"},
		}},
		want: v1.EasyServiceStatus{ObservedGeneration: 1, Selector: webSelector, Conditions: []metav1.Condition{
			cond(v1.EasyServiceAvailable, "Unknown", v1.ReasonDeploymentNotFound, "No Deployment controlled by this EasyService exists", now),
			cond(v1.EasyServiceProgressing, "Unknown", v1.ReasonDeploymentNotFound, "No Deployment controlled by this EasyService exists", now),
			cond(v1.EasyServiceReady, "False", v1.ReasonResourceExists, "Deployment ns/web exists; port taken", now),
		}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := newEasyService()
			es.Status = tc.old
			oldCopy := es.DeepCopy()
			got := computeStatus(es, tc.obs, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("computeStatus (-want +got):\n%s", diff)
			}
			if !equality.Semantic.DeepEqual(oldCopy, es) {
				t.Error("computeStatus changed the EasyService")
			}
			// The same observations later give the same status: no write.
			es.Status = got
			if again := computeStatus(es, tc.obs, metav1.NewTime(now.Add(time.Hour))); !equality.Semantic.DeepEqual(got, again) {
				t.Errorf("computeStatus is not stable:\n%s", cmp.Diff(got, again))
			}
		})
	}
}

func TestComputeStatusScaledToZero(t *testing.T) {
	es := newEasyService(func(es *v1.EasyService) { es.Spec.Replicas = ptr.To[int32](0) })
	d := newDeploymentWithStatus([4]int32{}, available, progressed)
	d.Spec.Replicas = ptr.To[int32](0)
	got := computeStatus(es, observed{deployment: d, service: &corev1.Service{}}, now)
	want := cond(v1.EasyServiceReady, "True", v1.ReasonAllReplicasReady, "0 of 0 replicas ready and available", now)
	if diff := cmp.Diff(want, got.Conditions[2]); diff != "" {
		t.Errorf("Ready (-want +got):\n%s", diff)
	}
}

func TestRolledOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want bool
	}{
		{"all replicas updated, ready and available", newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed), true},
		{"one replica not ready", newDeploymentWithStatus([4]int32{2, 2, 1, 1}, available, progressing), false},
		{"an old replica left", newDeploymentWithStatus([4]int32{3, 2, 3, 3}, available, progressing), false},
		{"not Available", newDeploymentWithStatus([4]int32{2, 2, 2, 2}, unavailable, progressed), false},
		{"no conditions yet", newDeploymentWithStatus([4]int32{2, 2, 2, 2}), false},
		{"a generation not yet observed", func() *appsv1.Deployment {
			d := newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed)
			d.Generation++
			return d
		}(), false},
		{"scaled, not yet rolled out", func() *appsv1.Deployment {
			d := newDeploymentWithStatus([4]int32{2, 2, 2, 2}, available, progressed)
			d.Spec.Replicas = ptr.To[int32](3)
			return d
		}(), false},
		{"new, no status", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 1}}, false},
	} {
		if got := rolledOut(tc.d); got != tc.want {
			t.Errorf("%s: rolledOut = %v, want %v", tc.name, got, tc.want)
		}
	}
}
