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
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAvailabilityServerDown: with easyservice-apiserver down, the rest of the cluster works
// (kubectl get pods -A), but a namespace holding an EasyService cannot finish terminating: the
// namespace controller cannot discover (and so cannot empty) app.easyservice.io. Once the server
// is back the deletion completes, the EasyService with it.
func TestAvailabilityServerDown(t *testing.T) {
	ctx := t.Context()
	server := findPlaneProcess(t, "easyservice-apiserver")
	server.ensureRunning(t, waitServing)
	waitServing(t)

	ns := createNamespace(t, "avail")
	kubectl(t, webManifest, "apply", "--namespace="+ns, "-f", "-")
	waitDeployment(t, ns, "web", "created", func(*appsv1.Deployment) bool { return true })
	waitFor(t, convergeTimeout, "a pod of web", func(ctx context.Context) (bool, string) {
		pods, err := plane.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) > 0, fmt.Sprintf("%v", err)
	})

	// Graceful: the controller hands its Lease over on the way out.
	server.stop(t, syscall.SIGTERM, time.Minute)
	defer func() {
		if !server.alive() {
			server.restart(t)
		}
	}()

	// The cluster works without us: kubectl get pods -A lists the namespace's pod (kubectl may warn
	// about the group it cannot discover, but succeeds).
	out, err := kubectlResult(t, "", "get", "pods", "-A")
	if err != nil || !strings.Contains(out, ns) {
		t.Errorf("kubectl get pods -A with easyservice-apiserver down: %v\n%s", err, out)
	}
	if _, err := plane.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing namespaces with easyservice-apiserver down: %v", err)
	}
	// EasyServices themselves are unavailable.
	if _, err := plane.es.AppV1().EasyServices(ns).List(ctx, metav1.ListOptions{}); err == nil {
		t.Errorf("EasyServices listed with easyservice-apiserver down")
	}

	kubectl(t, "", "delete", "namespace", ns, "--wait=false")
	// It stays Terminating, for a discovery failure of our group, while we are down.
	var nsObj *corev1.Namespace
	waitFor(t, convergeTimeout, "namespace "+ns+" to report the discovery failure", func(ctx context.Context) (bool, string) {
		var err error
		nsObj, err = plane.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range nsObj.Status.Conditions {
			if c.Type == corev1.NamespaceDeletionDiscoveryFailure && c.Status == corev1.ConditionTrue &&
				strings.Contains(c.Message, "app.easyservice.io") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", nsObj.Status)
	})
	time.Sleep(10 * time.Second)
	nsObj, err = plane.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || nsObj.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("namespace %s with easyservice-apiserver down: %v, %+v; want it Terminating", ns, err, nsObj)
	}
	t.Logf("namespace %s Terminating while we are down: %+v", ns, nsObj.Status.Conditions)

	server.restart(t)
	start := time.Now()
	waitServing(t)
	waitFor(t, 3*time.Minute, "namespace "+ns+" to be deleted", func(ctx context.Context) (bool, string) {
		nsObj, err := plane.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("%+v", nsObj.Status)
	})
	t.Logf("namespace deleted %v after the restart", time.Since(start).Round(time.Millisecond))
	if list, err := plane.es.AppV1().EasyServices(ns).List(ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Errorf("EasyServices of the deleted namespace: %v, %v", list, err)
	}
}
