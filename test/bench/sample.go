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

package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"

	"github.com/easyservice/easyservice/test/localplane"
)

// The peer: k8s.io/sample-apiserver (the Wardle server), an aggregated API server of the same
// k8s.io/apiserver version as easyservice-apiserver, with an etcd of its own, registered through
// the same aggregator the way hack/local-up.sh registers easyservice-apiserver: a Service without
// a selector, an FQDN EndpointSlice to 127.0.0.1 and an APIService with the serving CA.
const (
	sampleGroup      = "wardle.example.com"
	sampleVersion    = "v1alpha1"
	sampleAPIService = sampleVersion + "." + sampleGroup
	sampleNamespace  = "wardle"
	sampleService    = "wardle-apiserver"
)

// samplePeer is the running sample-apiserver and its etcd.
type samplePeer struct {
	dir            string
	ep             *endpoint // sample-apiserver, directly
	apiserver, etc *process
}

// pids are the peer's processes, by the names the report uses.
func (s *samplePeer) pids() map[string]int {
	return map[string]int{"sample-apiserver": s.apiserver.Process.Pid, "sample-etcd": s.etc.Process.Pid}
}

// process is a started command; done is closed when it has ended.
type process struct {
	*exec.Cmd
	done chan struct{}
}

// toolDir is hack/install-tools.sh's directory of a tool, built first when it is not cached.
func toolDir(ctx context.Context, root, tool string, log io.Writer) (string, error) {
	install := exec.CommandContext(ctx, filepath.Join(root, "hack", "install-tools.sh"), tool)
	install.Dir, install.Stdout, install.Stderr = root, log, log
	if err := install.Run(); err != nil {
		return "", fmt.Errorf("hack/install-tools.sh %s: %w", tool, err)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(root, "hack", "install-tools.sh"), "--print-dir", tool).Output()
	if err != nil {
		return "", fmt.Errorf("hack/install-tools.sh --print-dir %s: %w", tool, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// startProcess starts a process with its output in dir/<name>.log; it is interrupted when ctx is
// done.
func startProcess(ctx context.Context, dir, name, bin string, args ...string) (*process, error) {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{cmd, make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// startSample builds (hack/install-tools.sh sample-apiserver, cached) and starts sample-apiserver
// and its etcd on free loopback ports, registers it, and waits until kube-apiserver serves its
// Flunders. stop unregisters it and ends both processes; it keeps their logs after a failed run.
func startSample(ctx context.Context, root string, p *plane, log io.Writer) (s *samplePeer, stop func(failed bool), err error) {
	sampleDir, err := toolDir(ctx, root, "sample-apiserver", log)
	if err != nil {
		return nil, nil, err
	}
	etcdDir, err := toolDir(ctx, root, "etcd", log)
	if err != nil {
		return nil, nil, err
	}
	s = &samplePeer{}
	if s.dir, err = os.MkdirTemp("", "easyservice-bench-sample-"); err != nil {
		return nil, nil, err
	}
	// The processes live as long as the run, not as long as this call's context.
	pctx, cancel := context.WithCancel(context.Background())
	stop = func(failed bool) {
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		_ = unregisterSample(dctx, p)
		cancel()
		for _, c := range []*process{s.apiserver, s.etc} {
			if c != nil {
				select {
				case <-c.done:
				case <-dctx.Done():
				}
			}
		}
		if failed {
			_ = os.RemoveAll(filepath.Join(s.dir, "etcd"))
			logf(log, "sample-apiserver's and its etcd's logs are in %s\n", s.dir)
			return
		}
		_ = os.RemoveAll(s.dir)
	}
	defer func() {
		if err != nil {
			stop(true)
		}
	}()

	ports, err := localplane.FreePorts(3)
	if err != nil {
		return nil, nil, err
	}
	client, peer, secure := ports[0], ports[1], ports[2]
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	// As hack/local-up.sh starts its etcds.
	if s.etc, err = startProcess(pctx, s.dir, "sample-etcd", filepath.Join(etcdDir, "etcd"),
		"--name=sample-etcd", "--data-dir="+filepath.Join(s.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=sample-etcd="+peerURL, "--initial-cluster-state=new", "--unsafe-no-fsync"); err != nil {
		return nil, nil, err
	}

	// The serving certificate, for the Service's name (as the aggregator verifies it) and
	// 127.0.0.1; the chain's last certificate is the CA that signed it, the APIService's caBundle.
	host := sampleService + "." + sampleNamespace + ".svc"
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(host, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		return nil, nil, err
	}
	caPEM := lastPEM(certPEM)
	certFile, keyFile := filepath.Join(s.dir, "serving.crt"), filepath.Join(s.dir, "serving.key")
	if err := errors.Join(os.WriteFile(certFile, certPEM, 0o600), os.WriteFile(keyFile, keyPEM, 0o600)); err != nil {
		return nil, nil, err
	}
	// Like easyservice-apiserver on the plane: on 127.0.0.1, with the plane's kubeconfig for its
	// core client, delegated authentication (the requestheader CA and client CA come from
	// kube-system/extension-apiserver-authentication) and delegated authorization. Its identity is
	// the plane's admin (local-up's ES_IDENTITY=admin).
	vars, err := localplane.ReadEnvFile(filepath.Join(p.dir, "env"))
	if err != nil {
		return nil, nil, err
	}
	kubeconfig := vars["KUBECONFIG"]
	if s.apiserver, err = startProcess(pctx, s.dir, "sample-apiserver", filepath.Join(sampleDir, "sample-apiserver"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(secure),
		"--tls-cert-file="+certFile, "--tls-private-key-file="+keyFile,
		"--etcd-servers="+etcdURL,
		"--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig); err != nil {
		return nil, nil, err
	}
	pki := filepath.Join(p.dir, "pki")
	if s.ep, err = newEndpoint("sample-apiserver", &rest.Config{
		Host: "https://127.0.0.1:" + strconv.Itoa(secure),
		TLSClientConfig: rest.TLSClientConfig{
			CertFile: filepath.Join(pki, "admin.crt"),
			KeyFile:  filepath.Join(pki, "admin.key"),
			CAData:   caPEM,
		},
	}); err != nil {
		return nil, nil, err
	}
	c := s.ep.client(10 * time.Second)
	defer c.CloseIdleConnections()
	if err := poll(ctx, 2*time.Minute, "sample-apiserver's /readyz (log: "+s.dir+")", func() (bool, error) {
		select {
		case <-s.apiserver.done:
			return false, fmt.Errorf("sample-apiserver exited: %s (log: %s)", s.apiserver.ProcessState, s.dir)
		default:
		}
		code, _, err := do(ctx, c, http.MethodGet, s.ep.host+"/readyz", nil, "")
		return err == nil && code == http.StatusOK, nil
	}); err != nil {
		return nil, nil, err
	}
	if err := registerSample(ctx, p, secure, caPEM); err != nil {
		return nil, nil, err
	}
	return s, stop, nil
}

// lastPEM is the last PEM block of data, re-encoded.
func lastPEM(data []byte) []byte {
	var last *pem.Block
	for {
		b, rest := pem.Decode(data)
		if b == nil {
			break
		}
		last, data = b, rest
	}
	if last == nil {
		return nil
	}
	return pem.EncodeToMemory(last)
}

// registerSample registers sample-apiserver at 127.0.0.1:port as the APIService
// v1alpha1.wardle.example.com (hack/local/easyservice-apiserver.yaml's way) and waits until
// kube-apiserver serves its Flunders.
func registerSample(ctx context.Context, p *plane, port int, caPEM []byte) error {
	_, err := p.kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sampleNamespace, Labels: benchLabels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	_, err = p.kc.CoreV1().Services(sampleNamespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: sampleService},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{
			{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))},
		}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	ready, name, proto, port32 := true, "https", corev1.ProtocolTCP, int32(port)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: sampleService, Labels: map[string]string{discoveryv1.LabelServiceName: sampleService}},
		AddressType: discoveryv1.AddressTypeFQDN,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port32, Protocol: &proto}},
	}
	// A slice left by an earlier run names another port: replace it.
	_ = p.kc.DiscoveryV1().EndpointSlices(sampleNamespace).Delete(ctx, sampleService, metav1.DeleteOptions{})
	if _, err := p.kc.DiscoveryV1().EndpointSlices(sampleNamespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return err
	}
	c := p.kube.client(30 * time.Second)
	defer c.CloseIdleConnections()
	if err := unregisterSample(ctx, p); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": sampleAPIService},
		"spec": map[string]any{
			"group": sampleGroup, "version": sampleVersion, "groupPriorityMinimum": 1000, "versionPriority": 15,
			"service":  map[string]any{"name": sampleService, "namespace": sampleNamespace, "port": 443},
			"caBundle": caPEM,
		},
	})
	if _, err := expect(ctx, c, http.MethodPost, p.kube.host+"/apis/apiregistration.k8s.io/v1/apiservices", body, http.StatusCreated); err != nil {
		return fmt.Errorf("registering sample-apiserver: %w", err)
	}
	return poll(ctx, 2*time.Minute, "kube-apiserver to serve "+sampleAPIService, func() (bool, error) {
		code, _, err := do(ctx, c, http.MethodGet, p.kube.host+"/apis/"+sampleGroup+"/"+sampleVersion+"/namespaces/default/flunders?limit=1", nil, "")
		return err == nil && code == http.StatusOK, nil
	})
}

// unregisterSample deletes the APIService (the Service and its EndpointSlice stay in their
// namespace, replaced by the next registration).
func unregisterSample(ctx context.Context, p *plane) error {
	c := p.kube.client(30 * time.Second)
	defer c.CloseIdleConnections()
	_, err := expect(ctx, c, http.MethodDelete, p.kube.host+"/apis/apiregistration.k8s.io/v1/apiservices/"+sampleAPIService, nil,
		http.StatusOK, http.StatusNotFound)
	return err
}

// flunder is a Flunder whose spec.reference is 1+pad bytes long (pad: the padding to the
// EasyService's size; validation wants a reference with referenceType Flunder).
func flunder(name string, pad int) []byte {
	obj := map[string]any{
		"apiVersion": sampleGroup + "/" + sampleVersion,
		"kind":       "Flunder",
		"metadata":   map[string]any{"name": name, "labels": benchLabels},
		"spec":       map[string]any{"reference": strings.Repeat("x", 1+pad), "referenceType": "Flunder"},
	}
	data, _ := json.Marshal(obj)
	return data
}
