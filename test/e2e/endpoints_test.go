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

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/easyservice/easyservice/test/harness"
	"github.com/easyservice/easyservice/test/localplane"
)

// Two replicas of easyservice-apiserver behind the APIService, on the local plane.
//
// In a cluster, the install's Deployment (artifacts/deploy/base/apiserver.yaml) runs two replicas
// behind the Service easyservice-apiserver. The kubelet probes each pod's /readyz (its
// readinessProbe) and the EndpointSlice controller turns each pod's readiness and deletion into the
// conditions of its endpoint. kube-apiserver's aggregator (--enable-aggregator-routing) proxies
// every request to an endpoint of the Service's EndpointSlices, chosen at random among those not
// marked ready=false (k8s.io/apiserver/pkg/util/proxy.RandomEndpoint: the slices in random order,
// a slice's port matched to the Service port by name, a random first endpoint in the slice; serving
// and terminating are not looked at). A replica that gets SIGTERM reports not ready at once and
// goes on serving for --shutdown-delay-duration (10 s in the install), time for it to leave the
// endpoints before it stops accepting requests.
//
// The local plane runs easyservice-apiserver on the host: there is no pod, no kubelet and no
// EndpointSlice controller, and hack/local-up.sh registers the one replica with a fixed FQDN
// EndpointSlice whose endpoint 127.0.0.1 is always ready. For a rolling restart of two replicas a
// test starts a second replica (startSecondReplica) and runs an endpointProber, which stands in for
// the kubelet's readinessProbe and the EndpointSlice controller.

const (
	esServiceNamespace = "easyservice-system"
	esServiceName      = "easyservice-apiserver"
	// secondReplicaName names the second replica's process (pids/, logs/) and EndpointSlice.
	// hack/local/common.sh knows it, so that hack/local-down.sh stops a second replica that a test
	// which died half way left running.
	secondReplicaName = "easyservice-apiserver-2"
)

// serverReplica is one easyservice-apiserver process behind the APIService: its port on 127.0.0.1,
// and the EndpointSlice that holds its endpoint. Each replica has a slice of its own, as the
// EndpointSlice controller makes for endpoints whose port numbers differ.
type serverReplica struct {
	*planeProcess
	port  int
	slice string
}

// planeReplica is the plane's own easyservice-apiserver, with the EndpointSlice of
// hack/local/easyservice-apiserver.yaml.
func planeReplica(t *testing.T) *serverReplica {
	t.Helper()
	return &serverReplica{planeProcess: findPlaneProcess(t, "easyservice-apiserver"),
		port: mustAtoi(t, plane.env["ES_PORT"]), slice: esServiceName}
}

// startSecondReplica starts a second replica with the command line of first (the flags of the
// install's Deployment, as hack/local-up.sh runs them: the same etcd, serving certificate for the
// Service's name, kubeconfig and identity) on a free port of 127.0.0.1. Its controller stands for
// the same Lease under an identity of its own (the host name and a UUID per process). It is
// stopped when the test ends; it is not in any EndpointSlice until an endpointProber puts it there.
func startSecondReplica(t *testing.T, first *serverReplica) *serverReplica {
	t.Helper()
	// One left running by a test that died half way (hack/local-down.sh stops it with the plane).
	if pid, argv, err := localplane.Process(plane.dir, secondReplicaName); err == nil && strings.Contains(strings.Join(argv, "\x00"), plane.dir) {
		t.Fatalf("%s already runs (pid %d)", secondReplicaName, pid)
	}
	port := freePorts(t, 1)[0]
	argv := append([]string(nil), first.argv...)
	replaced := 0
	for i, a := range argv {
		if strings.HasPrefix(a, "--secure-port=") {
			argv[i] = "--secure-port=" + strconv.Itoa(port)
			replaced++
		}
	}
	if replaced != 1 {
		t.Fatalf("%s has %d --secure-port flags, want 1: %q", first.name, replaced, first.argv)
	}
	r := &serverReplica{planeProcess: &planeProcess{name: secondReplicaName, argv: argv}, port: port, slice: secondReplicaName}
	r.launch(t, "started as a second replica")
	t.Cleanup(func() {
		if r.alive() {
			r.stop(t, syscall.SIGTERM, time.Minute)
		}
		_ = os.Remove(pidFile(r.name))
	})
	return r
}

// endpointState is what the EndpointSlice says of a replica: no endpoint (present false), or an
// endpoint, ready or not. (Its pod is never being deleted: serving is ready, terminating false.)
type endpointState struct {
	present, ready bool
}

func (s endpointState) String() string {
	if !s.present {
		return "no endpoint"
	}
	return fmt.Sprintf("ready=%t", s.ready)
}

// probeTiming is the timing of a kubelet readiness probe.
type probeTiming struct {
	period, timeout                    time.Duration
	successThreshold, failureThreshold int
}

func (p probeTiming) String() string {
	return fmt.Sprintf("every %v, timeout %v, ready after %d successes, not ready after %d failures",
		p.period, p.timeout, p.successThreshold, p.failureThreshold)
}

// installReadinessProbe is the readinessProbe of the container easyservice-apiserver of the
// install's Deployment, as the install tests render it (kubectl kustomize artifacts/deploy/base),
// with what kube-apiserver fills in for the fields the manifest leaves out (a dry-run create).
func installReadinessProbe(t *testing.T) probeTiming {
	t.Helper()
	r := kustomize(t, filepath.Join(plane.root, "artifacts", "deploy", "base"))
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", installNamespace, serverName))
	d.ObjectMeta = metav1.ObjectMeta{GenerateName: serverName + "-", Namespace: installNamespace, Labels: d.Labels}
	defaulted, err := plane.kube.AppsV1().Deployments(installNamespace).Create(t.Context(), d, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("a dry-run create of the install's Deployment: %v", err)
	}
	p := container(t, &defaulted.Spec.Template.Spec, serverName).ReadinessProbe
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Fatalf("the install's Deployment has no readinessProbe on /readyz: %+v", p)
	}
	timing := probeTiming{
		period:           time.Duration(p.PeriodSeconds) * time.Second,
		timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		successThreshold: int(p.SuccessThreshold),
		failureThreshold: int(p.FailureThreshold),
	}
	if timing.period <= 0 || timing.timeout <= 0 || timing.successThreshold < 1 || timing.failureThreshold < 1 {
		t.Fatalf("the install's readinessProbe, defaulted, is incomplete: %+v", p)
	}
	t.Logf("the install's readinessProbe: %s", timing)
	return timing
}

// endpointChange is an EndpointSlice update the prober made.
type endpointChange struct {
	slice string
	at    time.Time
	state endpointState
}

// endpointProber stands in for what a cluster does for the install's Deployment and its Service: the
// kubelet's readinessProbe and the EndpointSlice controller, which writes each pod's endpoint as
//
//	ready = serving && !terminating, serving = the pod is Ready, terminating = the pod is being deleted.
//
// There are no pods, and none is ever deleted: the prober runs the readiness probe as the kubelet's
// prober does, with the given timing (GET /readyz over HTTPS every period, within the timeout; 2xx
// and 3xx succeed), and the replica's endpoint is
//   - ready once successThreshold probes in a row succeeded, and not ready once failureThreshold in a
//     row failed (a replica that got SIGTERM fails them at once); not ready at first;
//   - absent while nothing listens on the replica's port (the process is gone, or has not opened
//     it yet), as for a container that is not running: the count starts again.
//
// In a cluster the EndpointSlice controller marks a pod's endpoint not ready as soon as the pod is
// deleted, before its container gets SIGTERM; here only the failing readiness probe takes it out,
// as it does for a SIGTERM that is not a pod deletion: a rolling restart shows that the probe and
// the server's shutdown delay are enough by themselves. (The startupProbe is not run: it only delays
// a new container's first readiness probe.)
type endpointProber struct {
	timing   probeTiming
	probes   *http.Client
	kube     kubernetes.Interface
	replicas []*serverReplica
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	state   map[string]endpointState // by slice: what the prober last wrote
	changes []endpointChange
	errors  []string
}

// startEndpointProber makes the replicas' EndpointSlices (the plane's own exists: the prober takes
// it over) and keeps their endpoints in line with the replicas' /readyz until the test ends. Then
// it deletes the slices it made and gives the plane's slice back its endpoint as
// hack/local-up.sh wrote it.
func startEndpointProber(t *testing.T, timing probeTiming, replicas ...*serverReplica) *endpointProber {
	t.Helper()
	ctx := t.Context()
	cfg := rest.CopyConfig(plane.config)
	// kube-apiserver warns on every write that FQDN EndpointSlices are deprecated.
	cfg.WarningHandler = rest.NoWarnings{}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &endpointProber{timing: timing, probes: esProbeClient(t), kube: kube, replicas: replicas, state: map[string]endpointState{}}
	p.probes.Timeout = timing.timeout
	// A connection per probe, as the kubelet's HTTP prober makes them.
	p.probes.Transport.(*http.Transport).DisableKeepAlives = true
	slices := kube.DiscoveryV1().EndpointSlices(esServiceNamespace)
	for _, r := range replicas {
		existing, err := slices.Get(ctx, r.slice, metav1.GetOptions{})
		switch {
		case err == nil:
			if len(existing.Ports) != 1 || existing.Ports[0].Port == nil || int(*existing.Ports[0].Port) != r.port {
				t.Fatalf("EndpointSlice %s has ports %+v, want %d", r.slice, existing.Ports, r.port)
			}
			original := existing.Endpoints
			t.Cleanup(func() { p.restore(t, r.slice, original) })
		case apierrors.IsNotFound(err):
			slice := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Name: r.slice, Namespace: esServiceNamespace,
					Labels: map[string]string{discoveryv1.LabelServiceName: esServiceName}},
				AddressType: discoveryv1.AddressTypeFQDN,
				Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(r.port)),
					Protocol: ptr.To(corev1.ProtocolTCP)}},
			}
			if _, err := slices.Create(ctx, slice, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := slices.Delete(context.Background(), r.slice, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("deleting EndpointSlice %s: %v", r.slice, err)
				}
			})
		default:
			t.Fatal(err)
		}
	}
	// Registered last, so it runs first: no prober write after the slices are given back.
	var runCtx context.Context
	runCtx, p.cancel = context.WithCancel(context.Background())
	for _, r := range replicas {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.run(runCtx, r)
		}()
	}
	t.Cleanup(func() {
		p.cancel()
		p.wg.Wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.errors {
			t.Logf("endpoint prober: %s", e)
		}
	})
	return p
}

// run probes r every period and writes its endpoint when it changes.
func (p *endpointProber) run(ctx context.Context, r *serverReplica) {
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", r.port)
	written := false
	var last endpointState
	ready, lastSucceeded, inARow := false, false, 0
	// A probe every period, as the kubelet's prober worker ticks, however long the probe took.
	tick := time.NewTicker(p.timing.period)
	defer tick.Stop()
	for ctx.Err() == nil {
		var s endpointState
		succeeded, listening := p.probe(ctx, url)
		switch {
		case !listening:
			ready, inARow = false, 0
		case inARow > 0 && succeeded == lastSucceeded:
			inARow++
		default:
			lastSucceeded, inARow = succeeded, 1
		}
		switch {
		case inARow >= p.timing.successThreshold && lastSucceeded:
			ready = true
		case inARow >= p.timing.failureThreshold && !lastSucceeded:
			ready = false
		}
		if listening {
			s = endpointState{present: true, ready: ready}
		}
		if !written || s != last {
			if err := p.write(ctx, r.slice, s); err != nil {
				if ctx.Err() == nil {
					p.mu.Lock()
					p.errors = append(p.errors, fmt.Sprintf("writing %s (%s): %v", r.slice, s, err))
					p.mu.Unlock()
				}
			} else {
				written, last = true, s
				p.mu.Lock()
				p.state[r.slice] = s
				p.changes = append(p.changes, endpointChange{slice: r.slice, at: time.Now(), state: s})
				p.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// probe runs one readiness probe: whether it succeeded, and whether anything listens on the port.
func (p *endpointProber) probe(ctx context.Context, url string) (succeeded, listening bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, false
	}
	resp, err := p.probes.Do(req)
	if err != nil {
		return false, !errors.Is(err, syscall.ECONNREFUSED)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400, true
}

// write sets the slice's endpoint to s.
func (p *endpointProber) write(ctx context.Context, name string, s endpointState) error {
	var endpoints []discoveryv1.Endpoint
	if s.present {
		endpoints = []discoveryv1.Endpoint{{
			Addresses: []string{"127.0.0.1"},
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(s.ready), Serving: ptr.To(s.ready), Terminating: ptr.To(false),
			},
		}}
	}
	return p.setEndpoints(ctx, name, endpoints)
}

// setEndpoints replaces the endpoints of the slice, retrying on a conflict.
func (p *endpointProber) setEndpoints(ctx context.Context, name string, endpoints []discoveryv1.Endpoint) error {
	slices := p.kube.DiscoveryV1().EndpointSlices(esServiceNamespace)
	for {
		slice, err := slices.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		slice.Endpoints = endpoints
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}

// restore gives the slice the endpoints it had before the prober started.
func (p *endpointProber) restore(t *testing.T, name string, endpoints []discoveryv1.Endpoint) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.setEndpoints(ctx, name, endpoints); err != nil {
		t.Errorf("restoring EndpointSlice %s: %v", name, err)
	}
}

// current is what the prober last wrote for r.
func (p *endpointProber) current(r *serverReplica) endpointState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state[r.slice]
}

// waitReady waits until the prober has written r's endpoint ready, after since, and returns when.
func (p *endpointProber) waitReady(t *testing.T, r *serverReplica, since time.Time) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, recoverTimeout, r.name+" ready in EndpointSlice "+r.slice, func(context.Context) (bool, string) {
		var ok bool
		at, ok = p.firstChange(r, since, func(s endpointState) bool { return s.ready })
		return ok, p.current(r).String()
	})
	return at
}

// firstChange returns when, after since, the prober first wrote a state of r that matches.
func (p *endpointProber) firstChange(r *serverReplica, since time.Time, match func(endpointState) bool) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.changes {
		if c.slice == r.slice && !c.at.Before(since) && match(c.state) {
			return c.at, true
		}
	}
	return time.Time{}, false
}

// proxiedWrites returns how many creates, updates and deletes of EasyServices the replica's process
// has served (its apiserver_request_total): the requests kube-apiserver proxied to it.
func (r *serverReplica) proxiedWrites(admin *http.Client) (int, error) {
	code, body := probe(admin, fmt.Sprintf("https://127.0.0.1:%d/metrics", r.port))
	if code != http.StatusOK {
		return 0, fmt.Errorf("metrics of %s: %d %s", r.name, code, firstLine(body))
	}
	n, err := harness.ServedWrites(body)
	if err != nil {
		return 0, fmt.Errorf("metrics of %s: %w", r.name, err)
	}
	return n, nil
}

// shutdownDelay is the --shutdown-delay-duration of a command line.
func shutdownDelay(t *testing.T, argv []string) time.Duration {
	t.Helper()
	for _, a := range argv {
		if v, ok := strings.CutPrefix(a, "--shutdown-delay-duration="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("no --shutdown-delay-duration in %q", argv)
	return 0
}
