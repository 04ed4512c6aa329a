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

package server

import (
	"errors"
	"net/http"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/healthz"
)

// requestHeaderCACheckName is the name of the readiness check of requestHeaderCAReady.
const requestHeaderCACheckName = "requestheader-client-ca"

// requestHeaderCAReady is a readiness check: the CA that verifies the front-proxy client
// certificate of kube-apiserver is loaded. Every request through the aggregation layer carries that
// certificate. With delegated authentication the server takes the CA from the ConfigMap
// kube-system/extension-apiserver-authentication through an informer that starts only when the
// server starts serving, and the generic server's readiness does not wait for it (its first load
// reads the informer's still empty cache). Until the informer has synced, every request that
// kube-apiserver proxies is authenticated as system:anonymous and denied (403), although every
// other check passes. In a rolling restart that is a window in which a replica that reports ready
// rejects what it is sent.
func requestHeaderCAReady(ca dynamiccertificates.CAContentProvider) healthz.HealthChecker {
	return healthz.NamedCheck(requestHeaderCACheckName, func(*http.Request) error {
		if len(ca.CurrentCABundleContent()) == 0 {
			return errors.New("the request-header client CA (kube-system/extension-apiserver-authentication) is not loaded yet")
		}
		return nil
	})
}
