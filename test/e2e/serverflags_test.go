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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServerFlagsTurnPartsOff: a server started with --enable-controller=false and
// --disable-admission-plugins=EasyServiceConflicts, beside the plane's on its etcd, runs neither.
// It reports ready without the informers of either, stands for no election and reconciles nothing
// while the plane's controller reconciles, and admits a nodePort another EasyService holds, which
// the plane's server refuses.
func TestServerFlagsTurnPartsOff(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "parts-off")
	c := startCandidate(t, "parts-off", controllerLease, "--enable-controller=false", "--disable-admission-plugins=EasyServiceConflicts")

	port := freeNodePort(t)
	holder := easyService("holder", 1)
	holder.Spec.Ports[0].NodePort = port
	if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, holder, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clash := easyService("clash", 1)
	clash.Spec.Ports[0].NodePort = port
	waitRefusedOnDryRun(t, ns, clash, "a dry run of a nodePort holder holds", func(err error) bool {
		return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "provided port is already allocated")
	})
	if _, err := c.easyServices(t).AppV1().EasyServices(ns).Create(ctx, clash, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("a dry run of the clashing nodePort through the server without EasyServiceConflicts: %v, want it admitted", err)
	}
	waitReady(t, ns, "holder") // reconciled by the plane's controller

	code, body, err := c.get(ctx, "/readyz?verbose")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/readyz of %s: %d %v", c.name, code, err)
	}
	for _, check := range []string{"easyservice-controller-informers", "easyservice-admission-informers"} {
		if strings.Contains(body, check) {
			t.Errorf("/readyz of %s has %s, whose part is off:\n%s", c.name, check, body)
		}
	}
	code, body, err = c.get(ctx, "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics of %s: %d %v", c.name, code, err)
	}
	for _, metric := range []string{"leader_election_master_status{", "easyservice_controller_reconciles_total{"} {
		if strings.Contains(body, "\n"+metric) {
			t.Errorf("/metrics of %s has %s...: it took part in the election or reconciled", c.name, metric)
		}
	}
}
