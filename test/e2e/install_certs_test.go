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

// The install's certificates (what hack/gen-certs makes and cert-manager's Certificates ask for)
// fit its manifests.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestInstallCertificates: the certificates hack/gen-certs makes fit the manifests: the aggregator
// accepts the serving certificate for the APIServices' service against their caBundle; etcd's serving
// certificate is valid for the host of --etcd-servers and for every member's name; etcd accepts the
// client certificate (its CA is --trusted-ca-file) and the peer certificate (--peer-cert-allowed-cn);
// every key matches its certificate. And cert-manager's Certificates ask for the same names.
func TestInstallCertificates(t *testing.T) {
	all := renderAll(t)
	r := all["overlays/etcd-ha"]
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", installNamespace, serverName))
	sts := typed[appsv1.StatefulSet](t, r.find(t, "StatefulSet", installNamespace, "easyservice-etcd"))
	server := container(t, &d.Spec.Template.Spec, serverName)
	etcd := container(t, &sts.Spec.Template.Spec, "etcd")

	// fileOf reads the file a flag names in a container, from the Secret mounted there.
	fileOf := func(spec *corev1.PodSpec, c *corev1.Container, flag string) []byte {
		secret, key := podFile(t, spec, c, flagValue(t, c.Args, flag))
		data, ok := secretData(t, r, secret)[key]
		if !ok {
			t.Fatalf("%s: the Secret %s has no %s", flag, secret, key)
		}
		return data
	}
	pool := func(pemData []byte) *x509.CertPool {
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(pemData) {
			t.Fatal("no certificate in a CA bundle")
		}
		return p
	}
	leaf := func(certPEM, keyPEM []byte) *x509.Certificate {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatalf("a certificate and its key: %v", err)
		}
		return pair.Leaf
	}
	verify := func(what string, c *x509.Certificate, roots *x509.CertPool, dnsName string, usage x509.ExtKeyUsage) {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: dnsName, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	// The aggregator: https://<service>.<namespace>.svc, verified against the caBundle.
	as := r.find(t, "APIService", "", "v1.app.easyservice.io")
	bundle, _, _ := unstructured.NestedString(as.Object, "spec", "caBundle")
	caBundle, err := base64.StdEncoding.DecodeString(bundle)
	if err != nil {
		t.Fatal(err)
	}
	svcName, _, _ := unstructured.NestedString(as.Object, "spec", "service", "name")
	svcNamespace, _, _ := unstructured.NestedString(as.Object, "spec", "service", "namespace")
	serving := leaf(fileOf(&d.Spec.Template.Spec, server, "--tls-cert-file"), fileOf(&d.Spec.Template.Spec, server, "--tls-private-key-file"))
	verify("serving certificate for the aggregator", serving, pool(caBundle), svcName+"."+svcNamespace+".svc", x509.ExtKeyUsageServerAuth)

	// easyservice-apiserver -> etcd.
	etcdURL, err := url.Parse(flagValue(t, server.Args, "--etcd-servers"))
	if err != nil {
		t.Fatal(err)
	}
	etcdServing := leaf(fileOf(&sts.Spec.Template.Spec, etcd, "--cert-file"), fileOf(&sts.Spec.Template.Spec, etcd, "--key-file"))
	verify("etcd's serving certificate for --etcd-servers", etcdServing, pool(fileOf(&d.Spec.Template.Spec, server, "--etcd-cafile")), etcdURL.Hostname(), x509.ExtKeyUsageServerAuth)
	client := leaf(fileOf(&d.Spec.Template.Spec, server, "--etcd-certfile"), fileOf(&d.Spec.Template.Spec, server, "--etcd-keyfile"))
	verify("easyservice-apiserver's client certificate at etcd", client, pool(fileOf(&sts.Spec.Template.Spec, etcd, "--trusted-ca-file")), "", x509.ExtKeyUsageClientAuth)
	if len(client.DNSNames)+len(client.IPAddresses) != 0 {
		t.Errorf("the etcd client certificate has SANs, which etcd would check against the client's address")
	}

	// etcd members, by the names they advertise.
	peer := leaf(fileOf(&sts.Spec.Template.Spec, etcd, "--peer-cert-file"), fileOf(&sts.Spec.Template.Spec, etcd, "--peer-key-file"))
	peerRoots := pool(fileOf(&sts.Spec.Template.Spec, etcd, "--peer-trusted-ca-file"))
	for i := range int(*sts.Spec.Replicas) {
		pod := fmt.Sprintf("%s-%d", sts.Name, i)
		for _, flag := range []string{"--advertise-client-urls", "--initial-advertise-peer-urls"} {
			u, err := url.Parse(strings.ReplaceAll(flagValue(t, etcd.Args, flag), "$(POD_NAME)", pod))
			if err != nil {
				t.Fatal(err)
			}
			verify(pod+": etcd's serving certificate for "+flag, etcdServing, peerRoots, u.Hostname(), x509.ExtKeyUsageServerAuth)
			if flag == "--initial-advertise-peer-urls" {
				verify(pod+": the peer certificate as a peer server", peer, peerRoots, u.Hostname(), x509.ExtKeyUsageServerAuth)
			}
		}
	}
	verify("the peer certificate as a peer client", peer, peerRoots, "", x509.ExtKeyUsageClientAuth)
	if cn := flagValue(t, etcd.Args, "--peer-cert-allowed-cn"); peer.Subject.CommonName != cn {
		t.Errorf("the peer certificate's CN %q is not --peer-cert-allowed-cn %q", peer.Subject.CommonName, cn)
	}
	if client.Subject.CommonName == peer.Subject.CommonName {
		t.Errorf("easyservice-apiserver's etcd client certificate could join etcd as a peer (CN %q)", client.Subject.CommonName)
	}

	// cert-manager asks for what hack/gen-certs makes.
	generated := map[string]*x509.Certificate{}
	for _, s := range r.ofKind("Secret") {
		data := secretData(t, r, s.GetName())
		generated[s.GetName()] = leaf(data["tls.crt"], data["tls.key"])
	}
	usageNames := map[x509.ExtKeyUsage]string{x509.ExtKeyUsageServerAuth: "server auth", x509.ExtKeyUsageClientAuth: "client auth"}
	for _, c := range all["overlays/cert-manager"].ofKind("Certificate") {
		var spec struct {
			SecretName  string   `json:"secretName"`
			CommonName  string   `json:"commonName"`
			DNSNames    []string `json:"dnsNames"`
			IPAddresses []string `json:"ipAddresses"`
			Usages      []string `json:"usages"`
			IsCA        bool     `json:"isCA"`
		}
		data, _ := json.Marshal(c.Object["spec"])
		if err := json.Unmarshal(data, &spec); err != nil {
			t.Fatal(err)
		}
		if spec.IsCA {
			continue
		}
		g := generated[spec.SecretName]
		if g == nil {
			t.Errorf("cert-manager Certificate %s: hack/gen-certs makes no Secret %s", c.GetName(), spec.SecretName)
			continue
		}
		var ips, usages []string
		for _, ip := range g.IPAddresses {
			ips = append(ips, ip.String())
		}
		for _, u := range g.ExtKeyUsage {
			usages = append(usages, usageNames[u])
		}
		usages = append(usages, "digital signature")
		for _, l := range [][]string{spec.DNSNames, spec.IPAddresses, spec.Usages, ips, usages, g.DNSNames} {
			slices.Sort(l)
		}
		if spec.CommonName != g.Subject.CommonName || !slices.Equal(spec.DNSNames, slices.Sorted(slices.Values(g.DNSNames))) ||
			!slices.Equal(spec.IPAddresses, ips) || !slices.Equal(spec.Usages, usages) {
			t.Errorf("cert-manager Certificate %s asks for CN %q, DNS %q, IPs %q, usages %q; hack/gen-certs makes CN %q, DNS %q, IPs %q, usages %q",
				c.GetName(), spec.CommonName, spec.DNSNames, spec.IPAddresses, spec.Usages, g.Subject.CommonName, g.DNSNames, ips, usages)
		}
	}
}
