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

// Package integration tests the real easyservice-apiserver command, started in-process on
// 127.0.0.1 over HTTPS against an in-process etcd, with stand-alone authentication: a client CA
// and a system:masters client certificate.
package integration

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/rest"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/easyservice/easyservice/internal/certs"
	"github.com/easyservice/easyservice/pkg/cmd/server"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
)

func TestMain(m *testing.M) {
	// Tests start the command more than once per process, always with the same logging options.
	// Apply them before any test starts an etcd or a server, whose goroutines log: the command's
	// own apply is then a no-op instead of a write racing with them.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged
	if err := logsapi.ValidateAndApply(logsapi.NewLoggingConfiguration(), utilfeature.DefaultFeatureGate); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// StartEtcd starts an in-process etcd that lives as long as the test and returns its client URLs.
func StartEtcd(t *testing.T) []string {
	t.Helper()
	return testserver.RunEtcd(t, nil).Endpoints()
}

// TestServer is a running easyservice-apiserver.
type TestServer struct {
	// ClientConfig authenticates as a system:masters user with a client certificate.
	ClientConfig *rest.Config
	// UserConfig authenticates as "test-user", a user outside system:masters.
	UserConfig *rest.Config
	// Client is a clientset over ClientConfig.
	Client clientset.Interface
	// HTTPClient speaks HTTPS to the server with ClientConfig's credentials, for raw REST calls.
	HTTPClient *http.Client
	// URL is the server's base URL.
	URL string

	stop func() error
}

// Stop shuts the server down gracefully and waits for it to exit.
func (s *TestServer) Stop() error { return s.stop() }

// StartServer runs the easyservice-apiserver command with --standalone against etcdServers and
// waits until /readyz is ok. extraArgs are appended to the command line.
func StartServer(t *testing.T, etcdServers []string, extraArgs ...string) *TestServer {
	t.Helper()
	dir := t.TempDir()
	caCertFile, clientCertFile, clientKeyFile, userCertFile, userKeyFile := writeClientCerts(t, dir)

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opts := server.NewOptions()
	opts.RecommendedOptions.SecureServing.Listener = listener
	cmd := server.NewCommand(ctx, opts)
	cmd.SetArgs(append([]string{
		"--standalone",
		"--etcd-servers=" + strings.Join(etcdServers, ","),
		"--client-ca-file=" + caCertFile,
		"--cert-dir=" + filepath.Join(dir, "serving"),
		"--bind-address=127.0.0.1",
		"--secure-port=" + portOf(listener),
		"--shutdown-delay-duration=0s",
	}, extraArgs...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	// exited is closed, and exitErr set, when the command returns.
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = <-done
		close(exited)
	}()
	stop := func() error {
		cancel()
		select {
		case <-exited:
			return exitErr
		case <-time.After(60 * time.Second):
			return errors.New("the server did not stop within 60s")
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
	})

	s := &TestServer{URL: "https://" + listener.Addr().String(), stop: stop}
	s.ClientConfig = &rest.Config{
		Host: s.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CertFile: clientCertFile,
			KeyFile:  clientKeyFile,
		},
		QPS:   -1, // no client-side throttling in tests
		Burst: -1,
	}
	s.UserConfig = &rest.Config{
		Host:            s.URL,
		TLSClientConfig: rest.TLSClientConfig{CertFile: userCertFile, KeyFile: userKeyFile},
	}
	// The server makes its own self-signed serving certificate; trust it once it exists.
	servingCert := filepath.Join(dir, "serving", "apiserver.crt")
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		select {
		case <-exited:
			return false, errors.Join(errors.New("the server exited before it became ready"), exitErr)
		default:
		}
		if _, err := os.Stat(servingCert); err != nil {
			return false, nil
		}
		s.ClientConfig.CAFile = servingCert
		s.UserConfig.CAFile = servingCert
		if s.HTTPClient == nil {
			if s.HTTPClient, err = rest.HTTPClientFor(s.ClientConfig); err != nil {
				return false, err
			}
		}
		resp, err := s.HTTPClient.Get(s.URL + "/readyz")
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("waiting for the server to become ready: %v", err)
	}
	if s.Client, err = clientset.NewForConfig(s.ClientConfig); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeClientCerts writes a client CA, a system:masters client certificate and a certificate of an
// ordinary user, both signed by it.
func writeClientCerts(t *testing.T, dir string) (caCertFile, certFile, keyFile, userCertFile, userKeyFile string) {
	t.Helper()
	d := certs.Dir{Path: dir, Validity: time.Hour, KeyUsage: x509.KeyUsageDigitalSignature}
	ca, err := d.EnsureCA("client-ca", "easyservice-test-client-ca")
	if err != nil {
		t.Fatal(err)
	}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	for _, leaf := range []certs.Leaf{
		{Name: "admin", CommonName: "test-admin", Organizations: []string{"system:masters"}, Usages: clientAuth},
		{Name: "user", CommonName: "test-user", Organizations: []string{"users"}, Usages: clientAuth},
	} {
		if _, err := d.EnsureLeaf(leaf, ca); err != nil {
			t.Fatal(err)
		}
	}
	caCertFile, _ = d.Paths("client-ca")
	certFile, keyFile = d.Paths("admin")
	userCertFile, userKeyFile = d.Paths("user")
	return caCertFile, certFile, keyFile, userCertFile, userKeyFile
}

func portOf(l net.Listener) string {
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
