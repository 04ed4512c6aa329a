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

// A namespace's ResourceQuota limits EasyServices as it limits built-in kinds: easyservice-apiserver's
// ResourceQuota admission plugin charges each create to the quota (an update of its status) and
// refuses one past it; kube-controller-manager's resourcequota controller, which finds the resource
// by discovery and lists it through the aggregator, sets the quota's status and frees what deletes free.

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
)

// easyServiceCount is the quota's name for the number of EasyServices in a namespace.
const easyServiceCount corev1.ResourceName = "count/easyservices.app.easyservice.io"

// waitQuotaUsed waits until the status of the quota name in namespace has the hard limit hard and
// the usage used of EasyServices.
func waitQuotaUsed(t *testing.T, namespace, name string, hard, used int64, why string) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("quota %s to show %d of %d EasyServices used (%s)", name, used, hard, why), func(ctx context.Context) (bool, string) {
		q, err := plane.kube.CoreV1().ResourceQuotas(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		h, hok := q.Status.Hard[easyServiceCount]
		u, uok := q.Status.Used[easyServiceCount]
		return hok && uok && h.Value() == hard && u.Value() == used, fmt.Sprintf("status %+v", q.Status)
	})
}

// TestQuota: with `kubectl create quota q --hard=count/easyservices.app.easyservice.io=2`, two
// EasyServices are created (v1 and v1beta1), the third is refused with 403 "exceeded quota" in
// either version, through kube-apiserver and directly, and nothing of it is stored; kubectl shows
// 2/2 used. A delete frees one (kube-controller-manager recounts), a dry run then is admitted and
// charges nothing, and the create that follows is charged by the server itself.
func TestQuota(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "quota")
	kubectl(t, "", "create", "quota", "q", "--hard="+string(easyServiceCount)+"=2", "--namespace="+ns)
	waitQuotaUsed(t, ns, "q", 2, 0, "kube-controller-manager's first count")

	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("one", 1), metav1.CreateOptions{}); err != nil {
		t.Fatalf("first create (v1): %v", err)
	}
	size := int32(1)
	two := &v1beta1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: "two"},
		Spec: v1beta1.EasyServiceSpec{Replicas: &size, Image: "nginx:1.27", Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := plane.es.AppV1beta1().EasyServices(ns).Create(ctx, two, metav1.CreateOptions{}); err != nil {
		t.Fatalf("second create (v1beta1): %v", err)
	}
	// Charged by the server's admission; or counted by kube-controller-manager, had the server's
	// informer not had the quota yet when the creates came.
	waitQuotaUsed(t, ns, "q", 2, 2, "two EasyServices")

	want := fmt.Sprintf("exceeded quota: q, requested: %[1]s=1, used: %[1]s=2, limited: %[1]s=2", easyServiceCount)
	exceeded := func(err error) bool { return apierrors.IsForbidden(err) && strings.Contains(err.Error(), want) }
	waitRefusedOnDryRun(t, ns, easyService("three", 1), "a third EasyService", exceeded)
	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("three", 1), metav1.CreateOptions{}); !exceeded(err) {
		t.Errorf("third create (v1): %v, want 403 with %q", err, want)
	}
	three := two.DeepCopy()
	three.Name = "three"
	if _, err := plane.es.AppV1beta1().EasyServices(ns).Create(ctx, three, metav1.CreateOptions{}); !exceeded(err) {
		t.Errorf("third create (v1beta1): %v, want 403 with %q", err, want)
	}
	// Straight to the server, as a member of system:masters by a client certificate of the
	// cluster's CA (which the server trusts, as kube-apiserver does).
	admin := loadCA(t, "ca").clientCert(t, pkix.Name{CommonName: "e2e-quota", Organization: []string{"system:masters"}})
	direct := httpsClient(t, "easyservice-ca", admin)
	for version, body := range map[string]string{
		"v1": easyServiceJSON(ns, "three"),
		"v1beta1": fmt.Sprintf(`{"apiVersion":"app.easyservice.io/v1beta1","kind":"EasyService","metadata":{"name":"three","namespace":%q},`+
			`"spec":{"size":1,"image":"nginx:1.27","ports":[{"port":80}]}}`, ns),
	} {
		url := fmt.Sprintf("https://127.0.0.1:%s/apis/app.easyservice.io/%s/namespaces/%s/easyservices", plane.env["ES_PORT"], version, ns)
		if code, body := call(t, direct, http.MethodPost, url, body, nil); code != http.StatusForbidden || !strings.Contains(body, want) {
			t.Errorf("third create (%s) straight to the server = %d, want 403 with %q: %.400s", version, code, want, body)
		}
	}
	stored := storedEasyServices(t, ns)
	if len(stored) != 2 || !slices.ContainsFunc(stored, func(k string) bool { return strings.HasSuffix(k, "/one") }) ||
		!slices.ContainsFunc(stored, func(k string) bool { return strings.HasSuffix(k, "/two") }) {
		t.Errorf("our etcd holds %v for the namespace, want one and two", stored)
	}
	if out := kubectl(t, "", "get", "quota", "q", "--namespace="+ns); !strings.Contains(out, string(easyServiceCount)+": 2/2") {
		t.Errorf("kubectl get quota lacks %s: 2/2:\n%s", easyServiceCount, out)
	}

	kubectl(t, "", "delete", "easyservice", "one", "--namespace="+ns)
	waitQuotaUsed(t, ns, "q", 2, 1, "kube-controller-manager's recount after a delete")
	// The server's informer follows kube-apiserver: a dry run is admitted once it has the new usage.
	var last error
	// (The test's context for the create: the poll's ends with one under way.)
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		_, last = plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("three", 1), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting for the server to admit a dry-run create after the delete: %v; last answer: %v", err, last)
	}
	q, err := plane.kube.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
	if used := q.Status.Used[easyServiceCount]; err != nil || used.Value() != 1 {
		t.Errorf("after an admitted dry run: %v, used %s, want 1 (a dry run is not charged)", err, used.String())
	}

	createdAt := time.Now()
	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("three", 1), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create after the delete: %v", err)
	}
	// The server charged it before it answered: its quota admission refuses the next at once,
	// without waiting for kube-controller-manager.
	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, easyService("four", 1), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); !exceeded(err) {
		t.Errorf("dry-run create right after the third: %v, want 403 with %q", err, want)
	}
	waitQuotaUsed(t, ns, "q", 2, 2, "the create after the delete")
	// kube-apiserver's audit log shows the server's charge: its update of the quota's status.
	eventually(t, 30*time.Second, "the audit log to show the server's update of the quota's status", func(context.Context) (bool, string) {
		return serverMade(t, func(r serverRequest, a authorizationv1.ResourceAttributes) bool {
			return r.code() == http.StatusOK && !r.RequestReceivedTimestamp.Time.Before(createdAt.Add(-time.Second)) &&
				a.Verb == "update" && a.Resource == "resourcequotas" && a.Subresource == "status" && a.Namespace == ns && a.Name == "q"
		}), "no such request yet"
	})
}
