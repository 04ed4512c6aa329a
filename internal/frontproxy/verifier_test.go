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
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	clocktesting "k8s.io/utils/clock/testing"
)

// t0 is the start of every test's clock; certificates are valid from t0 - 1h unless a test says.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type pair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial atomic.Int64

// sign makes a certificate of template, signed by parent (self-signed if nil).
func sign(t *testing.T, template *x509.Certificate, parent *pair) *pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template.SerialNumber = big.NewInt(serial.Add(1))
	signer, issuer := crypto.Signer(key), template
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pair{cert: cert, key: key}
}

func newCA(t *testing.T, cn string, notBefore, notAfter time.Time, parent *pair) *pair {
	return sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, parent)
}

func newClient(t *testing.T, cn string, notBefore, notAfter time.Time, ca *pair, usage x509.ExtKeyUsage) *pair {
	return sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}, ca)
}

// options returns k8s.io/apiserver's client-certificate verify options with roots.
func options(roots ...*pair) x509.VerifyOptions {
	opts := x509request.DefaultVerifyOptions()
	opts.Roots = x509.NewCertPool()
	for _, r := range roots {
		opts.Roots.AddCert(r.cert)
	}
	return opts
}

// harness is a Verifier on a fake clock whose options a test sets, counting crypto/x509's verifications.
type harness struct {
	*Verifier
	clock *clocktesting.FakePassiveClock
	opts  atomic.Pointer[x509.VerifyOptions]
	calls int
}

func newHarness(opts x509.VerifyOptions) *harness {
	h := &harness{clock: clocktesting.NewFakePassiveClock(t0)}
	h.opts.Store(&opts)
	h.Verifier = NewVerifier(func() (x509.VerifyOptions, bool) {
		o := h.opts.Load()
		if o == nil {
			return x509.VerifyOptions{}, false
		}
		return *o, true
	}, h.clock)
	h.verify = func(leaf *x509.Certificate, opts x509.VerifyOptions) ([][]*x509.Certificate, error) {
		h.calls++
		return leaf.Verify(opts)
	}
	return h
}

// check verifies certs at the harness's time and compares the outcome with crypto/x509's, uncached,
// at the same time: the cache never changes an answer.
func (h *harness) check(t *testing.T, certs []*x509.Certificate, wantOK bool) {
	t.Helper()
	checked, err := h.Verify(certs)
	if !checked {
		t.Fatalf("at %v: not checked", h.clock.Now())
	}
	opts := *h.opts.Load()
	opts.CurrentTime = h.clock.Now()
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	_, plainErr := certs[0].Verify(opts)
	if (err == nil) != (plainErr == nil) {
		t.Fatalf("at %v: cached verification says %v, crypto/x509 says %v", h.clock.Now(), err, plainErr)
	}
	if (err == nil) != wantOK {
		t.Fatalf("at %v: verification error %v, want success %v", h.clock.Now(), err, wantOK)
	}
}

func (h *harness) wantCalls(t *testing.T, n int) {
	t.Helper()
	if h.calls != n {
		t.Fatalf("crypto/x509 verified %d times, want %d", h.calls, n)
	}
}

func TestVerifierRemembersSuccess(t *testing.T) {
	ca := newCA(t, "front-proxy-ca", t0.Add(-time.Hour), t0.Add(24*time.Hour), nil)
	proxy := newClient(t, "front-proxy-client", t0.Add(-time.Hour), t0.Add(12*time.Hour), ca, x509.ExtKeyUsageClientAuth)
	h := newHarness(options(ca))
	for range 3 {
		h.check(t, []*x509.Certificate{proxy.cert}, true)
	}
	h.wantCalls(t, 1)

	// Another certificate of the same CA is an entry of its own.
	other := newClient(t, "front-proxy-client", t0.Add(-time.Hour), t0.Add(12*time.Hour), ca, x509.ExtKeyUsageClientAuth)
	h.check(t, []*x509.Certificate{other.cert}, true)
	h.check(t, []*x509.Certificate{proxy.cert}, true)
	h.wantCalls(t, 2)
}

func TestVerifierExpiry(t *testing.T) {
	ca := newCA(t, "front-proxy-ca", t0.Add(-time.Hour), t0.Add(24*time.Hour), nil)
	notAfter := t0.Add(time.Hour)
	proxy := newClient(t, "front-proxy-client", t0.Add(-time.Hour), notAfter, ca, x509.ExtKeyUsageClientAuth)
	h := newHarness(options(ca))
	certs := []*x509.Certificate{proxy.cert}

	h.check(t, certs, true)
	h.clock.SetTime(notAfter) // the last valid instant, still remembered
	h.check(t, certs, true)
	h.wantCalls(t, 1)
	h.clock.SetTime(notAfter.Add(time.Second))
	h.check(t, certs, false)
	h.check(t, certs, false)
	h.wantCalls(t, 3) // expired: verified every time, as without the cache
}

func TestVerifierChainExpiresWithItsIntermediate(t *testing.T) {
	root := newCA(t, "root", t0.Add(-time.Hour), t0.Add(48*time.Hour), nil)
	intermediate := newCA(t, "intermediate", t0.Add(-time.Hour), t0.Add(2*time.Hour), root)
	proxy := newClient(t, "front-proxy-client", t0.Add(-time.Hour), t0.Add(24*time.Hour), intermediate, x509.ExtKeyUsageClientAuth)
	h := newHarness(options(root))
	withIntermediate := []*x509.Certificate{proxy.cert, intermediate.cert}

	h.check(t, withIntermediate, true)
	// Without the intermediate the chain cannot be built: a key of its own, not the remembered one.
	h.check(t, []*x509.Certificate{proxy.cert}, false)
	h.check(t, withIntermediate, true)
	h.wantCalls(t, 2)

	h.clock.SetTime(t0.Add(3 * time.Hour)) // the leaf is valid, the intermediate is not
	h.check(t, withIntermediate, false)
}

func TestVerifierNotYetValid(t *testing.T) {
	ca := newCA(t, "front-proxy-ca", t0.Add(-time.Hour), t0.Add(24*time.Hour), nil)
	notBefore := t0.Add(time.Hour)
	proxy := newClient(t, "front-proxy-client", notBefore, t0.Add(12*time.Hour), ca, x509.ExtKeyUsageClientAuth)
	h := newHarness(options(ca))
	certs := []*x509.Certificate{proxy.cert}

	h.check(t, certs, false)
	h.check(t, certs, false)
	h.wantCalls(t, 2) // failures are not remembered
	h.clock.SetTime(notBefore)
	h.check(t, certs, true)
	h.check(t, certs, true)
	h.wantCalls(t, 3)
}

func TestVerifierCARotation(t *testing.T) {
	oldCA := newCA(t, "front-proxy-ca", t0.Add(-time.Hour), t0.Add(24*time.Hour), nil)
	newCA := newCA(t, "front-proxy-ca", t0.Add(-time.Hour), t0.Add(24*time.Hour), nil)
	proxy := newClient(t, "front-proxy-client", t0.Add(-time.Hour), t0.Add(12*time.Hour), oldCA, x509.ExtKeyUsageClientAuth)
	h := newHarness(options(oldCA))
	certs := []*x509.Certificate{proxy.cert}
	h.check(t, certs, true)

	// The bundle now has only the new CA: the old CA's certificate is refused at once.
	rotated := options(newCA)
	h.opts.Store(&rotated)
	h.check(t, certs, false)

	// Both CAs, during a rotation: a new pool, verified again.
	both := options(oldCA, newCA)
	h.opts.Store(&both)
	h.check(t, certs, true)
	h.check(t, certs, true)
	h.wantCalls(t, 3)

	// Other fields of the options count too: the same pool, another key usage.
	serverUsage := both
	serverUsage.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	h.opts.Store(&serverUsage)
	h.check(t, certs, false)
}

func TestVerifierRefusesWrongUsageAndUnknownCA(t *testing.T) {
	ca := newCA(t, "front-proxy-ca", t0.Add(-time.Hour), t0.Add(24*time.Hour), nil)
	other := newCA(t, "client-ca", t0.Add(-time.Hour), t0.Add(24*time.Hour), nil)
	h := newHarness(options(ca))
	serving := newClient(t, "front-proxy-client", t0.Add(-time.Hour), t0.Add(12*time.Hour), ca, x509.ExtKeyUsageServerAuth)
	stranger := newClient(t, "front-proxy-client", t0.Add(-time.Hour), t0.Add(12*time.Hour), other, x509.ExtKeyUsageClientAuth)
	for range 2 {
		h.check(t, []*x509.Certificate{serving.cert}, false)
		h.check(t, []*x509.Certificate{stranger.cert}, false)
	}
	h.wantCalls(t, 4)
}

func TestVerifierUncachedOptions(t *testing.T) {
	ca := newCA(t, "front-proxy-ca", t0.Add(-time.Hour), t0.Add(24*time.Hour), nil)
	proxy := newClient(t, "front-proxy-client", t0.Add(-time.Hour), t0.Add(12*time.Hour), ca, x509.ExtKeyUsageClientAuth)
	certs := []*x509.Certificate{proxy.cert}

	// A fixed CurrentTime is the caller's: verified every time.
	fixed := options(ca)
	fixed.CurrentTime = t0
	h := newHarness(fixed)
	h.check(t, certs, true)
	h.check(t, certs, true)
	h.wantCalls(t, 2)

	// No options: nothing is checked.
	h.opts.Store(nil)
	if checked, err := h.Verify(certs); checked || err != nil {
		t.Fatalf("without options: checked %v, error %v; want false, nil", checked, err)
	}
}
