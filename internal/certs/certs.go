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

// Package certs is the repository's one certificate signer. It makes and keeps the CAs and
// certificates of hack/pki (the local control plane) and hack/gen-certs (an in-cluster install),
// and the client certificates the tests sign, in a directory of PEM files: <name>.crt (0644) and
// <name>.key (0600), ECDSA P-256 keys.
//
// It is idempotent: a certificate is kept when it is still signed by the current CA, valid for
// longer than the renew-before window, and has the requested subject, usages and SANs; otherwise
// it is made again. A CA that is made again makes everything it signs be made again too. What the
// commands print about it is theirs (Dir.Made).
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Backdate is how far before now a certificate becomes valid, to tolerate small clock differences
// between the machines or processes that read it.
const Backdate = 5 * time.Minute

// Pair is a certificate and its private key.
type Pair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Made is true when the pair was (re)generated in this run.
	Made bool
}

// Leaf is a certificate to make, signed by a CA.
type Leaf struct {
	// Name is the files' base name: <Name>.crt and <Name>.key.
	Name          string
	CommonName    string
	Organizations []string
	Usages        []x509.ExtKeyUsage
	DNSNames      []string
	IPs           []net.IP
}

// Dir makes and keeps the CAs and certificates of one directory, which must exist.
type Dir struct {
	Path string
	// Validity is the lifetime of a leaf certificate; a leaf never outlives its CA. CAs get
	// client-go's (cert.NewSelfSignedCACert: 10 years).
	Validity time.Duration
	// RenewBefore: a CA or certificate valid for less than this is made again.
	RenewBefore time.Duration
	// KeyUsage of the leaf certificates.
	KeyUsage x509.KeyUsage
	// Force makes every CA and certificate again.
	Force bool
	// Made, if set, is called after a CA or certificate was made and written, with its name.
	Made func(name string, p *Pair)
}

// Paths returns the certificate and key files of name.
func (d Dir) Paths(name string) (certPath, keyPath string) {
	return filepath.Join(d.Path, name+".crt"), filepath.Join(d.Path, name+".key")
}

// load reads a certificate and its key, or returns nil when either is missing, unreadable, does not
// match, or expires within d.RenewBefore.
func (d Dir) load(name string) *Pair {
	certPath, keyPath := d.Paths(name)
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
	if !ok || !PublicKeysEqual(certs[0].PublicKey, signer.Public()) {
		return nil
	}
	if time.Until(certs[0].NotAfter) < d.RenewBefore {
		return nil
	}
	return &Pair{Cert: certs[0], Key: signer}
}

// write writes the key (0600) and then the certificate (0644) of name, each atomically.
func (d Dir) write(name string, c *x509.Certificate, key crypto.Signer) error {
	certPath, keyPath := d.Paths(name)
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return err
	}
	certPEM, err := cert.EncodeCertificates(c)
	if err != nil {
		return err
	}
	if err := WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return WriteFile(certPath, certPEM, 0o644)
}

// EnsureCA returns the self-signed CA name with common name cn, made again unless the files hold a
// CA with that common name valid for longer than d.RenewBefore (and d.Force is off).
func (d Dir) EnsureCA(name, cn string) (*Pair, error) {
	if !d.Force {
		if p := d.load(name); p != nil && p.Cert.IsCA && p.Cert.Subject.CommonName == cn {
			return p, nil
		}
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	c, err := cert.NewSelfSignedCACert(cert.Config{CommonName: cn, NotBefore: time.Now().Add(-Backdate)}, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d.made(name, c, key)
}

// matches tells whether an existing leaf certificate is what leaf asks for, signed by ca.
func matches(c *x509.Certificate, leaf Leaf, ca *Pair) bool {
	if ca.Made || c.CheckSignatureFrom(ca.Cert) != nil {
		return false
	}
	if c.Subject.CommonName != leaf.CommonName || !slices.Equal(c.Subject.Organization, leaf.Organizations) {
		return false
	}
	if !slices.Equal(c.ExtKeyUsage, leaf.Usages) || !slices.Equal(c.DNSNames, leaf.DNSNames) {
		return false
	}
	return slices.EqualFunc(c.IPAddresses, leaf.IPs, func(a, b net.IP) bool { return a.Equal(b) })
}

// EnsureLeaf returns the certificate leaf signed by ca, made again unless the files hold one that
// matches leaf, is signed by ca (which was not made again in this run) and is valid for longer than
// d.RenewBefore (and d.Force is off).
func (d Dir) EnsureLeaf(leaf Leaf, ca *Pair) (*Pair, error) {
	if !d.Force {
		if p := d.load(leaf.Name); p != nil && matches(p.Cert, leaf, ca) {
			return p, nil
		}
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
	notAfter := now.Add(d.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: leaf.CommonName, Organization: leaf.Organizations},
		NotBefore:             now.Add(-Backdate).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              d.KeyUsage,
		ExtKeyUsage:           leaf.Usages,
		BasicConstraintsValid: true,
		DNSNames:              leaf.DNSNames,
		IPAddresses:           leaf.IPs,
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", leaf.Name, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return d.made(leaf.Name, c, key)
}

// made writes a new pair and tells d.Made.
func (d Dir) made(name string, c *x509.Certificate, key crypto.Signer) (*Pair, error) {
	if err := d.write(name, c, key); err != nil {
		return nil, err
	}
	p := &Pair{Cert: c, Key: key, Made: true}
	if d.Made != nil {
		d.Made(name, p)
	}
	return p, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
}

// PublicKeysEqual tells whether a and b are the same public key.
func PublicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// WriteFile writes data to path atomically (a temporary file in the same directory, renamed over
// path) with the given mode, whatever the mode of a file it replaces.
func WriteFile(path string, data []byte, mode os.FileMode) error {
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
