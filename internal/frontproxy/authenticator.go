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

package frontproxy

import (
	"fmt"
	"net/http"
	"slices"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/utils/clock"
)

// Authenticator is k8s.io/apiserver's front-proxy authenticator
// (headerrequest.NewDynamicVerifyOptionsSecure) with a Verifier: a request is authenticated when
// its client certificate verifies against the request-header CA, the certificate's common name is
// one of the allowed names (if any are set), and a username header is set; the user is read from
// the X-Remote-* headers (as configured), which are then removed from the request.
type Authenticator struct {
	verifier     *Verifier
	allowedNames headerrequest.StringSliceProvider
	headers      authenticator.Request
}

var _ authenticator.Request = &Authenticator{}

// New returns the Authenticator of a request-header configuration, as delegated authentication
// reads it from kube-system/extension-apiserver-authentication.
func New(cfg *authenticatorfactory.RequestHeaderConfig, clk clock.PassiveClock) *Authenticator {
	return &Authenticator{
		verifier:     NewVerifier(cfg.CAContentProvider.VerifyOptions, clk),
		allowedNames: cfg.AllowedClientNames,
		headers:      headerrequest.NewDynamic(cfg.UsernameHeaders, cfg.UIDHeaders, cfg.GroupHeaders, cfg.ExtraHeaderPrefixes),
	}
}

// AuthenticateRequest implements authenticator.Request.
func (a *Authenticator) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	checked, err := a.verifier.Verify(req.TLS.PeerCertificates)
	if err != nil || !checked {
		return nil, false, err
	}
	if allowed := a.allowedNames.Value(); len(allowed) > 0 {
		if cn := req.TLS.PeerCertificates[0].Subject.CommonName; !slices.Contains(allowed, cn) {
			return nil, false, fmt.Errorf("x509: subject with cn=%s is not in the allowed list", cn)
		}
	}
	return a.headers.AuthenticateRequest(req)
}
