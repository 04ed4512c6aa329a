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
	"net/http"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// probePaths are the paths a request without credentials may reach: kubelets probe them without any.
var probePaths = sets.New("/healthz", "/livez", "/readyz")

// anonymousOnlyForProbes lets a request that carries no credentials at all (no client certificate,
// no Authorization header) through as system:anonymous only on the probe paths, and leaves it
// unauthenticated (401) everywhere else. The generic delegating authenticator always allows
// anonymous requests, whatever its Anonymous option says, and a 403 for a client that forgot its
// credentials hides the actual problem. Anonymous users that kube-apiserver's front proxy vouches
// for are left alone: kube-apiserver has already authorized them.
func anonymousOnlyForProbes(auth authenticator.Request) authenticator.Request {
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		resp, ok, err := auth.AuthenticateRequest(req)
		if ok && resp.User.GetName() == user.Anonymous && !hasCredentials(req) && !probePaths.Has(req.URL.Path) {
			return nil, false, nil
		}
		return resp, ok, err
	})
}

func hasCredentials(req *http.Request) bool {
	return req.Header.Get("Authorization") != "" || (req.TLS != nil && len(req.TLS.PeerCertificates) > 0)
}
