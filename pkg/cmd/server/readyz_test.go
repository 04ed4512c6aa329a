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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"testing"

	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
)

func TestRequestHeaderCAReady(t *testing.T) {
	// The provider delegated authentication makes, before its informer has run: no content.
	client, err := kubernetes.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	unloaded, err := dynamiccertificates.NewDynamicCAFromConfigMapController("client-ca", "kube-system",
		"extension-apiserver-authentication", "requestheader-client-ca-file", client)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "front-proxy-ca"}, key)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := dynamiccertificates.NewStaticCAContent("front-proxy-ca", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		ca    dynamiccertificates.CAContentProvider
		ready bool
	}{
		{"not loaded yet", unloaded, false},
		{"loaded", loaded, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := requestHeaderCAReady(tc.ca)
			if check.Name() != requestHeaderCACheckName {
				t.Errorf("Name() = %q", check.Name())
			}
			if err := check.Check(nil); (err == nil) != tc.ready {
				t.Errorf("Check() = %v, want ready %t", err, tc.ready)
			}
		})
	}
}
