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
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Tolerate small clock differences between the cluster's nodes. (client-go's NewSelfSignedCACert
// makes CAs valid for 10 years.)
const backdate = 5 * time.Minute

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

// leafSpec is one certificate to make.
type leafSpec struct {
	file   string // base name in pki/
	secret string
	cn     string
	usages []x509.ExtKeyUsage
	dns    []string
	ips    []net.IP
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
	pki := filepath.Join(o.out, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}

	servingCA, err := ensureCA(pki, "easyservice-ca", "easyservice-apiserver-ca", o, logf)
	if err != nil {
		return err
	}
	etcdCA, err := ensureCA(pki, "etcd-ca", "easyservice-etcd-ca", o, logf)
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
		ca   *pair
		spec leafSpec
	}{
		// The aggregator verifies <service>.<namespace>.svc. No loopback names unless asked: nothing
		// reaches a pod by them but the kubelet's probes, which do not verify.
		{servingCA, leafSpec{file: "easyservice-apiserver", secret: secretServing, cn: o.service, usages: serverAuth,
			dns: servingDNS, ips: servingIPs}},
		// etcd's client URL: the client Service, every member, and loopback (etcdctl in the pod).
		// Client auth too: etcd's gRPC gateway (its HTTP JSON API) calls etcd with this certificate.
		{etcdCA, leafSpec{file: "etcd-server", secret: secretEtcdServer, cn: "easyservice-etcd", usages: bothAuth,
			dns: slices.Concat(serviceNames(o.etcdClientSvc, o.namespace, o.clusterDomain),
				serviceNames(o.etcdService, o.namespace, o.clusterDomain), members, []string{"localhost"}),
			ips: loopback}},
		// Peers dial each other by member name and present this certificate as clients too.
		{etcdCA, leafSpec{file: "etcd-peer", secret: secretEtcdPeer, cn: cnEtcdPeer, usages: bothAuth,
			dns: slices.Concat(members, []string{"localhost"}), ips: loopback}},
		// No SANs: etcd checks a client certificate's SANs against the client's address if it has any.
		{etcdCA, leafSpec{file: "etcd-client", secret: secretEtcdClient, cn: cnEtcdClient, usages: clientAuth}},
	}

	var secrets bytes.Buffer
	secrets.WriteString("# Written by hack/gen-certs: do not edit, do not commit (private keys).\n")
	for _, l := range leaves {
		p, err := ensureLeaf(pki, l.spec, l.ca, o, logf)
		if err != nil {
			return err
		}
		if err := writeSecret(&secrets, l.spec.secret, o.namespace, p, l.ca); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(o.out, "secrets.yaml"), secrets.Bytes(), 0o600); err != nil {
		return err
	}
	caPEM, err := cert.EncodeCertificates(servingCA.cert)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(o.out, "kustomization.yaml"), component(caPEM), 0o644); err != nil {
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

func writeSecret(w *bytes.Buffer, name, namespace string, p, ca *pair) error {
	certPEM, err := cert.EncodeCertificates(p.cert)
	if err != nil {
		return err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(p.key)
	if err != nil {
		return err
	}
	caPEM, err := cert.EncodeCertificates(ca.cert)
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

type pair struct {
	cert *x509.Certificate
	key  crypto.Signer
	// made is true when the pair was (re)generated in this run.
	made bool
}

func paths(dir, name string) (string, string) {
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
}

// load reads a certificate and its key, or returns nil when either is missing, unreadable, does not
// match, or expires within renewBefore.
func load(dir, name string, renewBefore time.Duration) *pair {
	certPath, keyPath := paths(dir, name)
	if ok, _ := cert.CanReadCertAndKey(certPath, keyPath); !ok {
		return nil
	}
	certs, err := cert.CertsFromFile(certPath)
	if err != nil || len(certs) != 1 {
		return nil
	}
	key, err := keyutil.PrivateKeyFromFile(keyPath)
	if err != nil {
		return nil
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil
	}
	pub, ok := certs[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(signer.Public()) {
		return nil
	}
	if time.Until(certs[0].NotAfter) < renewBefore {
		return nil
	}
	return &pair{cert: certs[0], key: signer}
}

func write(dir, name string, c *x509.Certificate, key crypto.Signer) error {
	certPath, keyPath := paths(dir, name)
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return err
	}
	certPEM, err := cert.EncodeCertificates(c)
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(certPath, certPEM, 0o644)
}

// writeFile writes atomically (a temporary file renamed over path) with the given mode.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close() //nolint:errcheck // the chmod error is the one to report
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close() //nolint:errcheck // the write error is the one to report
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func ensureCA(dir, name, cn string, o options, logf func(string, ...any)) (*pair, error) {
	if !o.force {
		if p := load(dir, name, o.renewBefore); p != nil && p.cert.IsCA && p.cert.Subject.CommonName == cn {
			return p, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		return nil, err
	}
	c, err := cert.NewSelfSignedCACert(cert.Config{CommonName: cn, NotBefore: time.Now().Add(-backdate)}, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := write(dir, name, c, key); err != nil {
		return nil, err
	}
	logf("made CA %s (CN=%s, valid until %s)", name, cn, c.NotAfter.Format(time.DateOnly))
	return &pair{cert: c, key: key, made: true}, nil
}

// matches tells whether an existing leaf certificate is what spec asks for, signed by ca.
func matches(c *x509.Certificate, spec leafSpec, ca *pair) bool {
	if ca.made || c.CheckSignatureFrom(ca.cert) != nil {
		return false
	}
	if c.Subject.CommonName != spec.cn || !slices.Equal(c.ExtKeyUsage, spec.usages) || !slices.Equal(c.DNSNames, spec.dns) {
		return false
	}
	return slices.EqualFunc(c.IPAddresses, spec.ips, func(a, b net.IP) bool { return a.Equal(b) })
}

func ensureLeaf(dir string, spec leafSpec, ca *pair, o options, logf func(string, ...any)) (*pair, error) {
	if !o.force {
		if p := load(dir, spec.file, o.renewBefore); p != nil && matches(p.cert, spec, ca) {
			return p, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := cryptorand.Int(cryptorand.Reader, big.NewInt(math.MaxInt64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(o.validity)
	// A leaf never outlives its CA.
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: spec.cn},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           spec.usages,
		BasicConstraintsValid: true,
		DNSNames:              spec.dns,
		IPAddresses:           spec.ips,
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.file, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := write(dir, spec.file, c, key); err != nil {
		return nil, err
	}
	names := strings.Join(spec.dns, ",")
	if names == "" {
		names = "none"
	}
	logf("made certificate %s (CN=%s, DNS: %s, valid until %s)", spec.file, spec.cn, names, c.NotAfter.Format(time.DateOnly))
	return &pair{cert: c, key: key, made: true}, nil
}
