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
	"net/http"
	"strings"
	"testing"

	"k8s.io/component-base/metrics/testutil"
)

// TestReadyzAndMetrics: what the README promises an operator of the plane's server. /readyz names
// the informer syncs of the admission plugin and of the controller; /metrics, once the controller
// has reconciled an EasyService, has its reconcile count and duration, the workqueue metrics of its
// queue "easyservice" and the leader election's status.
func TestReadyzAndMetrics(t *testing.T) {
	ns := createNamespace(t, "metrics")
	kubectl(t, webManifest, "apply", "--namespace="+ns, "-f", "-")
	waitReady(t, ns, "web")

	admin := esAdminClient(t)
	code, body := probe(admin, esReadyzURL())
	if code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	for _, check := range []string{"[+]easyservice-admission-informers ok", "[+]easyservice-controller-informers ok"} {
		if !strings.Contains(body, check) {
			t.Errorf("/readyz?verbose lacks %q:\n%s", check, body)
		}
	}

	code, body = probe(admin, "https://127.0.0.1:"+plane.env["ES_PORT"]+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, tail(body, 5))
	}
	metrics := testutil.NewMetrics()
	if err := testutil.ParseMetrics(body, &metrics); err != nil {
		t.Fatal(err)
	}
	// Each metric with the labels that must be on one of its samples, and whether that sample must
	// have counted something by now.
	for _, want := range []struct {
		name     string
		labels   map[string]string
		positive bool
	}{
		{"easyservice_controller_reconciles_total", map[string]string{"result": "success"}, true},
		{"easyservice_controller_reconcile_duration_seconds_count", nil, true},
		{"workqueue_adds_total", map[string]string{"name": "easyservice"}, true},
		{"workqueue_depth", map[string]string{"name": "easyservice"}, false},
		{"workqueue_work_duration_seconds_count", map[string]string{"name": "easyservice"}, true},
		{"workqueue_retries_total", map[string]string{"name": "easyservice"}, false},
		{"leader_election_master_status", nil, false},
	} {
		found := false
		for _, sample := range metrics[want.name] {
			matches := true
			for k, v := range want.labels {
				matches = matches && string(sample.Metric[testutil.LabelName(k)]) == v
			}
			if matches && (!want.positive || sample.Value > 0) {
				found = true
			}
		}
		if !found {
			t.Errorf("/metrics has no sample of %s with labels %v (counting something: %t); it has %v", want.name, want.labels, want.positive, metrics[want.name])
		}
	}
}
