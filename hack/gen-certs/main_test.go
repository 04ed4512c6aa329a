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

package main

import (
	"bytes"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/util/cert"
)

func testOptions(dir string) options {
	return options{
		out: dir, namespace: "easyservice-system", service: "easyservice-apiserver", etcdService: "easyservice-etcd",
		etcdClientSvc: "easyservice-etcd-client", clusterDomain: "cluster.local",
		validity: 365 * 24 * time.Hour, renewBefore: 30 * 24 * time.Hour, quiet: true,
	}
}

func readCert(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	certs, err := cert.CertsFromFile(filepath.Join(dir, "pki", name+".crt"))
	if err != nil || len(certs) != 1 {
		t.Fatalf("%s: %v", name, err)
	}
	return certs[0]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A second run keeps everything, -renew-before beyond the leaves' lifetime renews them under the
// same CAs (the caBundle stays), -force makes new CAs.
func TestRunKeepsRenewsAndForces(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	component := readFile(t, filepath.Join(dir, "kustomization.yaml"))
	serving := readCert(t, dir, "easyservice-apiserver")
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	if !readCert(t, dir, "easyservice-apiserver").Equal(serving) || !bytes.Equal(component, readFile(t, filepath.Join(dir, "kustomization.yaml"))) {
		t.Error("a second run changed the certificates")
	}

	renew := o
	renew.validity, renew.renewBefore = 400*24*time.Hour, 366*24*time.Hour
	if err := run(renew); err != nil {
		t.Fatal(err)
	}
	if readCert(t, dir, "easyservice-apiserver").Equal(serving) {
		t.Error("a certificate within -renew-before was kept")
	}
	if !bytes.Equal(component, readFile(t, filepath.Join(dir, "kustomization.yaml"))) {
		t.Error("renewing the leaves changed the caBundle")
	}

	force := o
	force.force = true
	if err := run(force); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(component, readFile(t, filepath.Join(dir, "kustomization.yaml"))) {
		t.Error("-force kept the serving CA")
	}
	if info, err := os.Stat(filepath.Join(dir, "secrets.yaml")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("secrets.yaml: %v, %v; want mode 0600", info, err)
	}
}

// The names follow -namespace and -cluster-domain; changing them makes new certificates.
func TestRunNames(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.namespace, o.clusterDomain = "es", "example.org"
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"easyservice-apiserver": "easyservice-apiserver.es.svc.example.org",
		"etcd-server":           "easyservice-etcd-client.es.svc",
		"etcd-peer":             "*.easyservice-etcd.es.svc.example.org",
	} {
		if c := readCert(t, dir, name); !slices.Contains(c.DNSNames, want) {
			t.Errorf("%s: DNS names %q, want %s among them", name, c.DNSNames, want)
		}
	}
	if c := readCert(t, dir, "etcd-client"); len(c.DNSNames)+len(c.IPAddresses) != 0 || c.Subject.CommonName != cnEtcdClient {
		t.Errorf("etcd-client: CN %q, SANs %q %q; want CN %s and no SANs", c.Subject.CommonName, c.DNSNames, c.IPAddresses, cnEtcdClient)
	}
	o.extraServing = []string{"localhost", "127.0.0.1"}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	if c := readCert(t, dir, "easyservice-apiserver"); !slices.Contains(c.DNSNames, "localhost") || len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("with -extra-serving-names localhost,127.0.0.1: DNS names %q, IPs %q", c.DNSNames, c.IPAddresses)
	}
	ca := readCert(t, dir, "easyservice-ca")
	o.namespace = "other"
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	if c := readCert(t, dir, "easyservice-apiserver"); !slices.Contains(c.DNSNames, "easyservice-apiserver.other.svc") || c.CheckSignatureFrom(ca) != nil {
		t.Errorf("after -namespace other: DNS names %q, signed by the same CA: %v", c.DNSNames, c.CheckSignatureFrom(ca))
	}
}
