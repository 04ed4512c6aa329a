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

// EasyServiceConflicts, the server's own admission plugin, through the aggregator: a nodePort that
// another EasyService or a Service holds is refused when it is asked for, and a name that a
// Deployment or Service no EasyService controls already has is accepted with a warning.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
)

func withNodePort(es *v1.EasyService, nodePort int32) *v1.EasyService {
	es.Spec.Ports[0].NodePort = nodePort
	return es
}

func isInvalid(err error) bool { return apierrors.IsInvalid(err) }

// waitAcceptedOnDryRun waits until the server accepts a dry-run create of es in namespace.
func waitAcceptedOnDryRun(t *testing.T, namespace string, es *v1.EasyService, what string) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, convergeTimeout, true, func(context.Context) (bool, error) {
		_, last = plane.es.AppV1().EasyServices(namespace).Create(t.Context(), es, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting for the server to accept %s: %v; last answer: %v", what, err, last)
	}
}

// TestAdmissionNodePortConflicts: a nodePort held by an EasyService of another namespace or by a
// Service is refused with 422 naming spec.ports[i].nodePort and the holder, in v1 and v1beta1, on
// create, dry run and update, and nothing is stored; once the holder is gone the port is free.
func TestAdmissionNodePortConflicts(t *testing.T) {
	ctx := t.Context()
	a, b := createNamespace(t, "conflicts-a"), createNamespace(t, "conflicts-b")
	p := freeNodePort(t)
	kubectl(t, fmt.Sprintf(`{"apiVersion":"app.easyservice.io/v1","kind":"EasyService","metadata":{"name":"holder"},
		"spec":{"image":"nginx:1.27","ports":[{"port":80,"nodePort":%d}]}}`, p), "create", "--namespace="+a, "-f", "-")

	want := fmt.Sprintf("spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated to EasyService %s/holder", p, a)
	waitRefusedOnDryRun(t, b, withNodePort(easyService("web", 1), p), "a nodePort another EasyService holds", isInvalid)
	_, err := plane.es.AppV1().EasyServices(b).Create(ctx, withNodePort(easyService("web", 1), p), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("create of a held nodePort: %v, want 422 with %q", err, want)
	}
	// What a user types, in v1beta1, stored and dry run.
	beta := fmt.Sprintf(`{"apiVersion":"app.easyservice.io/v1beta1","kind":"EasyService","metadata":{"name":"beta"},
		"spec":{"size":1,"image":"nginx:1.27","ports":[{"port":80,"nodePort":%d}]}}`, p)
	for _, args := range [][]string{{"create"}, {"create", "--dry-run=server"}} {
		out, err := kubectlResult(t, beta, append(args, "--namespace="+b, "-f", "-")...)
		if err == nil || !strings.Contains(out, `The EasyService "beta" is invalid: `+want) {
			t.Errorf("kubectl %s of a v1beta1 EasyService with a held nodePort: %v\n%s\nwant the error %q", strings.Join(args, " "), err, out, want)
		}
	}
	if keys := storedEasyServices(t, b); len(keys) != 0 {
		t.Errorf("refused EasyServices stored: %v", keys)
	}

	// A Service of the cluster's, not an EasyService's.
	q := freeNodePort(t)
	kubectl(t, "", "create", "service", "nodeport", "squatter", "--namespace="+b, "--tcp=80:80", fmt.Sprintf("--node-port=%d", q))
	wantService := fmt.Sprintf("Invalid value: %d: provided port is already allocated to Service %s/squatter", q, b)
	waitRefusedOnDryRun(t, a, withNodePort(easyService("web", 1), q), "a nodePort a Service holds", isInvalid)

	// An update that adds a held nodePort is refused; the stored object is unchanged.
	out, err := kubectlResult(t, "", "patch", "--namespace="+a, "esvc", "holder", "--type=json", "-p",
		fmt.Sprintf(`[{"op":"add","path":"/spec/ports/-","value":{"name":"extra","port":81,"nodePort":%d}}]`, q))
	if err == nil || !strings.Contains(out, "spec.ports[1].nodePort: "+wantService) {
		t.Errorf("patch adding a nodePort a Service holds: %v\n%s\nwant %q", err, out, "spec.ports[1].nodePort: "+wantService)
	}
	holder, err := plane.es.AppV1().EasyServices(a).Get(ctx, "holder", metav1.GetOptions{})
	if err != nil || len(holder.Spec.Ports) != 1 || holder.Generation != 1 {
		t.Errorf("the holder after the refused patch: %v %+v, want one port at generation 1", err, holder)
	}
	// An update that keeps its own nodePort is not a conflict with itself or its Service.
	waitService(t, a, "holder", "made", func(s *corev1.Service) bool { return s.Spec.Ports[0].NodePort == p })
	kubectl(t, "", "scale", "--namespace="+a, "esvc", "holder", "--replicas=2")
	kubectl(t, "", "label", "--namespace="+a, "esvc", "holder", "tier=web")

	// The holder deleted (its Service with it), the port is free again.
	kubectl(t, "", "delete", "--namespace="+a, "esvc", "holder", "--wait=true")
	waitAcceptedOnDryRun(t, b, withNodePort(easyService("web", 1), p), "the nodePort of a deleted EasyService")
	if _, err := plane.es.AppV1().EasyServices(b).Create(ctx, withNodePort(easyService("web", 1), p), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create with the freed nodePort: %v", err)
	}
	waitService(t, b, "web", fmt.Sprintf("nodePort %d", p), func(s *corev1.Service) bool { return s.Spec.Ports[0].NodePort == p })
}

// warnings collects the warnings of the server's answers.
type warnings struct {
	sync.Mutex
	texts []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.Lock()
	defer w.Unlock()
	w.texts = append(w.texts, text)
}

func (w *warnings) take() []string {
	w.Lock()
	defer w.Unlock()
	texts := w.texts
	w.texts = nil
	return texts
}

// TestAdmissionAdoptionWarning: an EasyService named like a Deployment no EasyService controls is
// accepted with a warning naming it; the controller leaves the Deployment alone and reports
// ResourceExists. Without such an object, no warning.
func TestAdmissionAdoptionWarning(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "adoption")
	kubectl(t, "", "create", "deployment", "legacy", "--namespace="+ns, "--image=nginx:1.27")

	w := &warnings{}
	cfg := rest.CopyConfig(plane.config)
	cfg.WarningHandler = w
	client, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Deployment %s/legacy exists and no EasyService controls it: the controller will not adopt it, "+
		"and this EasyService reports ResourceExists until it is gone", ns)
	eventually(t, convergeTimeout, "a warning on a dry-run create", func(ctx context.Context) (bool, string) {
		_, err := client.AppV1().EasyServices(ns).Create(ctx, easyService("legacy", 1), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		texts := w.take()
		return err == nil && strings.Join(texts, "\n") == want, fmt.Sprintf("%v, warnings %q", err, texts)
	})
	if _, err := client.AppV1().EasyServices(ns).Create(ctx, easyService("legacy", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if texts := w.take(); strings.Join(texts, "\n") != want {
		t.Errorf("warnings of the create: %q, want %q", texts, want)
	}
	if _, err := client.AppV1().EasyServices(ns).Create(ctx, easyService("fresh", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if texts := w.take(); len(texts) != 0 {
		t.Errorf("warnings of a create without a clash: %q", texts)
	}
	ready := waitReadyReason(t, ns, "legacy", "ResourceExists")
	if ready.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v", ready)
	}
	d, err := plane.kube.AppsV1().Deployments(ns).Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil || len(d.OwnerReferences) != 0 {
		t.Errorf("the Deployment legacy: %v, owners %+v; want it left alone", err, d.OwnerReferences)
	}
}

// TestAdmissionConcurrentNodePort: two EasyServices created at the same moment with one nodePort,
// in two namespaces. Admission reads caches, so both may pass; then the controller is the backstop:
// one gets a Service with the port and the other reports ServiceFailed with the cluster's
// "provided port is already allocated". Never are both refused, nor both without the port
// reported.
func TestAdmissionConcurrentNodePort(t *testing.T) {
	const rounds = 3
	outcomes := map[string]int{}
	for round := range rounds {
		x, y := createNamespace(t, fmt.Sprintf("race%d-x", round)), createNamespace(t, fmt.Sprintf("race%d-y", round))
		p := freeNodePort(t)
		namespaces := []string{x, y}
		errs := make([]error, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, ns := range namespaces {
			wg.Go(func() {
				<-start
				_, errs[i] = plane.es.AppV1().EasyServices(ns).Create(t.Context(), withNodePort(easyService("web", 1), p), metav1.CreateOptions{})
			})
		}
		close(start)
		wg.Wait()
		var accepted []string
		for i, err := range errs {
			switch {
			case err == nil:
				accepted = append(accepted, namespaces[i])
			case apierrors.IsInvalid(err) && strings.Contains(err.Error(), "provided port is already allocated to EasyService "+namespaces[1-i]+"/web"):
			default:
				t.Fatalf("round %d: create in %s: %v", round, namespaces[i], err)
			}
		}
		switch len(accepted) {
		case 0:
			t.Fatalf("round %d: both creates refused: %v", round, errs)
		case 1:
			outcomes["one refused by admission"]++
			waitService(t, accepted[0], "web", fmt.Sprintf("nodePort %d", p), func(s *corev1.Service) bool { return s.Spec.Ports[0].NodePort == p })
		case 2:
			outcomes["both accepted, the controller's backstop"]++
			var holder, failed []string
			eventually(t, convergeTimeout, fmt.Sprintf("round %d: one Service with nodePort %d, the other EasyService ServiceFailed", round, p),
				func(ctx context.Context) (bool, string) {
					holder, failed = nil, nil
					for _, ns := range namespaces {
						if s, err := plane.kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{}); err == nil && s.Spec.Ports[0].NodePort == p {
							holder = append(holder, ns)
						}
						es, err := plane.es.AppV1().EasyServices(ns).Get(ctx, "web", metav1.GetOptions{})
						if err != nil {
							return false, err.Error()
						}
						if c := meta.FindStatusCondition(es.Status.Conditions, "Ready"); c != nil && c.Reason == "ServiceFailed" &&
							strings.Contains(c.Message, "provided port is already allocated") {
							failed = append(failed, ns)
						}
					}
					return len(holder) == 1 && len(failed) == 1 && holder[0] != failed[0], fmt.Sprintf("holder %v, failed %v", holder, failed)
				})
		}
	}
	t.Logf("outcomes of %d rounds: %v", rounds, outcomes)
}

// TestControllerNodePortConflict: the controller's backstop, made deterministic: an EasyService
// accepted while its nodePort was free (its Service name taken, so the controller made no Service)
// loses the port to a Service made meanwhile; once its name is free it reports the cluster's
// refusal, and gets the port once that Service is deleted.
func TestControllerNodePortConflict(t *testing.T) {
	ns := createNamespace(t, "ctrl-nodeport")
	n := "--namespace=" + ns
	nodePort := freeNodePort(t)
	kubectl(t, "", "create", "service", "clusterip", "second", n, "--tcp=80:80")
	kubectl(t, fmt.Sprintf(`apiVersion: app.easyservice.io/v1
kind: EasyService
metadata: {name: second}
spec:
  image: nginx:1.27
  ports: [{port: 80, nodePort: %d}]
`, nodePort), "apply", n, "-f", "-")
	waitReadyReason(t, ns, "second", "ResourceExists")
	// kube-apiserver knows nothing of EasyServices: the port is free for a Service.
	kubectl(t, "", "create", "service", "nodeport", "squatter", n, "--tcp=80:80", fmt.Sprintf("--node-port=%d", nodePort))
	kubectl(t, "", "delete", "service", "second", n)

	ready := waitReadyReason(t, ns, "second", "ServiceFailed")
	if ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, "provided port is already allocated") {
		t.Errorf("Ready = %+v, want the API's message", ready)
	}
	waitEvent(t, ns, "second", "Warning/ServiceFailed")
	// The rest of the EasyService is made.
	waitDeployment(t, ns, "second", "created", func(*appsv1.Deployment) bool { return true })

	kubectl(t, "", "delete", "service", "squatter", n)
	waitService(t, ns, "second", fmt.Sprintf("nodePort %d", nodePort), func(s *corev1.Service) bool {
		return s.Spec.Ports[0].NodePort == nodePort
	})
	waitReady(t, ns, "second")
}
