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
//	                  [-node-name NAME -node-ip IP]
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
// With -node-name and -node-ip (a real node, LOCAL_UP_NODE=real), also:
//
//	kubelet.crt/.key                   CN=system:node:<node-name>, O=system:nodes (Node authorizer)
//	kubelet-serving.crt/.key           the kubelet's serving certificate, for <node-name> and <node-ip>
//	kube-proxy.crt/.key                CN=system:kube-proxy
//	apiserver-kubelet-client.crt/.key  CN=kube-apiserver-kubelet-client, kube-apiserver's client of
//	                                   the kubelets (logs, exec, port-forward)
//
// With -kubeconfig-dir, it also writes admin.kubeconfig, kube-controller-manager.kubeconfig,
// kube-scheduler.kubeconfig and kwok.kubeconfig there, with the certificates embedded, and with
// -node-name kubelet.kubeconfig and kube-proxy.kubeconfig.
//
// easyservice-apiserver's certificates (serving, and etcd's) are the in-cluster install's: see
// hack/gen-certs.
package main

import (
	"bytes"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	clientcmd "k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"

	"github.com/easyservice/easyservice/internal/certs"
)

func main() {
	dir := flag.String("dir", "", "directory of the certificates and keys (created if missing)")
	advertise := flag.String("advertise-address", "198.18.244.1", "kube-apiserver's --advertise-address, a SAN of its serving certificate")
	serviceCIDR := flag.String("service-cidr", "198.19.0.0/16", "kube-apiserver's --service-cluster-ip-range; its first IP is a SAN of the serving certificate")
	kubeconfigDir := flag.String("kubeconfig-dir", "", "if set, write admin, kube-controller-manager, kube-scheduler and kwok kubeconfigs here")
	server := flag.String("server", "", "kube-apiserver URL for the kubeconfigs (required with -kubeconfig-dir)")
	nodeName := flag.String("node-name", "", "if set, the certificates (and kubeconfigs) of a real node of this name: kubelet, kube-proxy, and kube-apiserver's kubelet client")
	nodeIP := flag.String("node-ip", "", "the real node's IP, a SAN of the kubelet's serving certificate (required with -node-name)")
	quiet := flag.Bool("quiet", false, "print nothing on success")
	flag.Parse()
	if err := run(*dir, *advertise, *serviceCIDR, *kubeconfigDir, *server, *nodeName, *nodeIP, *quiet); err != nil {
		fmt.Fprintf(os.Stderr, "pki: %v\n", err)
		os.Exit(1)
	}
}

func run(dir, advertise, serviceCIDR, kubeconfigDir, server, nodeName, nodeIP string, quiet bool) error {
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
	var nodeAddr net.IP
	if nodeName != "" {
		if nodeAddr = net.ParseIP(nodeIP); nodeAddr == nil {
			return fmt.Errorf("-node-ip %q is not an IP (required with -node-name)", nodeIP)
		}
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

	// Leaves live a year (at most as long as their CA); a CA or leaf is made again within a day of
	// expiring.
	d := certs.Dir{
		Path:        dir,
		Validity:    365 * 24 * time.Hour,
		RenewBefore: 24 * time.Hour,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		Made: func(name string, p *certs.Pair) {
			if p.Cert.IsCA {
				logf("made CA %s (%s)", name, p.Cert.Subject.CommonName)
			} else {
				logf("made certificate %s (CN=%s)", name, p.Cert.Subject.CommonName)
			}
		},
	}
	ca, err := d.EnsureCA("ca", "easyservice-local-ca")
	if err != nil {
		return err
	}
	frontProxyCA, err := d.EnsureCA("front-proxy-ca", "easyservice-local-front-proxy-ca")
	if err != nil {
		return err
	}

	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	leaves := []signedLeaf{
		{ca, certs.Leaf{Name: "kube-apiserver", CommonName: "kube-apiserver", Usages: serverAuth,
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPs:      []net.IP{net.ParseIP("127.0.0.1"), serviceIP, advertiseIP}}},
		{ca, certs.Leaf{Name: "admin", CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Usages: clientAuth}},
		{ca, certs.Leaf{Name: "kube-controller-manager", CommonName: "system:kube-controller-manager", Usages: clientAuth}},
		{ca, certs.Leaf{Name: "kube-scheduler", CommonName: "system:kube-scheduler", Usages: clientAuth}},
		{ca, certs.Leaf{Name: "kwok", CommonName: "kwok", Organizations: []string{"system:masters"}, Usages: clientAuth}},
		{frontProxyCA, certs.Leaf{Name: "front-proxy-client", CommonName: "front-proxy-client", Usages: clientAuth}},
	}
	kubeconfigs := []kubeconfigUser{
		{"admin", "kubernetes-admin"},
		{"kube-controller-manager", "system:kube-controller-manager"},
		{"kube-scheduler", "system:kube-scheduler"},
		{"kwok", "kwok"},
	}
	if nodeName != "" {
		// The kubelet's user is the one the Node authorizer knows a node by; kube-proxy's is the one
		// RBAC's default ClusterRoleBinding system:node-proxier names.
		kubeletUser, kubeProxyUser := "system:node:"+nodeName, "system:kube-proxy"
		leaves = append(leaves,
			signedLeaf{ca, certs.Leaf{Name: "kubelet", CommonName: kubeletUser, Organizations: []string{"system:nodes"}, Usages: clientAuth}},
			signedLeaf{ca, certs.Leaf{Name: "kubelet-serving", CommonName: nodeName, Usages: serverAuth, DNSNames: []string{nodeName}, IPs: []net.IP{nodeAddr}}},
			signedLeaf{ca, certs.Leaf{Name: "kube-proxy", CommonName: kubeProxyUser, Usages: clientAuth}},
			signedLeaf{ca, certs.Leaf{Name: "apiserver-kubelet-client", CommonName: "kube-apiserver-kubelet-client", Usages: clientAuth}},
		)
		kubeconfigs = append(kubeconfigs, kubeconfigUser{"kubelet", kubeletUser}, kubeconfigUser{"kube-proxy", kubeProxyUser})
	}
	for _, l := range leaves {
		if _, err := d.EnsureLeaf(l.leaf, l.ca); err != nil {
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
	for _, k := range kubeconfigs {
		if err := writeKubeconfig(filepath.Join(kubeconfigDir, k.name+".kubeconfig"), server, caPEM, d, k.name, k.user); err != nil {
			return err
		}
	}
	logf("kubeconfigs for %s written to %s", server, kubeconfigDir)
	return nil
}

// signedLeaf is a certificate to make and the CA that signs it.
type signedLeaf struct {
	ca   *certs.Pair
	leaf certs.Leaf
}

// kubeconfigUser is a kubeconfig to write: <name>.kubeconfig with the certificate <name>.crt/.key,
// whose user is named user.
type kubeconfigUser struct{ name, user string }

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

// ensureServiceAccountKey makes sa.key (RSA private key) and sa.pub (its public key), unless a
// matching pair exists.
func ensureServiceAccountKey(dir string, logf func(string, ...any)) error {
	keyPath, pubPath := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if key, err := keyutil.PrivateKeyFromFile(keyPath); err == nil {
		if rsaKey, ok := key.(*rsa.PrivateKey); ok {
			if pubs, err := keyutil.PublicKeysFromFile(pubPath); err == nil && len(pubs) == 1 && certs.PublicKeysEqual(pubs[0], rsaKey.Public()) {
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
func writeKubeconfig(path, server string, caPEM []byte, pki certs.Dir, name, user string) error {
	certPath, keyPath := pki.Paths(name)
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
	// 0600: the files hold client keys.
	return certs.WriteFile(path, data, 0o600)
}
