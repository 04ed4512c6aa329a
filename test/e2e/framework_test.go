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

// Package e2e tests EasyService end to end on a real local control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok and easyservice-apiserver with its own etcd), always
// through kube-apiserver's aggregation layer, with the real kubectl where a user would use it.
//
// By default TestMain starts a fresh plane with hack/local-up.sh on free ports in a temporary
// directory and stops it with hack/local-down.sh. To run against a plane that is already up (make
// local-up), set E2E_LOCAL_UP_DIR to its directory; it must run easyservice-apiserver as the
// install's ServiceAccount (ES_IDENTITY=serviceaccount, local-up's default) and without the
// examples (SKIP_EXAMPLES=1), which the suite applies itself.
//
// After the tests, whichever -run selected, TestMain judges from kube-apiserver's audit log that
// RBAC refused the server's ServiceAccount nothing while they ran (checkServerRefusals), and fails
// the run otherwise.
package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/easyservice/easyservice/internal/certs"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
	"github.com/easyservice/easyservice/test/localplane"
)

// plane is the control plane every test uses.
var plane struct {
	// root is the repository's root directory.
	root string
	// dir is the plane's state directory (LOCAL_UP_DIR): pki/, logs/, pids/.
	dir string
	// env holds the variables of dir/env: the ports, KUBECONFIG, KUBECTL.
	env        map[string]string
	kubeconfig string
	kubectl    string
	config     *rest.Config
	kube       kubernetes.Interface
	dynamic    dynamic.Interface
	es         clientset.Interface
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	root, err := localplane.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	plane.root = root
	dir := os.Getenv("E2E_LOCAL_UP_DIR")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "easyservice-e2e-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// Free ports, so that the suite never collides with a developer's plane; the server runs as
		// the install's ServiceAccount whatever ES_IDENTITY this process inherited, since the suite
		// judges the install's RBAC by what the ServiceAccount does.
		env, err := localplane.Env(dir, "ES_IDENTITY=serviceaccount")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// The plane's directory (its logs, etcd's data) goes with a plane that passed and went down
		// cleanly; otherwise it is kept for a look. local-down is a command the README gives users:
		// when it fails, so does the run, whatever the tests said.
		defer func() {
			down := exec.Command(filepath.Join(root, "hack", "local-down.sh"))
			down.Dir, down.Env, down.Stdout, down.Stderr = root, env, os.Stdout, os.Stderr
			err := down.Run()
			if err != nil {
				fmt.Fprintf(os.Stderr, "test/e2e: FAIL: stopping the local plane (hack/local-down.sh): %v\n", err)
				if code == 0 {
					code = 1
				}
			}
			if err == nil && code == 0 {
				_ = os.RemoveAll(dir)
				return
			}
			fmt.Fprintf(os.Stderr, "test/e2e: the plane's directory (logs/, etcd's data) is kept: %s\n", dir)
		}()
		up := exec.Command(filepath.Join(root, "hack", "local-up.sh"))
		up.Dir, up.Env, up.Stdout, up.Stderr = root, env, os.Stdout, os.Stderr
		if err := up.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "starting the local plane: %v\n", err)
			return 1
		}
	}
	if err := loadPlane(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if id := plane.env["ES_IDENTITY"]; id != "serviceaccount" {
		fmt.Fprintf(os.Stderr, "the plane in %s runs easyservice-apiserver with ES_IDENTITY=%s: the suite judges the install's RBAC "+
			"by what the install's ServiceAccount does; start the plane with ES_IDENTITY=serviceaccount\n", dir, id)
		return 1
	}
	// The requests of this run: for a plane of its own all of them, for a running plane those from now on.
	var auditOffset int64
	if os.Getenv("E2E_LOCAL_UP_DIR") != "" {
		// TestTutorialV1beta1 applies artifacts/examples in a namespace of its own, nodePort 31002
		// included, which the examples a default local-up applied hold already.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := plane.es.AppV1().EasyServices(metav1.NamespaceDefault).Get(ctx, "easyservice-sample", metav1.GetOptions{})
		cancel()
		if err == nil {
			fmt.Fprintf(os.Stderr, "the plane in %s runs artifacts/examples (default/easyservice-sample holds the nodePort with which "+
				"TestTutorialV1beta1 applies the example again): start the plane with SKIP_EXAMPLES=1, or kubectl delete -f artifacts/examples/\n", dir)
			return 1
		}
		if auditOffset, err = auditLogSize(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	code = m.Run()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	problems, summary, err := checkServerRefusals(ctx, auditOffset)
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "--- FAIL: the install's RBAC judged by kube-apiserver's audit log: %v\n", err)
	case len(problems) > 0:
		fmt.Fprintf(os.Stderr, "--- FAIL: the install's RBAC judged by kube-apiserver's audit log: kube-apiserver refused the server\n\t%s\n\t%s\n",
			strings.Join(problems, "\n\t"), summary)
	default:
		fmt.Printf("--- PASS: the install's RBAC judged by kube-apiserver's audit log: %s\n", summary)
		return code
	}
	return 1
}

// loadPlane reads the kubeconfig and the kubectl path that hack/local-up.sh wrote to dir/env.
func loadPlane(dir string) error {
	vars, err := localplane.ReadEnvFile(filepath.Join(dir, "env"))
	if err != nil {
		return err
	}
	plane.dir, plane.env = dir, vars
	plane.kubeconfig, plane.kubectl = vars["KUBECONFIG"], vars["KUBECTL"]
	if plane.kubeconfig == "" || plane.kubectl == "" {
		return fmt.Errorf("%s/env sets no KUBECONFIG or KUBECTL", dir)
	}
	if plane.config, err = clientcmd.BuildConfigFromFlags("", plane.kubeconfig); err != nil {
		return err
	}
	plane.config.QPS, plane.config.Burst = 50, 100
	if plane.kube, err = kubernetes.NewForConfig(plane.config); err != nil {
		return err
	}
	if plane.dynamic, err = dynamic.NewForConfig(plane.config); err != nil {
		return err
	}
	plane.es, err = clientset.NewForConfig(plane.config)
	return err
}

// kubectl runs the real kubectl against the plane with stdin and returns its standard output. It
// fails the test when kubectl fails.
func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectlResult(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// kubectlResult runs kubectl and returns its combined output and error, for commands expected to fail.
func kubectlResult(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	// Not t.Context(): cleanups run kubectl after that context is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, plane.kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+plane.kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// createNamespace makes a namespace for one test and deletes it when the test ends.
func createNamespace(t *testing.T, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000)
	kubectl(t, "", "create", "namespace", name)
	t.Cleanup(func() {
		_, _ = kubectlResult(t, "", "delete", "namespace", name, "--wait=false")
	})
	return name
}

// firstLine is the first line of s, at most 200 bytes of it, for messages.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// eventually polls condition every half second until it holds, failing the test after timeout
// with what the last poll said.
func eventually(t *testing.T, timeout time.Duration, what string, condition func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var ok bool
		ok, last = condition(ctx)
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting %v for %s: %v; last: %s", timeout, what, err, last)
	}
}

// tail returns the last lines of s.
func tail(s string, lines int) string {
	all := strings.Split(s, "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// mustAtoi is s as an int; it fails the test when s is not one.
func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// probe GETs url with client and returns the status code (0 when there is no answer).
func probe(client *http.Client, url string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, body, err := httpGet(ctx, client, url)
	if code == 0 {
		return 0, err.Error()
	}
	return code, body
}

// esProbeClient calls easyservice-apiserver directly, trusting its serving CA (no credentials:
// the health probes are open).
func esProbeClient(t *testing.T) *http.Client {
	t.Helper()
	c := httpsClient(t, "easyservice-ca")
	c.Timeout = 10 * time.Second
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = "easyservice-apiserver.easyservice-system.svc"
	return c
}

// esAdminClient calls easyservice-apiserver directly as the admin (system:masters, by the
// client certificate), e.g. for its /metrics.
func esAdminClient(t *testing.T) *http.Client {
	t.Helper()
	c := esProbeClient(t)
	c.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{adminCertificate(t)}
	return c
}

// adminCertificate is the plane's admin client certificate (system:masters).
func adminCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	pki := filepath.Join(plane.dir, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// freePorts returns n free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := localplane.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// httpGet GETs u with client and returns the status code (0 when there is no answer) and the body.
func httpGet(ctx context.Context, client *http.Client, u string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// caPair is a CA of the local plane's PKI that a test can sign client certificates with.
type caPair struct{ *certs.Pair }

func loadCA(t *testing.T, name string) caPair {
	t.Helper()
	cas, err := cert.CertsFromFile(filepath.Join(plane.dir, "pki", name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyutil.PrivateKeyFromFile(filepath.Join(plane.dir, "pki", name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return caPair{&certs.Pair{Cert: cas[0], Key: key.(crypto.Signer)}}
}

// clientCert returns a client certificate for subject (its common name and organizations) signed
// by the CA, valid for an hour.
func (ca caPair) clientCert(t *testing.T, subject pkix.Name) tls.Certificate {
	t.Helper()
	d := certs.Dir{Path: t.TempDir(), Validity: time.Hour, KeyUsage: x509.KeyUsageDigitalSignature}
	p, err := d.EnsureLeaf(certs.Leaf{Name: "client", CommonName: subject.CommonName, Organizations: subject.Organization,
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca.Pair)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{p.Cert.Raw}, PrivateKey: p.Key}
}

// httpsClient trusts the plane's CA file caName and presents clientCerts, if any.
func httpsClient(t *testing.T, caName string, clientCerts ...tls.Certificate) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(plane.dir, "pki", caName+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: clientCerts, MinVersion: tls.VersionTLS12}},
	}
}

// call sends a request and returns the status code and body.
func call(t *testing.T, client *http.Client, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}
