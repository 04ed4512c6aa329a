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
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/utils/ptr"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// TestControllerStatusWritesAlone checks what the README says a new EasyService costs: two applies
// and, once the Deployment has reported, one status write when its rollout is done within the
// controller's status batch period (--controller-status-batch-period), a write per period in which
// the rollout moved otherwise.
//
// One EasyService at a time is created on an idle plane. Each must cost exactly two applies
// (kube-apiserver's apiserver_request_total) and as many status requests as the status changes a
// watch of it sees (easyservice-apiserver's), and its first status write must come no sooner than
// the batch period after the create unless it reports a Deployment that has rolled out (the
// controller reports that at once): the sync that applies the Deployment leaves the status to a
// later one. The test follows each EasyService until its status mirrors its Deployment's final
// status; the controller, whose status is a pure function of the two, then has nothing left to
// write, and the watch must stay quiet for three batch periods more. The first EasyService whose
// Deployment had finished its rollout when the controller wrote the first status must have got no
// other write: kwok runs the pods at once, so this takes one or two tries on an idle plane, and a
// status write that is not the final one shows in its place as a second write. Five EasyServices
// whose rollouts all outlast the batch period fail the test.
func TestControllerStatusWritesAlone(t *testing.T) {
	waitIdle(t)
	batch := statusBatchPeriod(t)
	ns := createNamespace(t, "ctrl-alone")
	var tries []string
	for i := 1; i <= 5; i++ {
		r := createAlone(t, ns, fmt.Sprintf("alone-%d", i), batch)
		tries = append(tries, r.String())
		if r.firstIsFinal {
			if len(r.writes) != 1 {
				t.Errorf("the status was written %d times, the first time already as final:\n%s", len(r.writes), formatWrites(r))
			}
			t.Logf("batch period %v; EasyServices tried: %s", batch, strings.Join(tries, "; "))
			return
		}
	}
	t.Fatalf("in none of %d EasyServices was the Deployment's rollout done when the controller first wrote the status "+
		"(batch period %v): %s", len(tries), batch, strings.Join(tries, "; "))
}

// aloneResult is what TestControllerStatusWritesAlone saw of one EasyService.
type aloneResult struct {
	name string
	// writes are the EasyService's statuses as its watch saw them change, at after the create.
	writes []v1.EasyServiceStatus
	at     []time.Duration
	// firstIsFinal is whether the first status written mirrors the Deployment's final status.
	firstIsFinal bool
}

func (r aloneResult) String() string {
	at := make([]string, 0, len(r.at))
	for _, d := range r.at {
		at = append(at, d.Round(time.Millisecond).String())
	}
	return fmt.Sprintf("%s: %d status write(s), at %s after the create", r.name, len(r.writes), strings.Join(at, ", "))
}

// createAlone creates one EasyService, follows it until its status mirrors its Deployment's final
// status, checks what it cost and returns the status writes it got.
func createAlone(t *testing.T, ns, name string, batch time.Duration) aloneResult {
	t.Helper()
	ctx := t.Context()
	w, err := plane.es.AppV1().EasyServices(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	statusBefore, appliesBefore := statusRequests(t), childApplies(t)

	es := &v1.EasyService{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.EasyServiceSpec{
			Replicas: ptr.To[int32](2),
			Image:    "nginx:1.27",
			Ports:    []v1.EasyServicePort{{Port: 80}},
		},
	}
	created := time.Now()
	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	r := aloneResult{name: name}
	var last *v1.EasyService
	var d *appsv1.Deployment
	// seen handles a watch event; it returns false when the watch ended.
	seen := func(ev watch.Event, ok bool) bool {
		if !ok {
			return false
		}
		got, isES := ev.Object.(*v1.EasyService)
		switch {
		case !isES || (ev.Type != watch.Added && ev.Type != watch.Modified):
			t.Fatalf("watch event %s %#v", ev.Type, ev.Object)
		case ev.Type == watch.Modified && last != nil && !equality.Semantic.DeepEqual(got.Status, last.Status):
			r.writes, r.at = append(r.writes, got.Status), append(r.at, time.Since(created))
			if len(r.writes) == 1 {
				// The watch delivers after the write: d, read by then, is at least as new as what
				// the controller saw.
				if d, err = plane.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
					r.firstIsFinal = deploymentComplete(d) && mirrorsDeployment(got, d)
				}
			}
		}
		last = got
		return true
	}
	timeout := time.After(convergeTimeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for last == nil || d == nil || !deploymentComplete(d) || !mirrorsDeployment(last, d) {
		select {
		case ev, ok := <-w.ResultChan():
			if !seen(ev, ok) {
				t.Fatal("the watch of the EasyService ended")
			}
		case <-tick.C:
			if d, err = plane.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				d = nil
			}
		case <-timeout:
			t.Fatalf("after %v the status of %s does not mirror a complete Deployment; EasyService %+v; Deployment %+v",
				convergeTimeout, name, last, d)
		}
	}
	// Nothing is left to write; the watch stays quiet.
	quiet := time.After(3 * batch)
	for waiting := true; waiting; {
		select {
		case ev, ok := <-w.ResultChan():
			if !seen(ev, ok) {
				t.Fatal("the watch of the EasyService ended")
			}
		case <-quiet:
			waiting = false
		}
	}
	if !mirrorsDeployment(last, d) {
		t.Errorf("%s: a status write after the final status: %s", name, formatWrites(r))
	}

	// The last status request has long been counted.
	requests, applies := statusRequests(t)-statusBefore, childApplies(t)-appliesBefore
	if applies != 2 {
		t.Errorf("%s: kube-apiserver served %v applies of Deployments and Services, want 2", name, applies)
	}
	if requests != float64(len(r.writes)) {
		t.Errorf("%s: easyservice-apiserver served %v status writes of EasyServices, the watch saw %d", name, requests, len(r.writes))
	}
	// Within the batch period after the create only a Deployment that has rolled out is reported.
	if len(r.at) > 0 && r.at[0] < batch && !r.firstIsFinal {
		t.Errorf("%s: the first status write came %v after the create, within the batch period %v, and the rollout was not done:\n%s",
			name, r.at[0], batch, formatWrites(r))
	}
	return r
}

// statusBatchPeriod is the --controller-status-batch-period of the plane's easyservice-apiserver.
func statusBatchPeriod(t *testing.T) time.Duration {
	t.Helper()
	const flag = "--controller-status-batch-period"
	argv := findPlaneProcess(t, "easyservice-apiserver").argv
	for i, a := range argv {
		v, ok := strings.CutPrefix(a, flag+"=")
		if !ok && a == flag && i+1 < len(argv) {
			v, ok = argv[i+1], true
		}
		if ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			return d
		}
	}
	return time.Second // the flag's default
}

// waitIdle waits until the plane has nothing left to do from earlier tests: no namespace is being
// deleted, and every EasyService has been observed at its generation.
func waitIdle(t *testing.T) {
	t.Helper()
	eventually(t, 3*time.Minute, "an idle plane", func(ctx context.Context) (bool, string) {
		namespaces, err := plane.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, n := range namespaces.Items {
			if n.Status.Phase == corev1.NamespaceTerminating {
				return false, "namespace " + n.Name + " is terminating"
			}
		}
		list, err := plane.es.AppV1().EasyServices("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, es := range list.Items {
			if es.Status.ObservedGeneration != es.Generation {
				return false, fmt.Sprintf("EasyService %s/%s: generation %d observed %d", es.Namespace, es.Name, es.Generation, es.Status.ObservedGeneration)
			}
		}
		return true, ""
	})
}

// deploymentComplete tells whether the Deployment has rolled out its spec and says so in its status,
// which then changes no more.
func deploymentComplete(d *appsv1.Deployment) bool {
	want, st := ptr.Deref(d.Spec.Replicas, 1), d.Status
	progressing := deploymentCondition(d, appsv1.DeploymentProgressing)
	available := deploymentCondition(d, appsv1.DeploymentAvailable)
	return st.ObservedGeneration == d.Generation && st.Replicas == want && st.UpdatedReplicas == want &&
		st.ReadyReplicas == want && st.AvailableReplicas == want && st.UnavailableReplicas == 0 &&
		available != nil && available.Status == corev1.ConditionTrue &&
		// The reason the Deployment controller gives a finished rollout.
		progressing != nil && progressing.Status == corev1.ConditionTrue && progressing.Reason == "NewReplicaSetAvailable"
}

// mirrorsDeployment tells whether the EasyService's status is Ready and is what the controller
// computes from the Deployment: its generation observed, the Deployment's counters and its
// Available and Progressing conditions.
func mirrorsDeployment(es *v1.EasyService, d *appsv1.Deployment) bool {
	s := es.Status
	if s.ObservedGeneration != es.Generation || !meta.IsStatusConditionTrue(s.Conditions, "Ready") ||
		s.Replicas != d.Status.Replicas || s.UpdatedReplicas != d.Status.UpdatedReplicas || s.ReadyReplicas != d.Status.ReadyReplicas ||
		s.AvailableReplicas != d.Status.AvailableReplicas || s.UnavailableReplicas != d.Status.UnavailableReplicas {
		return false
	}
	for _, ct := range []appsv1.DeploymentConditionType{appsv1.DeploymentAvailable, appsv1.DeploymentProgressing} {
		dc, c := deploymentCondition(d, ct), meta.FindStatusCondition(s.Conditions, string(ct))
		if dc == nil || c == nil || string(c.Status) != string(dc.Status) || c.Reason != dc.Reason || c.Message != dc.Message {
			return false
		}
	}
	return true
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func formatWrites(r aloneResult) string {
	var b strings.Builder
	for i, s := range r.writes {
		fmt.Fprintf(&b, "  %v: ready %d/%d, updated %d, conditions:", r.at[i].Round(time.Millisecond), s.ReadyReplicas, s.Replicas, s.UpdatedReplicas)
		for _, c := range s.Conditions {
			fmt.Fprintf(&b, " %s=%s (%s)", c.Type, c.Status, c.Reason)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// statusRequests is the number of writes of EasyServices' status easyservice-apiserver has served
// (its apiserver_request_total), whatever their outcome.
func statusRequests(t *testing.T) float64 {
	t.Helper()
	code, body := probe(esAdminClient(t), "https://127.0.0.1:"+plane.env["ES_PORT"]+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("metrics of easyservice-apiserver: %d %s", code, body)
	}
	return sumRequests(t, body, func(m testutil.Metric) bool {
		return m["resource"] == "easyservices" && m["subresource"] == "status" && isWrite(m["verb"])
	})
}

// childApplies is the number of server-side applies of Deployments and Services kube-apiserver has
// served (its apiserver_request_total), whatever their outcome.
func childApplies(t *testing.T) float64 {
	t.Helper()
	body, err := plane.kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("metrics of kube-apiserver: %v", err)
	}
	return sumRequests(t, string(body), func(m testutil.Metric) bool {
		return (m["resource"] == "deployments" || m["resource"] == "services") && m["subresource"] == "" && m["verb"] == "APPLY"
	})
}

func isWrite(verb testutil.LabelValue) bool {
	switch verb {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE":
		return true
	}
	return false
}

// sumRequests sums the samples of apiserver_request_total in a /metrics body that match.
func sumRequests(t *testing.T, body string, match func(testutil.Metric) bool) float64 {
	t.Helper()
	all := testutil.NewMetrics()
	if err := testutil.ParseMetrics(body, &all); err != nil {
		t.Fatal(err)
	}
	samples, ok := all["apiserver_request_total"]
	if !ok {
		t.Fatal("no apiserver_request_total in the metrics")
	}
	var n float64
	for _, s := range samples {
		if match(s.Metric) {
			n += float64(s.Value)
		}
	}
	return n
}
