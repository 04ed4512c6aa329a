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

// Command pki makes the certificates, keys and kubeconfigs of the local control plane that
// hack/local-up.sh starts. It is idempotent per directory: a certificate is kept when it is still
// signed by the current CA, not about to expire, and has the requested subject, usages and SANs;
// otherwise it (and, for a CA, everything it signed) is made again.
//
//	go run ./hack/pki -dir DIR [-advertise-address IP] [-service-cidr CIDR]
//	                  [-kubeconfig-dir DIR -server https://127.0.0.1:6443]
//
// Files in -dir (PEM; keys 0600):
//
//	ca.crt/.key                        cluster CA (client-ca-file, kubelet/cluster signing)
//	kube-apiserver.crt/.key            kube-apiserver serving certificate
//	admin.crt/.key                     CN=kubernetes-admin, O=system:masters
//	kube-controller-manager.crt/.key   CN=system:kube-controller-manager
//	kube-scheduler.crt/.key            CN=system:kube-scheduler
//	kwok.crt/.key                      CN=kwok, O=system:masters
//	front-proxy-ca.crt/.key            the aggregation layer's request-header CA (separate)
//	front-proxy-client.crt/.key        CN=front-proxy-client, kube-apiserver's proxy client
//	sa.key, sa.pub                     service-account signing key pair (RSA)
//
// With -kubeconfig-dir, it also writes admin.kubeconfig, kube-controller-manager.kubeconfig,
// kube-scheduler.kubeconfig and kwok.kubeconfig there, with the certificates embedded.
//
// easyservice-apiserver's certificates (serving, and etcd's) are the in-cluster install's: see
// hack/gen-certs.
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	clientcmd "k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

const (
	leafValidity = 365 * 24 * time.Hour
	// A certificate expiring sooner than this is made again.
	minRemaining = 24 * time.Hour
	// Tolerate small clock differences between the processes reading the certificates.
	backdate = 5 * time.Minute
)

type pair struct {
	cert *x509.Certificate
	key  crypto.Signer
	// made is true when the pair was (re)generated in this run.
	made bool
}

type leafSpec struct {
	name   string // file base name
	cn     string
	orgs   []string
	usages []x509.ExtKeyUsage
	dns    []string
	ips    []net.IP
}

func main() {
	dir := flag.String("dir", "", "directory of the certificates and keys (created if missing)")
	advertise := flag.String("advertise-address", "198.51.100.10", "kube-apiserver's --advertise-address, a SAN of its serving certificate")
	serviceCIDR := flag.String("service-cidr", "10.0.0.0/16", "kube-apiserver's --service-cluster-ip-range; its first IP is a SAN of the serving certificate")
	kubeconfigDir := flag.String("kubeconfig-dir", "", "if set, write admin, kube-controller-manager, kube-scheduler and kwok kubeconfigs here")
	server := flag.String("server", "", "kube-apiserver URL for the kubeconfigs (required with -kubeconfig-dir)")
	quiet := flag.Bool("quiet", false, "print nothing on success")
	flag.Parse()
	if err := run(*dir, *advertise, *serviceCIDR, *kubeconfigDir, *server, *quiet); err != nil {
		fmt.Fprintf(os.Stderr, "pki: %v\n", err)
		os.Exit(1)
	}
}

func run(dir, advertise, serviceCIDR, kubeconfigDir, server string, quiet bool) error {
	if dir == "" {
		return errors.New("-dir is required")
	}
	if kubeconfigDir != "" && server == "" {
		return errors.New("-server is required with -kubeconfig-dir")
	}
	advertiseIP := net.ParseIP(advertise)
	if advertiseIP == nil {
		return fmt.Errorf("-advertise-address %q is not an IP", advertise)
	}
	serviceIP, err := firstServiceIP(serviceCIDR)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		if !quiet {
			fmt.Printf(format+"\n", args...)
		}
	}

	ca, err := ensureCA(dir, "ca", "easyservice-local-ca", logf)
	if err != nil {
		return err
	}
	frontProxyCA, err := ensureCA(dir, "front-proxy-ca", "easyservice-local-front-proxy-ca", logf)
	if err != nil {
		return err
	}

	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	leaves := []struct {
		ca   *pair
		spec leafSpec
	}{
		{ca, leafSpec{name: "kube-apiserver", cn: "kube-apiserver", usages: serverAuth,
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []net.IP{net.ParseIP("127.0.0.1"), serviceIP, advertiseIP}}},
		{ca, leafSpec{name: "admin", cn: "kubernetes-admin", orgs: []string{"system:masters"}, usages: clientAuth}},
		{ca, leafSpec{name: "kube-controller-manager", cn: "system:kube-controller-manager", usages: clientAuth}},
		{ca, leafSpec{name: "kube-scheduler", cn: "system:kube-scheduler", usages: clientAuth}},
		{ca, leafSpec{name: "kwok", cn: "kwok", orgs: []string{"system:masters"}, usages: clientAuth}},
		{frontProxyCA, leafSpec{name: "front-proxy-client", cn: "front-proxy-client", usages: clientAuth}},
	}
	for _, l := range leaves {
		if _, err := ensureLeaf(dir, l.spec, l.ca, logf); err != nil {
			return err
		}
	}
	if err := ensureServiceAccountKey(dir, logf); err != nil {
		return err
	}

	if kubeconfigDir == "" {
		return nil
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return err
	}
	for _, k := range []struct{ name, user string }{
		{"admin", "kubernetes-admin"},
		{"kube-controller-manager", "system:kube-controller-manager"},
		{"kube-scheduler", "system:kube-scheduler"},
		{"kwok", "kwok"},
	} {
		if err := writeKubeconfig(filepath.Join(kubeconfigDir, k.name+".kubeconfig"), server, caPEM, dir, k.name, k.user); err != nil {
			return err
		}
	}
	logf("kubeconfigs for %s written to %s", server, kubeconfigDir)
	return nil
}

// firstServiceIP returns the first usable IP of the service CIDR (the "kubernetes" Service's).
func firstServiceIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("-service-cidr: %w", err)
	}
	ip := slices.Clone(n.IP)
	ip[len(ip)-1]++
	if !n.Contains(ip) {
		return nil, fmt.Errorf("-service-cidr %s is too small", cidr)
	}
	return ip, nil
}

func paths(dir, name string) (string, string) {
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
}

// load reads a certificate and key pair, or returns nil when either is missing or unreadable.
func load(dir, name string) *pair {
	certPath, keyPath := paths(dir, name)
	if ok, _ := cert.CanReadCertAndKey(certPath, keyPath); !ok {
		return nil
	}
	certs, err := cert.CertsFromFile(certPath)
	if err != nil || len(certs) == 0 {
		return nil
	}
	key, err := keyutil.PrivateKeyFromFile(keyPath)
	if err != nil {
		return nil
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !publicKeysEqual(certs[0].PublicKey, signer.Public()) {
		return nil
	}
	if time.Until(certs[0].NotAfter) < minRemaining {
		return nil
	}
	return &pair{cert: certs[0], key: signer}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
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
	if err := keyutil.WriteKey(keyPath, keyPEM); err != nil {
		return err
	}
	return cert.WriteCert(certPath, certPEM)
}

func ensureCA(dir, name, cn string, logf func(string, ...any)) (*pair, error) {
	if p := load(dir, name); p != nil && p.cert.IsCA && p.cert.Subject.CommonName == cn {
		return p, nil
	}
	key, err := newKey()
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
	logf("made CA %s (%s)", name, cn)
	return &pair{cert: c, key: key, made: true}, nil
}

// matches tells whether an existing leaf certificate is what spec asks for, signed by ca.
func matches(c *x509.Certificate, spec leafSpec, ca *pair) bool {
	if ca.made || c.CheckSignatureFrom(ca.cert) != nil {
		return false
	}
	if c.Subject.CommonName != spec.cn || !slices.Equal(c.Subject.Organization, spec.orgs) {
		return false
	}
	if !slices.Equal(c.ExtKeyUsage, spec.usages) || !slices.Equal(c.DNSNames, spec.dns) {
		return false
	}
	return slices.EqualFunc(c.IPAddresses, spec.ips, func(a, b net.IP) bool { return a.Equal(b) })
}

func ensureLeaf(dir string, spec leafSpec, ca *pair, logf func(string, ...any)) (*pair, error) {
	if p := load(dir, spec.name); p != nil && matches(p.cert, spec, ca) {
		return p, nil
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := cryptorand.Int(cryptorand.Reader, big.NewInt(math.MaxInt64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.Add(leafValidity).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           spec.usages,
		BasicConstraintsValid: true,
		DNSNames:              spec.dns,
		IPAddresses:           spec.ips,
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.name, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := write(dir, spec.name, c, key); err != nil {
		return nil, err
	}
	logf("made certificate %s (CN=%s)", spec.name, spec.cn)
	return &pair{cert: c, key: key, made: true}, nil
}

// ensureServiceAccountKey makes sa.key (RSA private key) and sa.pub (its public key), unless a
// matching pair exists.
func ensureServiceAccountKey(dir string, logf func(string, ...any)) error {
	keyPath, pubPath := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if key, err := keyutil.PrivateKeyFromFile(keyPath); err == nil {
		if rsaKey, ok := key.(*rsa.PrivateKey); ok {
			if pubs, err := keyutil.PublicKeysFromFile(pubPath); err == nil && len(pubs) == 1 && publicKeysEqual(pubs[0], rsaKey.Public()) {
				return nil
			}
		}
	}
	key, err := rsa.GenerateKey(cryptorand.Reader, 2048)
	if err != nil {
		return err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	if err := keyutil.WriteKey(keyPath, keyPEM); err != nil {
		return err
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		return err
	}
	logf("made service-account key pair sa.key/sa.pub")
	return nil
}

// writeKubeconfig writes a kubeconfig with the CA and the client certificate <name>.crt/.key
// embedded, atomically, unless the file already has exactly that content.
func writeKubeconfig(path, server string, caPEM []byte, pkiDir, name, user string) error {
	certPath, keyPath := paths(pkiDir, name)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	const clusterName, contextName = "easyservice-local", "easyservice-local"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = contextName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close() //nolint:errcheck // the write error is the one to report
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
