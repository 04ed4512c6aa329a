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

package harness

import (
	"fmt"

	"k8s.io/component-base/metrics/testutil"
)

// ServedWrites returns how many creates, updates and deletes of EasyServices an
// easyservice-apiserver has served, by the text of its /metrics (apiserver_request_total): behind
// kube-apiserver, the writes it proxied to that server, such as the harness's writers'. (The
// controller writes only the status subresource, which is not counted.)
func ServedWrites(metrics string) (int, error) {
	samples := testutil.NewMetrics()
	if err := testutil.ParseMetrics(metrics, &samples); err != nil {
		return 0, err
	}
	requests, ok := samples["apiserver_request_total"]
	if !ok {
		return 0, fmt.Errorf("no apiserver_request_total in the metrics")
	}
	n := 0
	for _, s := range requests {
		switch s.Metric["verb"] {
		case "POST", "PUT", "DELETE":
		default:
			continue
		}
		if s.Metric["group"] == "app.easyservice.io" && s.Metric["resource"] == "easyservices" && s.Metric["subresource"] == "" {
			n += int(s.Value)
		}
	}
	return n, nil
}
