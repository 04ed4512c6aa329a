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

package certs

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

const day = 24 * time.Hour

func testDir(t *testing.T) Dir {
	return Dir{Path: t.TempDir(), Validity: 365 * day, RenewBefore: 30 * day, KeyUsage: x509.KeyUsageDigitalSignature}
}

func testLeaf() Leaf {
	return Leaf{
		Name:          "server",
		CommonName:    "server",
		Organizations: []string{"example"},
		Usages:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:      []string{"server.example", "localhost"},
		IPs:           []net.IP{net.ParseIP("127.0.0.1")},
	}
}

// ensure makes (or keeps) the CA "ca" and the leaf in d.
func ensure(t *testing.T, d Dir, leaf Leaf) (ca, p *Pair) {
	t.Helper()
	ca, err := d.EnsureCA("ca", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	p, err = d.EnsureLeaf(leaf, ca)
	if err != nil {
		t.Fatal(err)
	}
	return ca, p
}

// A second run keeps a CA and a leaf when nothing changed, and makes them again (or only the leaf)
// when what is asked for, the CA or the time left changed.
func TestEnsure(t *testing.T) {
	for _, tc := range []struct {
		name string
		// change changes the directory, its settings or the leaf after the first run.
		change      func(t *testing.T, d *Dir, leaf *Leaf)
		wantNewCA   bool
		wantNewLeaf bool
	}{
		{name: "unchanged: kept", change: func(*testing.T, *Dir, *Leaf) {}},
		{name: "changed DNS name", change: func(_ *testing.T, _ *Dir, l *Leaf) { l.DNSNames = []string{"other.example", "localhost"} }, wantNewLeaf: true},
		{name: "changed IP", change: func(_ *testing.T, _ *Dir, l *Leaf) { l.IPs = []net.IP{net.ParseIP("::1")} }, wantNewLeaf: true},
		{name: "changed common name", change: func(_ *testing.T, _ *Dir, l *Leaf) { l.CommonName = "other" }, wantNewLeaf: true},
		{name: "changed organization", change: func(_ *testing.T, _ *Dir, l *Leaf) { l.Organizations = nil }, wantNewLeaf: true},
		{name: "changed usages", change: func(_ *testing.T, _ *Dir, l *Leaf) {
			l.Usages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		}, wantNewLeaf: true},
		{name: "CA gone: remade, and what it signed", change: func(t *testing.T, d *Dir, _ *Leaf) {
			certPath, _ := d.Paths("ca")
			if err := os.Remove(certPath); err != nil {
				t.Fatal(err)
			}
		}, wantNewCA: true, wantNewLeaf: true},
		{name: "leaf key does not match its certificate", change: func(t *testing.T, d *Dir, _ *Leaf) {
			_, caKey := d.Paths("ca")
			_, leafKey := d.Paths("server")
			data, err := os.ReadFile(caKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(leafKey, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantNewLeaf: true},
		// The leaf (365 days) expires within -renew-before, the CA (10 years) does not.
		{name: "leaf near expiry", change: func(_ *testing.T, d *Dir, _ *Leaf) { d.RenewBefore = 366 * day }, wantNewLeaf: true},
		{name: "CA near expiry", change: func(_ *testing.T, d *Dir, _ *Leaf) { d.RenewBefore = 11 * 365 * day }, wantNewCA: true, wantNewLeaf: true},
		{name: "forced", change: func(_ *testing.T, d *Dir, _ *Leaf) { d.Force = true }, wantNewCA: true, wantNewLeaf: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, leaf := testDir(t), testLeaf()
			ca, p := ensure(t, d, leaf)
			if !ca.Made || !p.Made {
				t.Fatalf("first run: CA made %t, leaf made %t; want both made", ca.Made, p.Made)
			}
			tc.change(t, &d, &leaf)
			// Long enough for the "near expiry" cases to be within the new window after the renewal.
			d.Validity = max(d.Validity, d.RenewBefore+day)
			ca2, p2 := ensure(t, d, leaf)
			if ca2.Made != tc.wantNewCA || ca2.Cert.Equal(ca.Cert) == tc.wantNewCA {
				t.Errorf("CA made %t, same certificate %t; want made %t", ca2.Made, ca2.Cert.Equal(ca.Cert), tc.wantNewCA)
			}
			if p2.Made != tc.wantNewLeaf || p2.Cert.Equal(p.Cert) == tc.wantNewLeaf {
				t.Errorf("leaf made %t, same certificate %t; want made %t", p2.Made, p2.Cert.Equal(p.Cert), tc.wantNewLeaf)
			}

			// What was just made or kept is kept by the next run with the first run's window.
			d.RenewBefore, d.Force = testDir(t).RenewBefore, false
			checkLeaf(t, d, leaf, ca2)
			ca3, p3 := ensure(t, d, leaf)
			if ca3.Made || p3.Made || !ca3.Cert.Equal(ca2.Cert) || !p3.Cert.Equal(p2.Cert) {
				t.Errorf("third run: CA made %t, leaf made %t; want both kept", ca3.Made, p3.Made)
			}
		})
	}
}

// checkLeaf checks the files of leaf: what was asked for, signed by ca, and the files' modes.
func checkLeaf(t *testing.T, d Dir, leaf Leaf, ca *Pair) {
	t.Helper()
	p := d.load(leaf.Name)
	if p == nil {
		t.Fatalf("%s: not loaded back", leaf.Name)
	}
	if !matches(p.Cert, leaf, &Pair{Cert: ca.Cert}) {
		t.Errorf("%s: subject %s, usages %v, DNS %q, IPs %q, issuer %s; want %+v signed by %s", leaf.Name,
			p.Cert.Subject, p.Cert.ExtKeyUsage, p.Cert.DNSNames, p.Cert.IPAddresses, p.Cert.Issuer, leaf, ca.Cert.Subject)
	}
	if p.Cert.KeyUsage != d.KeyUsage || p.Cert.IsCA {
		t.Errorf("%s: key usage %v, CA %t; want %v and not a CA", leaf.Name, p.Cert.KeyUsage, p.Cert.IsCA, d.KeyUsage)
	}
	if p.Cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("%s: valid until %s, after its CA (%s)", leaf.Name, p.Cert.NotAfter, ca.Cert.NotAfter)
	}
	for _, name := range []string{"ca", leaf.Name} {
		certPath, keyPath := d.Paths(name)
		for path, want := range map[string]os.FileMode{certPath: 0o644, keyPath: 0o600} {
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != want {
				t.Errorf("%s: %v, %v; want mode %v", path, info, err, want)
			}
		}
	}
}

// A leaf lives d.Validity, but never longer than its CA.
func TestLeafValidity(t *testing.T) {
	d := testDir(t)
	_, p := ensure(t, d, testLeaf())
	if got, want := p.Cert.NotAfter.Sub(p.Cert.NotBefore), 365*day+Backdate; got < want-time.Minute || got > want+time.Minute {
		t.Errorf("leaf valid for %s, want %s", got, want)
	}
	d.Validity = 20 * 365 * day
	d.Force = true
	ca, p := ensure(t, d, testLeaf())
	if !p.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf valid until %s, want its CA's %s", p.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

// WriteFile sets the mode even of a file it replaces, and leaves no temporary file behind.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.key")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "new" {
		t.Errorf("content %q, %v; want new", data, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("%v, %v; want mode 0600", info, err)
	}
	if entries, err := os.ReadDir(dir); err != nil || !slices.EqualFunc(entries, []string{"f.key"}, func(e os.DirEntry, n string) bool { return e.Name() == n }) {
		t.Errorf("directory holds %v, %v; want only f.key", entries, err)
	}
}
