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

// Command gen-certs makes the certificates of an in-cluster install (artifacts/deploy) and writes
// them as a kustomize Component that artifacts/deploy/kustomization.yaml includes:
//
//	go run ./hack/gen-certs [-out artifacts/deploy/generated] [-namespace easyservice-system]
//	                        [-cluster-domain cluster.local] [-extra-serving-names NAME,IP,...]
//
// Files in -out:
//
//	kustomization.yaml  a kustomize Component: secrets.yaml, and a patch that sets the caBundle of
//	                    every APIService to the serving CA
//	secrets.yaml        four kubernetes.io/tls Secrets (tls.crt, tls.key, ca.crt), the same names and
//	                    keys as the cert-manager overlay's Certificates:
//	                      easyservice-apiserver-tls    serving certificate of easyservice-apiserver
//	                      easyservice-etcd-server-tls  etcd's client-facing serving certificate (and the
//	                                                   client certificate of its gRPC gateway)
//	                      easyservice-etcd-peer-tls    etcd's peer certificate (server and client auth)
//	                      easyservice-etcd-client-tls  easyservice-apiserver's client certificate for etcd
//	pki/                the PEM files (keys 0600), including the two CA keys; kept to renew
//
// Two CAs: the serving CA (the APIServices' caBundle; kube-apiserver's aggregator verifies
// easyservice-apiserver.<namespace>.svc against it) and the etcd CA (etcd trusts client and peer
// certificates it signed; easyservice-apiserver trusts etcd's serving certificate with it).
//
// It is idempotent: a run keeps every certificate that is still signed by its CA, has the requested
// names and usages and is valid for longer than -renew-before, so re-running it (and re-applying)
// renews what is about to expire without changing the caBundle. A CA is made again only when it is
// missing, invalid or about to expire; then everything it signed is made again too. -force makes
// everything again.
package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/easyservice/easyservice/internal/certs"
)

// Names of the Secrets, shared with the cert-manager overlay and mounted by the base manifests.
const (
	secretServing    = "easyservice-apiserver-tls"
	secretEtcdServer = "easyservice-etcd-server-tls"
	secretEtcdPeer   = "easyservice-etcd-peer-tls"
	secretEtcdClient = "easyservice-etcd-client-tls"
)

// Common names the manifests rely on: etcd accepts peers by --peer-cert-allowed-cn.
const (
	cnEtcdPeer   = "easyservice-etcd-peer"
	cnEtcdClient = "easyservice-apiserver"
)

type options struct {
	out           string
	namespace     string
	service       string
	etcdService   string
	etcdClientSvc string
	clusterDomain string
	// extraServing are more DNS names and IP addresses of the serving certificate.
	extraServing []string
	validity     time.Duration
	renewBefore  time.Duration
	force        bool
	quiet        bool
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "artifacts/deploy/generated", "output directory (created if missing); artifacts/deploy/kustomization.yaml includes artifacts/deploy/generated")
	flag.StringVar(&o.namespace, "namespace", "easyservice-system", "namespace of the install")
	flag.StringVar(&o.service, "service", "easyservice-apiserver", "Service of easyservice-apiserver (the APIServices' spec.service.name)")
	flag.StringVar(&o.etcdService, "etcd-service", "easyservice-etcd", "headless Service of the etcd StatefulSet (its pods are <service>-N.<service>.<namespace>.svc)")
	flag.StringVar(&o.etcdClientSvc, "etcd-client-service", "easyservice-etcd-client", "Service easyservice-apiserver reaches etcd through (--etcd-servers)")
	flag.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain (kubelet --cluster-domain)")
	extra := flag.String("extra-serving-names", "", "more DNS names and IP addresses for easyservice-apiserver's serving certificate, comma-separated "+
		"(e.g. the name of a load balancer in front of it; hack/local-up.sh adds localhost,127.0.0.1)")
	flag.DurationVar(&o.validity, "validity", 365*24*time.Hour, "lifetime of the leaf certificates")
	flag.DurationVar(&o.renewBefore, "renew-before", 30*24*time.Hour, "renew a certificate (or CA) valid for less than this")
	flag.BoolVar(&o.force, "force", false, "make every CA and certificate again (the caBundle changes)")
	flag.BoolVar(&o.quiet, "quiet", false, "print nothing on success")
	flag.Parse()
	if *extra != "" {
		o.extraServing = strings.Split(*extra, ",")
	}
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "gen-certs: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "gen-certs: %v\n", err)
		os.Exit(1)
	}
}

// serviceNames are the in-cluster DNS names of a Service.
func serviceNames(service, namespace, domain string) []string {
	return []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc." + domain,
	}
}

func run(o options) error {
	if o.out == "" || o.namespace == "" || o.service == "" || o.etcdService == "" || o.etcdClientSvc == "" || o.clusterDomain == "" {
		return errors.New("-out, -namespace, -service, -etcd-service, -etcd-client-service and -cluster-domain must not be empty")
	}
	if o.validity <= o.renewBefore {
		return fmt.Errorf("-validity %s must be longer than -renew-before %s", o.validity, o.renewBefore)
	}
	logf := func(format string, args ...any) {
		if !o.quiet {
			fmt.Printf(format+"\n", args...)
		}
	}
	// CAs are valid for client-go's 10 years (cert.NewSelfSignedCACert), leaves for -validity.
	pki := certs.Dir{
		Path:        filepath.Join(o.out, "pki"),
		Validity:    o.validity,
		RenewBefore: o.renewBefore,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		Force:       o.force,
		Made: func(name string, p *certs.Pair) {
			c := p.Cert
			if c.IsCA {
				logf("made CA %s (CN=%s, valid until %s)", name, c.Subject.CommonName, c.NotAfter.Format(time.DateOnly))
				return
			}
			names := strings.Join(c.DNSNames, ",")
			if names == "" {
				names = "none"
			}
			logf("made certificate %s (CN=%s, DNS: %s, valid until %s)", name, c.Subject.CommonName, names, c.NotAfter.Format(time.DateOnly))
		},
	}
	if err := os.MkdirAll(pki.Path, 0o700); err != nil {
		return err
	}
	servingCA, err := pki.EnsureCA("easyservice-ca", "easyservice-apiserver-ca")
	if err != nil {
		return err
	}
	etcdCA, err := pki.EnsureCA("etcd-ca", "easyservice-etcd-ca")
	if err != nil {
		return err
	}

	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	bothAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	// The StatefulSet's pods: <etcd-service>-N.<etcd-service>.<namespace>.svc[.<domain>].
	members := []string{
		"*." + o.etcdService + "." + o.namespace + ".svc",
		"*." + o.etcdService + "." + o.namespace + ".svc." + o.clusterDomain,
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	servingDNS, servingIPs := serviceNames(o.service, o.namespace, o.clusterDomain), []net.IP(nil)
	for _, name := range o.extraServing {
		if ip := net.ParseIP(name); ip != nil {
			servingIPs = append(servingIPs, ip)
		} else if name != "" {
			servingDNS = append(servingDNS, name)
		}
	}
	leaves := []struct {
		ca     *certs.Pair
		secret string
		leaf   certs.Leaf
	}{
		// The aggregator verifies <service>.<namespace>.svc. No loopback names unless asked: nothing
		// reaches a pod by them but the kubelet's probes, which do not verify.
		{servingCA, secretServing, certs.Leaf{Name: "easyservice-apiserver", CommonName: o.service, Usages: serverAuth,
			DNSNames: servingDNS, IPs: servingIPs}},
		// etcd's client URL: the client Service, every member, and loopback (etcdctl in the pod).
		// Client auth too: etcd's gRPC gateway (its HTTP JSON API) calls etcd with this certificate.
		{etcdCA, secretEtcdServer, certs.Leaf{Name: "etcd-server", CommonName: "easyservice-etcd", Usages: bothAuth,
			DNSNames: slices.Concat(serviceNames(o.etcdClientSvc, o.namespace, o.clusterDomain),
				serviceNames(o.etcdService, o.namespace, o.clusterDomain), members, []string{"localhost"}),
			IPs: loopback}},
		// Peers dial each other by member name and present this certificate as clients too.
		{etcdCA, secretEtcdPeer, certs.Leaf{Name: "etcd-peer", CommonName: cnEtcdPeer, Usages: bothAuth,
			DNSNames: slices.Concat(members, []string{"localhost"}), IPs: loopback}},
		// No SANs: etcd checks a client certificate's SANs against the client's address if it has any.
		{etcdCA, secretEtcdClient, certs.Leaf{Name: "etcd-client", CommonName: cnEtcdClient, Usages: clientAuth}},
	}

	var secrets bytes.Buffer
	secrets.WriteString("# Written by hack/gen-certs: do not edit, do not commit (private keys).\n")
	for _, l := range leaves {
		p, err := pki.EnsureLeaf(l.leaf, l.ca)
		if err != nil {
			return err
		}
		if err := writeSecret(&secrets, l.secret, o.namespace, p, l.ca); err != nil {
			return err
		}
	}
	if err := certs.WriteFile(filepath.Join(o.out, "secrets.yaml"), secrets.Bytes(), 0o600); err != nil {
		return err
	}
	caPEM, err := cert.EncodeCertificates(servingCA.Cert)
	if err != nil {
		return err
	}
	if err := certs.WriteFile(filepath.Join(o.out, "kustomization.yaml"), component(caPEM), 0o644); err != nil {
		return err
	}
	logf("wrote %s (Secrets) and %s (the Component with the APIServices' caBundle)",
		filepath.Join(o.out, "secrets.yaml"), filepath.Join(o.out, "kustomization.yaml"))
	return nil
}

// component is the kustomize Component: the Secrets and the caBundle of every APIService.
func component(caPEM []byte) []byte {
	return fmt.Appendf(nil, `# Written by hack/gen-certs: the certificates of an install, for artifacts/deploy/kustomization.yaml.
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
- secrets.yaml
patches:
- target:
    group: apiregistration.k8s.io
    kind: APIService
  patch: |-
    - op: add
      path: /spec/caBundle
      value: %s
`, base64.StdEncoding.EncodeToString(caPEM))
}

func writeSecret(w *bytes.Buffer, name, namespace string, p, ca *certs.Pair) error {
	certPEM, err := cert.EncodeCertificates(p.Cert)
	if err != nil {
		return err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(p.Key)
	if err != nil {
		return err
	}
	caPEM, err := cert.EncodeCertificates(ca.Cert)
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	fmt.Fprintf(w, `---
apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: %s
type: kubernetes.io/tls
data:
  ca.crt: %s
  tls.crt: %s
  tls.key: %s
`, name, namespace, b64(caPEM), b64(certPEM), b64(keyPEM))
	return nil
}
