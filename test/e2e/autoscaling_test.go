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

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// TestHorizontalPodAutoscaler: `kubectl autoscale esvc` makes a HorizontalPodAutoscaler, and
// kube-controller-manager's HPA controller drives the EasyService through /scale as it drives a
// Deployment. It finds the kind through the aggregation layer's
// discovery, reads the Scale, writes spec.replicas into the bounds of the HPA, and takes the Scale's
// status.selector to find the pods; the EasyService's controller then scales the Deployment. The
// plane has no metrics API, so the HPA is driven by its bounds (maxReplicas, then minReplicas),
// which need none; its metric fails after the selector was accepted, and says so.
func TestHorizontalPodAutoscaler(t *testing.T) {
	ns := createNamespace(t, "hpa")
	n := "--namespace=" + ns
	kubectl(t, webManifest, "apply", n, "-f", "-")
	kubectl(t, "", "scale", n, "esvc", "web", "--replicas=5")
	waitReady(t, ns, "web")

	out := kubectl(t, "", "autoscale", n, "esvc", "web", "--min=1", "--max=3", "--cpu=80%")
	if !strings.Contains(out, "autoscaled") {
		t.Errorf("kubectl autoscale = %q", out)
	}
	waitHPAScaled(t, ns, "web", 3, "Current number of replicas above Spec.MaxReplicas")

	// The HPA's view of the target: it read the Scale (AbleToScale), and its metric is what failed,
	// not the selector (InvalidSelector or SelectorRequired would come first).
	eventually(t, convergeTimeout, "the HPA's conditions", func(ctx context.Context) (bool, string) {
		hpa, err := plane.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		able, active := hpaCondition(hpa, autoscalingv2.AbleToScale), hpaCondition(hpa, autoscalingv2.ScalingActive)
		ok := hpa.Status.CurrentReplicas == 3 &&
			able != nil && able.Status == corev1.ConditionTrue &&
			active != nil && active.Status == corev1.ConditionFalse && active.Reason == "FailedGetResourceMetric"
		return ok, fmt.Sprintf("status %+v", hpa.Status)
	})

	kubectl(t, "", "patch", n, "hpa", "web", "--type=merge", "-p", `{"spec":{"minReplicas":4,"maxReplicas":6}}`)
	waitHPAScaled(t, ns, "web", 4, "Current number of replicas below Spec.MinReplicas")
}

// waitHPAScaled waits until the HPA ns/name has rescaled the EasyService of its name to replicas
// for reason (its SuccessfulRescale event), the EasyService's controller has followed with the
// Deployment, and the EasyService reports the rollout.
func waitHPAScaled(t *testing.T, ns, name string, replicas int32, reason string) {
	t.Helper()
	message := fmt.Sprintf("New size: %d; reason: %s", replicas, reason)
	eventually(t, convergeTimeout, fmt.Sprintf("HorizontalPodAutoscaler %s/%s: %s", ns, name, message), func(ctx context.Context) (bool, string) {
		events, err := plane.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
			"involvedObject.kind": "HorizontalPodAutoscaler", "involvedObject.name": name}.String()})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range events.Items {
			if e.Reason == "SuccessfulRescale" && e.Message == message {
				return true, ""
			}
			seen = append(seen, e.Type+"/"+e.Reason+": "+e.Message)
		}
		return false, "events: " + strings.Join(seen, "; ")
	})
	if got := *getEasyService(t.Context(), t, ns, name).Spec.Replicas; got != replicas {
		t.Errorf("spec.replicas = %d after the HPA's rescale to %d", got, replicas)
	}
	waitDeployment(t, ns, name, fmt.Sprintf("%d replicas", replicas), func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == replicas })
	if es := waitReady(t, ns, name); es.Status.ReadyReplicas != replicas {
		t.Errorf("readyReplicas = %d, want %d", es.Status.ReadyReplicas, replicas)
	}
}

func hpaCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range hpa.Status.Conditions {
		if hpa.Status.Conditions[i].Type == t {
			return &hpa.Status.Conditions[i]
		}
	}
	return nil
}
