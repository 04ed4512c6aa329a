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

// Package frontproxy authenticates the requests kube-apiserver's aggregation layer proxies to an
// aggregated API server, like k8s.io/apiserver's request-header authenticator, but verifies the
// front proxy's client certificate once per certificate, CA bundle and validity period instead of
// once per request.
//
// kube-apiserver sends every proxied request with the same client certificate (its
// --proxy-client-cert-file) and the user in X-Remote-* headers. k8s.io/apiserver checks that
// certificate's chain, with an ECDSA or RSA signature check, on every request: about a tenth of an
// aggregated server's CPU on a create. Only the outcome of that check is needed, and for the same
// certificates and the same verify options it changes only with time, so a successful verification
// is remembered together with the period in which its chain is valid.
package frontproxy

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"reflect"
	"sync/atomic"
	"time"

	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
)

// cacheSize bounds the certificates remembered for one set of verify options. A front proxy
// presents one certificate at a time (two during a rotation); anything beyond that is another
// caller, whose certificates are remembered only if they verify.
const cacheSize = 64

// Verifier verifies client certificate chains like crypto/x509's (*Certificate).Verify with the
// options of a VerifyOptionFunc, and remembers the chains that verified:
//
//   - A chain is remembered only for the exact verify options it was verified with: the same root
//     and intermediate pools (by identity: k8s.io/apiserver's CA providers make a new pool whenever
//     the CA bundle changes, so a rotated or revoked CA never matches) and equal other fields. When
//     the options change, everything remembered is dropped.
//   - Only successes are remembered, each with the validity period of a verified chain (the latest
//     NotBefore and the earliest NotAfter of its certificates). Outside it the certificates are
//     verified again, so an expired or not yet valid certificate fails exactly as it would without
//     the cache.
//   - The key is a SHA-256 over the leaf and every intermediate the client sent, in order.
//   - Options with a CurrentTime, or without Roots (the system roots, which can change under the
//     process), are never cached.
type Verifier struct {
	optsFn x509request.VerifyOptionFunc
	clock  clock.PassiveClock
	// verify is (*x509.Certificate).Verify; tests count the calls.
	verify func(leaf *x509.Certificate, opts x509.VerifyOptions) ([][]*x509.Certificate, error)

	gen atomic.Pointer[generation]
}

// generation is what is remembered for one set of verify options.
type generation struct {
	opts    x509.VerifyOptions
	entries *lru.Cache // [sha256.Size]byte -> window
}

// window is when a verified chain is valid: [notBefore, notAfter], like crypto/x509's check.
type window struct {
	notBefore, notAfter time.Time
}

// NewVerifier returns a Verifier of the options optsFn gives.
func NewVerifier(optsFn x509request.VerifyOptionFunc, clk clock.PassiveClock) *Verifier {
	return &Verifier{optsFn: optsFn, clock: clk, verify: (*x509.Certificate).Verify}
}

// Verify verifies the chain a client sent (the leaf first, then intermediates). checked is false,
// with a nil error, when optsFn has no options: then nothing can be verified.
func (v *Verifier) Verify(certs []*x509.Certificate) (checked bool, err error) {
	opts, ok := v.optsFn()
	if !ok {
		return false, nil
	}
	if !opts.CurrentTime.IsZero() || opts.Roots == nil {
		_, err := v.verifyChains(certs, opts)
		return true, err
	}
	now := v.clock.Now()
	gen := v.generation(opts)
	key := chainKey(certs)
	if w, hit := gen.entries.Get(key); hit {
		if w := w.(window); !now.Before(w.notBefore) && !now.After(w.notAfter) {
			return true, nil
		}
		gen.entries.Remove(key)
	}
	opts.CurrentTime = now
	chains, err := v.verifyChains(certs, opts)
	if err != nil {
		return true, err
	}
	gen.entries.Add(key, validity(chains[0]))
	return true, nil
}

// generation returns what is remembered for opts, starting afresh when opts differ from the
// options of what is remembered.
func (v *Verifier) generation(opts x509.VerifyOptions) *generation {
	for {
		cur := v.gen.Load()
		if cur != nil && sameOptions(cur.opts, opts) {
			return cur
		}
		next := &generation{opts: opts, entries: lru.New(cacheSize)}
		if v.gen.CompareAndSwap(cur, next) {
			return next
		}
	}
}

// verifyChains is what k8s.io/apiserver's x509 verifier does: the client's intermediates, if the
// options have no pool of their own, then crypto/x509.
func (v *Verifier) verifyChains(certs []*x509.Certificate, opts x509.VerifyOptions) ([][]*x509.Certificate, error) {
	if opts.Intermediates == nil && len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	return v.verify(certs[0], opts)
}

// sameOptions tells whether a and b verify every chain alike: the same pools, by identity, and
// equal other fields.
func sameOptions(a, b x509.VerifyOptions) bool {
	if a.Roots != b.Roots || a.Intermediates != b.Intermediates {
		return false
	}
	a.Roots, a.Intermediates, b.Roots, b.Intermediates = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// chainKey is a SHA-256 over the DER of every certificate, each prefixed with its length.
func chainKey(certs []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, c := range certs {
		binary.BigEndian.PutUint64(n[:], uint64(len(c.Raw)))
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// validity is the period in which every certificate of chain is valid.
func validity(chain []*x509.Certificate) window {
	w := window{notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, c := range chain[1:] {
		if c.NotBefore.After(w.notBefore) {
			w.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(w.notAfter) {
			w.notAfter = c.NotAfter
		}
	}
	return w
}
