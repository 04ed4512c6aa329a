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

import "testing"

// TestServedWrites counts the writes of EasyServices, not reads, other resources or subresources.
func TestServedWrites(t *testing.T) {
	metrics := `# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="app.easyservice.io",resource="easyservices",scope="resource",subresource="",verb="POST",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="app.easyservice.io",resource="easyservices",scope="resource",subresource="",verb="PUT",version="v1"} 5
apiserver_request_total{code="409",component="apiserver",dry_run="",group="app.easyservice.io",resource="easyservices",scope="resource",subresource="",verb="PUT",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="app.easyservice.io",resource="easyservices",scope="resource",subresource="",verb="DELETE",version="v1beta1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="app.easyservice.io",resource="easyservices",scope="resource",subresource="",verb="GET",version="v1"} 100
apiserver_request_total{code="200",component="apiserver",dry_run="",group="app.easyservice.io",resource="easyservices",scope="resource",subresource="status",verb="PUT",version="v1"} 40
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 9
`
	if n, err := ServedWrites(metrics); err != nil || n != 17 {
		t.Errorf("ServedWrites = %d, %v; want 17", n, err)
	}
	if _, err := ServedWrites("# nothing\n"); err == nil {
		t.Errorf("ServedWrites of metrics without apiserver_request_total: no error")
	}
}
