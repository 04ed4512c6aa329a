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
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/utils/clock"
)

// caProvider is a CA bundle whose verify options a test replaces.
type caProvider struct{ opts x509.VerifyOptions }

var _ dynamiccertificates.CAContentProvider = &caProvider{}

func (p *caProvider) Name() string                              { return "test" }
func (p *caProvider) CurrentCABundleContent() []byte            { return nil }
func (p *caProvider) VerifyOptions() (x509.VerifyOptions, bool) { return p.opts, p.opts.Roots != nil }
func (p *caProvider) AddListener(dynamiccertificates.Listener)  {}

// TestAuthenticatorMatchesRequestHeader compares the Authenticator, request by request, with
// k8s.io/apiserver's own front-proxy authenticator of the same configuration (whose verification
// the Authenticator remembers): the same user, the same success, an error in the same cases, and
// the same headers left on the request.
func TestAuthenticatorMatchesRequestHeader(t *testing.T) {
	now := time.Now()
	frontProxyCA := newCA(t, "front-proxy-ca", now.Add(-time.Hour), now.Add(24*time.Hour), nil)
	clientCA := newCA(t, "client-ca", now.Add(-time.Hour), now.Add(24*time.Hour), nil)
	proxy := newClient(t, "front-proxy-client", now.Add(-time.Hour), now.Add(12*time.Hour), frontProxyCA, x509.ExtKeyUsageClientAuth)
	otherName := newClient(t, "someone-else", now.Add(-time.Hour), now.Add(12*time.Hour), frontProxyCA, x509.ExtKeyUsageClientAuth)
	expired := newClient(t, "front-proxy-client", now.Add(-2*time.Hour), now.Add(-time.Hour), frontProxyCA, x509.ExtKeyUsageClientAuth)
	admin := newClient(t, "admin", now.Add(-time.Hour), now.Add(12*time.Hour), clientCA, x509.ExtKeyUsageClientAuth)

	provider := &caProvider{opts: options(frontProxyCA)}
	cfg := &authenticatorfactory.RequestHeaderConfig{
		UsernameHeaders:     headerrequest.StaticStringSlice{"X-Remote-User"},
		UIDHeaders:          headerrequest.StaticStringSlice{"X-Remote-Uid"},
		GroupHeaders:        headerrequest.StaticStringSlice{"X-Remote-Group"},
		ExtraHeaderPrefixes: headerrequest.StaticStringSlice{"X-Remote-Extra-"},
		CAContentProvider:   provider,
		AllowedClientNames:  headerrequest.StaticStringSlice{"front-proxy-client"},
	}
	ours := New(cfg, clock.RealClock{})
	theirs := headerrequest.NewDynamicVerifyOptionsSecure(provider.VerifyOptions, cfg.AllowedClientNames,
		cfg.UsernameHeaders, cfg.UIDHeaders, cfg.GroupHeaders, cfg.ExtraHeaderPrefixes)

	userHeaders := http.Header{
		"X-Remote-User":          {"alice"},
		"X-Remote-Uid":           {"u-1"},
		"X-Remote-Group":         {"dev", "ops"},
		"X-Remote-Extra-Scopes":  {"a", "b"},
		"X-Remote-Extra-Acme.io": {"x"},
		"Accept":                 {"application/json"},
	}
	cases := []struct {
		name    string
		certs   []*x509.Certificate
		headers http.Header
		noTLS   bool
		wantOK  bool
	}{
		{name: "front proxy", certs: []*x509.Certificate{proxy.cert}, headers: userHeaders, wantOK: true},
		{name: "front proxy again (remembered)", certs: []*x509.Certificate{proxy.cert}, headers: userHeaders, wantOK: true},
		{name: "front proxy without a user", certs: []*x509.Certificate{proxy.cert}, headers: http.Header{"X-Remote-Group": {"dev"}}},
		{name: "name not allowed", certs: []*x509.Certificate{otherName.cert}, headers: userHeaders},
		{name: "expired", certs: []*x509.Certificate{expired.cert}, headers: userHeaders},
		{name: "client CA, not the front proxy's", certs: []*x509.Certificate{admin.cert}, headers: userHeaders},
		{name: "no client certificate", headers: userHeaders},
		{name: "no TLS", noTLS: true, headers: userHeaders},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			request := func() *http.Request {
				req := httptest.NewRequest(http.MethodGet, "/apis/app.easyservice.io/v1/easyservices", nil)
				req.Header = tc.headers.Clone()
				if tc.noTLS {
					req.TLS = nil
				} else {
					req.TLS = &tls.ConnectionState{PeerCertificates: tc.certs}
				}
				return req
			}
			ourReq, theirReq := request(), request()
			resp, ok, err := ours.AuthenticateRequest(ourReq)
			wantResp, wantOK, wantErr := theirs.AuthenticateRequest(theirReq)
			if ok != wantOK || (err == nil) != (wantErr == nil) || !reflect.DeepEqual(resp, wantResp) {
				t.Fatalf("got %+v, %v, %v; k8s.io/apiserver's front-proxy authenticator: %+v, %v, %v", resp, ok, err, wantResp, wantOK, wantErr)
			}
			if ok != tc.wantOK {
				t.Fatalf("authenticated %v, want %v (error %v)", ok, tc.wantOK, err)
			}
			if !reflect.DeepEqual(ourReq.Header, theirReq.Header) {
				t.Fatalf("headers left %v, k8s.io/apiserver leaves %v", ourReq.Header, theirReq.Header)
			}
		})
	}

	// The CA bundle is rotated away from the front proxy's CA: refused at once, like k8s.io/apiserver.
	provider.opts = options(clientCA)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header = userHeaders.Clone()
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{proxy.cert}}
	if _, ok, err := ours.AuthenticateRequest(req); ok || err == nil {
		t.Fatalf("after the CA bundle lost the front proxy's CA: authenticated %v, error %v; want a refusal", ok, err)
	}
}
