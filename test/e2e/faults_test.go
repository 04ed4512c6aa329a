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
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
	"github.com/easyservice/easyservice/test/harness"
	"github.com/easyservice/easyservice/test/localplane"
)

// The fault tests kill or stop one process of the plane (by its pid file), start it again with the
// command line it had, and check with the fault harness that nothing acknowledged was lost. Each
// leaves the plane as it found it: the process runs again (under a new pid, written to its pid
// file, so hack/local-down.sh still stops it) and is ready.

// planeProcess is a process of the plane, from LOCAL_UP_DIR/pids/<name>.pid.
type planeProcess struct {
	name string
	pid  int
	argv []string
}

func pidFile(name string) string { return localplane.PidFile(plane.dir, name) }

func findPlaneProcess(t *testing.T, name string) *planeProcess {
	t.Helper()
	pid, argv, err := localplane.Process(plane.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(argv, "\x00"), plane.dir) {
		t.Fatalf("pid %d of %s does not run with %s: %q", pid, name, plane.dir, argv)
	}
	return &planeProcess{name: name, pid: pid, argv: argv}
}

// alive: the process exists, is not a zombie and still has its command line.
func (p *planeProcess) alive() bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 {
		if s := stat[i+2]; s == 'Z' || s == 'X' {
			return false
		}
	}
	argv, err := localplane.Cmdline(p.pid)
	return err == nil && slices.Equal(argv, p.argv)
}

// stop sends sig and waits for the process to exit.
func (p *planeProcess) stop(t *testing.T, sig syscall.Signal, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := syscall.Kill(p.pid, sig); err != nil {
		t.Fatalf("kill -%d %s (pid %d): %v", sig, p.name, p.pid, err)
	}
	for p.alive() {
		if time.Since(start) > timeout {
			t.Fatalf("%s (pid %d) still runs %v after signal %d", p.name, p.pid, timeout, sig)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s (pid %d) exited %v after signal %d", p.name, p.pid, time.Since(start).Round(time.Millisecond), sig)
	return time.Since(start)
}

// restart starts the process again with the same command line, in a session of its own, with its
// output appended to its log, and writes its pid file.
func (p *planeProcess) restart(t *testing.T) {
	t.Helper()
	p.launch(t, "restarted")
}

// launch starts p.argv as the plane's process p.name: in a session of its own, as hack/local-up.sh
// starts its components, with its output appended to logs/<name>.log, and writes pids/<name>.pid.
func (p *planeProcess) launch(t *testing.T, what string) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(plane.dir, "logs", p.name+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close() }()
	_, _ = fmt.Fprintf(log, "# %s e2e fault test (%s): %s: %s\n", time.Now().UTC().Format(time.RFC3339), t.Name(), what, strings.Join(p.argv, " "))
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = plane.root, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	go func() { _ = cmd.Wait() }() // reaps it if it dies while this test process runs
	p.pid = cmd.Process.Pid
	tmp := pidFile(p.name) + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, pidFile(p.name)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s: pid %d", p.name, what, p.pid)
}

// ensureRunning restarts the process at the end of the test if the test left it stopped.
func (p *planeProcess) ensureRunning(t *testing.T, ready func(t *testing.T)) {
	t.Cleanup(func() {
		if !p.alive() {
			t.Logf("%s is not running at the end of the test: restarting it", p.name)
			p.restart(t)
		}
		ready(t)
	})
}

func esReadyzURL() string { return "https://127.0.0.1:" + plane.env["ES_PORT"] + "/readyz?verbose" }

// kubeProbeClient calls kube-apiserver with the admin's certificate.
func kubeProbeClient(t *testing.T) *http.Client {
	t.Helper()
	c := httpsClient(t, "ca", adminCertificate(t))
	c.Timeout = 10 * time.Second
	return c
}

// waitFor is the harness's: eventually, with a context of its own, so that it also works in a
// cleanup (where the test's context is done).
var waitFor = harness.WaitFor

// Recovery waits: the harness's.
const recoverTimeout = harness.RecoverTimeout

// newFaultHarness is a fault harness of the EasyServices of a new namespace of the plane.
func newFaultHarness(t *testing.T, prefix string) *harness.Harness {
	t.Helper()
	return harness.New(t, plane.config, createNamespace(t, prefix))
}

func waitEtcdHealthy(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, recoverTimeout, "EasyService's etcd to be healthy", func(context.Context) (bool, string) {
		code, body := probe(client, "http://127.0.0.1:"+plane.env["ES_ETCD_CLIENT_PORT"]+"/health")
		return code == http.StatusOK && strings.Contains(body, `"health":"true"`), fmt.Sprintf("%d %s", code, body)
	})
}

func waitKubeAPIServerReady(t *testing.T) {
	t.Helper()
	client := kubeProbeClient(t)
	waitFor(t, recoverTimeout, "kube-apiserver /readyz", func(context.Context) (bool, string) {
		code, body := probe(client, "https://127.0.0.1:"+plane.env["KUBE_APISERVER_PORT"]+"/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, firstLine(body))
	})
}

// waitServing waits until our server is ready and serves EasyServices through kube-apiserver.
func waitServing(t *testing.T) {
	t.Helper()
	client := esProbeClient(t)
	waitFor(t, recoverTimeout, "easyservice-apiserver /readyz", func(context.Context) (bool, string) {
		code, body := probe(client, esReadyzURL())
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, tail(body, 8))
	})
	waitFor(t, recoverTimeout, "EasyServices through kube-apiserver", func(ctx context.Context) (bool, string) {
		_, err := plane.es.AppV1().EasyServices("default").List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, fmt.Sprintf("%v", err)
	})
}

// TestFaultEtcdKill: SIGKILL of EasyService's etcd under the harness's load; while it is down our
// /readyz says not ready, and ready again once it is back; nothing acknowledged is lost.
func TestFaultEtcdKill(t *testing.T) {
	etcd := findPlaneProcess(t, "easyservice-etcd")
	etcd.ensureRunning(t, func(t *testing.T) { waitEtcdHealthy(t); waitServing(t) })
	waitServing(t)
	probes := esProbeClient(t)

	h := newFaultHarness(t, "fault-etcd")
	h.Run()
	h.WaitProgress(20, recoverTimeout)

	etcd.stop(t, syscall.SIGKILL, 30*time.Second)
	down := time.Now()
	// /readyz tells the truth: not ready while etcd is down (the etcd check fails).
	waitFor(t, time.Minute, "easyservice-apiserver /readyz to fail with etcd down", func(context.Context) (bool, string) {
		code, body := probe(probes, esReadyzURL())
		return code == http.StatusInternalServerError && strings.Contains(body, "[-]etcd"), fmt.Sprintf("%d %s", code, tail(body, 10))
	})
	t.Logf("/readyz failed %v after the kill", time.Since(down).Round(time.Millisecond))
	// A few seconds more down, still not ready.
	time.Sleep(3 * time.Second)
	if code, body := probe(probes, esReadyzURL()); code == http.StatusOK {
		t.Errorf("/readyz = 200 with etcd down: %s", body)
	}
	etcd.restart(t)
	waitEtcdHealthy(t)
	up := time.Now()
	waitServing(t)
	t.Logf("etcd down %v; /readyz ok %v after etcd was healthy again", up.Sub(down).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))

	h.WaitProgress(20, recoverTimeout)
	h.StopAndCheck()
}

// TestFaultServerKill: SIGKILL of easyservice-apiserver under load, restarted with the same
// command line: it is gone at once, every request sent while it is down fails (it is the plane's one
// replica), and nothing acknowledged is lost.
func TestFaultServerKill(t *testing.T) {
	testServerStop(t, syscall.SIGKILL)
}

// TestFaultServerTerm: SIGTERM of easyservice-apiserver under load (a graceful shutdown with the
// install's --shutdown-delay-duration), restarted with the same command line: it reports not ready
// at once, answers every request for its whole shutdown delay and exits only after it; every request
// sent after it exited fails until it is back, and nothing acknowledged is lost.
func TestFaultServerTerm(t *testing.T) {
	testServerStop(t, syscall.SIGTERM)
}

// testServerStop stops the plane's easyservice-apiserver with sig under the harness's load, and
// starts it again after 2 s. The plane has one replica, in an EndpointSlice that is always ready:
// kube-apiserver sends every request to it, so the checks see exactly what the server does.
func testServerStop(t *testing.T, sig syscall.Signal) {
	server := planeReplica(t)
	server.ensureRunning(t, waitServing)
	waitServing(t)
	// The delay the running server was started with (its command line).
	delay := shutdownDelay(t, server.argv)

	h := newFaultHarness(t, "fault-server")
	h.Run()
	h.WaitProgress(20, recoverTimeout)
	s := stopObserved(t, server, h.Namespace(), sig)
	signalled, exited := h.Since(s.signalled), h.Since(s.signalled.Add(s.exited))
	// Gone: nothing answers on its port any more.
	if code, body := probe(esProbeClient(t), esReadyzURL()); code != 0 {
		t.Errorf("easyservice-apiserver exited, but its port still answers: %d %s", code, firstLine(body))
	}
	if sig == syscall.SIGTERM {
		s.checkDelay(t, server.name, delay)
	}
	time.Sleep(2 * time.Second)
	restarted := h.Now()
	server.restart(t)
	start := time.Now()
	waitServing(t)
	t.Logf("serving again %v after the restart", time.Since(start).Round(time.Millisecond))
	h.WaitProgress(20, recoverTimeout)
	h.StopAndCheck()

	// The fault had an effect: the requests sent after the server exited and answered before it was
	// started again all failed (nothing else serves EasyServices), and there were some.
	served, failed := h.Answered(exited, restarted, true)
	t.Logf("sent while easyservice-apiserver was down (%v): %d requests failed, %d answered", (restarted - exited).Round(time.Millisecond), len(failed), served)
	if served != 0 {
		t.Errorf("%d requests sent after easyservice-apiserver exited were answered before it was started again", served)
	}
	if len(failed) == 0 {
		t.Errorf("no request failed while easyservice-apiserver was down: the fault had no effect")
	} else {
		t.Logf("e.g. %s", failed[0])
	}
	if sig != syscall.SIGTERM {
		return
	}
	// Every request answered during the shutdown delay succeeded (kube-apiserver still sends every
	// request to the stopping server), and there were some.
	served, failed = h.Answered(signalled, signalled+delay, false)
	t.Logf("answered during the %v shutdown delay: %d requests, %d failed", delay, served, len(failed))
	if served == 0 {
		t.Errorf("no request was answered during the shutdown delay")
	}
	for i, f := range failed {
		if i == 20 {
			t.Errorf("... and %d more", len(failed)-i)
			break
		}
		t.Errorf("failed during the shutdown delay: %s", f)
	}
}

// stopped is what a server showed from outside after a signal, until its process exited: when its
// /readyz first reported the shutdown, until when it served a request sent to it directly, and when
// it exited (all since the signal; zero for never).
type stopped struct {
	signalled                    time.Time
	notReady, lastServed, exited time.Duration
}

// stopObserved signals the replica r and watches it until it exits: its /readyz, and whether it
// serves a list of the EasyServices of ns (as the admin, directly on its port).
func stopObserved(t *testing.T, r *serverReplica, ns string, sig syscall.Signal) stopped {
	t.Helper()
	probes, admin := esProbeClient(t), esAdminClient(t)
	listURL := fmt.Sprintf("https://127.0.0.1:%d/apis/app.easyservice.io/v1/namespaces/%s/easyservices?limit=1", r.port, ns)
	readyzURL := fmt.Sprintf("https://127.0.0.1:%d/readyz?verbose", r.port)
	s := stopped{signalled: time.Now()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r.alive() {
			if code, body := probe(probes, readyzURL); s.notReady == 0 && code != 0 && strings.Contains(body, "[-]shutdown") {
				s.notReady = time.Since(s.signalled)
			}
			if code, _ := probe(admin, listURL); code == http.StatusOK {
				s.lastServed = time.Since(s.signalled)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	r.stop(t, sig, time.Minute)
	s.exited = time.Since(s.signalled)
	<-done
	after := func(d time.Duration) string {
		if d == 0 {
			return "never"
		}
		return d.Round(time.Millisecond).String() + " after it"
	}
	t.Logf("%s, after signal %d: /readyz reported the shutdown %s; served directly until %s; exited by %s",
		r.name, sig, after(s.notReady), after(s.lastServed), after(s.exited))
	return s
}

// checkDelay: after SIGTERM, the server reported not ready within 2 s, served for its whole
// shutdown delay and exited only after it.
func (s stopped) checkDelay(t *testing.T, name string, delay time.Duration) {
	t.Helper()
	if s.notReady == 0 || s.notReady > 2*time.Second {
		t.Errorf("%s: /readyz did not report the shutdown within 2s of SIGTERM (%v)", name, s.notReady)
	}
	if s.lastServed < delay-time.Second || s.exited < delay {
		t.Errorf("%s served until %v and exited by %v after SIGTERM; want it to serve for its --shutdown-delay-duration (%v)", name, s.lastServed, s.exited, delay)
	}
}

// TestFaultServerRollingTerm: two replicas behind the APIService, as the install runs them, are
// stopped gracefully (SIGTERM) and started again one after the other, as a rolling update does, under
// the harness's load; an endpointProber with the timing of the install's readinessProbe plays the
// kubelet and the EndpointSlice controller. Each replica reports not ready at once, is taken out of
// the endpoints (after the probe's failureThreshold) while it still serves, serves for its
// --shutdown-delay-duration and exits after it. No request through kube-apiserver fails during the
// whole test (no 503 of the aggregator, no broken connection, no 429 or 5xx of a replica), watches
// end cleanly and resume, both replicas served requests, and the harness's checks hold.
// TestFaultServerRollingTermUndrained shows that the harness sees the failures of a rolling restart
// that does not drain.
func TestFaultServerRollingTerm(t *testing.T) {
	roll := rollingRestart(t, installReadinessProbe(t))
	for _, r := range roll.replicas {
		s := roll.stops[r]
		s.checkDelay(t, r.name, roll.delay)
		switch out, ok := roll.out[r]; {
		case !ok:
			t.Errorf("%s: never taken out of its EndpointSlice after SIGTERM", r.name)
		case out >= s.lastServed:
			t.Errorf("%s: taken out of its EndpointSlice %v after SIGTERM, after it stopped serving (%v)", r.name, out, s.lastServed)
		}
	}
	// The watcher's stream was on the first replica to stop, or else on the second: at least one
	// shutdown ended it, and it resumed (stopAndCheck checked that it missed nothing).
	if roll.watchEnds == 0 {
		t.Errorf("no replica ended the watch when it stopped")
	}
	failures := roll.h.Failures()
	t.Logf("%d requests failed in the whole test", len(failures))
	for i, f := range failures {
		if i == 20 {
			t.Errorf("... and %d more", len(failures)-i)
			break
		}
		t.Errorf("failed request: %s", f)
	}
}

// TestFaultServerRollingTermUndrained is the control of TestFaultServerRollingTerm: the same rolling
// restart, but the prober never takes an answering replica out of the endpoints (failed probes are
// ignored; only a closed port removes the endpoint). kube-apiserver then goes on sending requests to
// each stopping replica after its shutdown delay, when it refuses them (429) and then closes its
// port: the harness must see those failures, or the zero failures of TestFaultServerRollingTerm
// would prove nothing.
func TestFaultServerRollingTermUndrained(t *testing.T) {
	timing := installReadinessProbe(t)
	timing.failureThreshold = math.MaxInt
	roll := rollingRestart(t, timing)
	for _, r := range roll.replicas {
		if out, ok := roll.out[r]; ok && out < roll.stops[r].lastServed {
			t.Fatalf("%s was taken out of its EndpointSlice %v after SIGTERM, while it served: the control drained", r.name, out)
		}
	}
	_, failed := roll.h.Answered(roll.start, roll.end, false)
	if len(failed) == 0 {
		t.Fatalf("no request failed during a rolling restart that did not drain: the harness does not see failures")
	}
	t.Logf("%d requests failed during the rolling restart (%v), e.g.:", len(failed), (roll.end - roll.start).Round(time.Millisecond))
	for _, f := range failed[:min(len(failed), 5)] {
		t.Logf("  %s", f)
	}
}

// rolling is what a rolling restart showed.
type rolling struct {
	h        *harness.Harness // stopped and checked
	replicas []*serverReplica
	delay    time.Duration // the replicas' --shutdown-delay-duration
	// start and end of the rolling restart, in the harness's time.
	start, end time.Duration
	stops      map[*serverReplica]stopped
	// out: when, after SIGTERM, the prober first wrote the replica's endpoint not ready; absent
	// when it never did.
	out       map[*serverReplica]time.Duration
	watchEnds int
}

// rollingRestart runs two replicas behind the APIService, the plane's and a second one, with an
// endpointProber of the given timing keeping their EndpointSlices, starts the harness, and stops
// (SIGTERM) and restarts each replica in turn; each must be ready, in its EndpointSlice and serving
// proxied writes again before the other one goes. It stops and checks the harness.
func rollingRestart(t *testing.T, timing probeTiming) *rolling {
	t.Helper()
	a := planeReplica(t)
	a.ensureRunning(t, waitServing)
	waitServing(t)
	b := startSecondReplica(t, a)
	prober := startEndpointProber(t, timing, a, b)
	prober.waitReady(t, a, time.Time{})
	prober.waitReady(t, b, time.Time{})
	probes, admin := esProbeClient(t), esAdminClient(t)
	roll := &rolling{h: newFaultHarness(t, "fault-rolling"), replicas: []*serverReplica{a, b}, delay: shutdownDelay(t, a.argv),
		stops: map[*serverReplica]stopped{}, out: map[*serverReplica]time.Duration{}}
	h := roll.h

	proxiedWrites := func(r *serverReplica) int {
		t.Helper()
		n, err := r.proxiedWrites(admin)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The proxied writes each replica's process served before this test, and in all during it.
	before := map[*serverReplica]int{a: proxiedWrites(a), b: proxiedWrites(b)}
	served := map[*serverReplica]int{}
	// waitServed waits until r's process served n proxied writes since it started (or since before).
	// (Its /metrics may deny the admin's client certificate for a moment after it is ready: the
	// client CA is loaded like the request-header CA, but readiness waits only for the latter.)
	waitServed := func(r *serverReplica, n int) {
		t.Helper()
		waitFor(t, recoverTimeout, fmt.Sprintf("%s to serve %d proxied writes", r.name, n), func(context.Context) (bool, string) {
			got, err := r.proxiedWrites(admin)
			return err == nil && got-before[r] >= n, fmt.Sprintf("%d %v", got-before[r], err)
		})
	}
	h.Run()
	h.WaitProgress(20, recoverTimeout)
	// kube-apiserver routes to both before either stops.
	waitServed(a, 5)
	waitServed(b, 5)

	roll.start = h.Now()
	for _, r := range roll.replicas {
		served[r] += proxiedWrites(r) - before[r]
		s := stopObserved(t, r, h.Namespace(), syscall.SIGTERM)
		roll.stops[r] = s
		outAfter := "never"
		if out, ok := prober.firstChange(r, s.signalled, func(e endpointState) bool { return !e.ready }); ok {
			roll.out[r] = out.Sub(s.signalled)
			outAfter = roll.out[r].Round(time.Millisecond).String()
		}
		t.Logf("%s: out of its EndpointSlice %s after SIGTERM", r.name, outAfter)
		// The new process is a new pod: not before the old one's endpoint is gone.
		waitFor(t, time.Minute, r.name+"'s endpoint to go", func(context.Context) (bool, string) {
			_, gone := prober.firstChange(r, s.signalled, func(e endpointState) bool { return !e.present })
			return gone, prober.current(r).String()
		})

		restarted := time.Now()
		r.restart(t)
		back := prober.waitReady(t, r, restarted)
		t.Logf("%s: ready and back in its EndpointSlice %v after the restart", r.name, back.Sub(restarted).Round(time.Millisecond))
		// Ready means that it authenticates what kube-apiserver proxies.
		readyzURL := fmt.Sprintf("https://127.0.0.1:%d/readyz?verbose", r.port)
		if code, body := probe(probes, readyzURL); code != http.StatusOK || !strings.Contains(body, "[+]requestheader-client-ca ok") {
			t.Errorf("%s: /readyz = %d without the request-header CA check:\n%s", r.name, code, body)
		}
		before[r] = 0
		waitServed(r, 5)
		h.WaitProgress(20, recoverTimeout)
	}
	roll.end = h.Now()
	for _, r := range roll.replicas {
		served[r] += proxiedWrites(r)
	}
	h.StopAndCheck()

	during := h.Sent(roll.start, roll.end)
	roll.watchEnds = h.WatchEnds()
	_, failed := h.Answered(roll.start, roll.end, false)
	t.Logf("rolling restart: %v, %d requests through kube-apiserver meanwhile, %d failed; proxied writes served: %s %d, %s %d",
		(roll.end - roll.start).Round(time.Millisecond), during, len(failed), a.name, served[a], b.name, served[b])
	return roll
}

// TestFaultKubeAPIServerRestart: kube-apiserver stops (SIGTERM) and starts again under load;
// nothing acknowledged is lost and the watcher resumes.
func TestFaultKubeAPIServerRestart(t *testing.T) {
	kas := findPlaneProcess(t, "kube-apiserver")
	kas.ensureRunning(t, func(t *testing.T) { waitKubeAPIServerReady(t); waitServing(t) })
	waitServing(t)

	h := newFaultHarness(t, "fault-kas")
	h.Run()
	h.WaitProgress(20, recoverTimeout)
	down := time.Now()
	kas.stop(t, syscall.SIGTERM, time.Minute)
	time.Sleep(2 * time.Second)
	kas.restart(t)
	start := time.Now()
	waitKubeAPIServerReady(t)
	kubeAPIServerRestarts = append(kubeAPIServerRestarts, timeWindow{from: down, to: time.Now()})
	waitServing(t)
	t.Logf("kube-apiserver ready and EasyServices served %v after the restart", time.Since(start).Round(time.Millisecond))
	h.WaitProgress(20, recoverTimeout)
	h.StopAndCheck()
}

// timeWindow is a span of time.
type timeWindow struct{ from, to time.Time }

// kubeAPIServerRestarts are the times from a SIGTERM of kube-apiserver to its /readyz saying ok
// again. A kube-apiserver that has just started refuses requests until its RBAC informers have
// synced: a refusal then says nothing about our RBAC rules (TestInstallServerIdentity).
var kubeAPIServerRestarts []timeWindow

// The controller's Lease, as the install's server holds it (the defaults of its flags).
const (
	controllerLease          = "easyservice-controller"
	controllerLeaseNamespace = "easyservice-system"
)

// isLeader reads leader_election_master_status of the default Lease from a server's metrics.
func isLeader(ctx context.Context, c *candidateServer) (bool, error) {
	code, body, err := c.get(ctx, "/metrics")
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "leader_election_master_status{") && strings.Contains(line, `name="`+controllerLease+`"`) {
			return strings.HasSuffix(line, " 1"), nil
		}
	}
	return false, errors.New("no leader_election_master_status in the metrics")
}

// TestFaultControllerLeaderKill: the leading controller (the plane's server) is SIGKILLed in the
// middle of reconciling 50 new EasyServices, and the follower, a second server standing for the
// same Lease, takes over while the killed one is still down.
//
// Where the kill falls is fixed, not left to timing: a ResourceQuota of the namespace lets the
// leader make at most 25 Deployments and 25 Services; it is killed once it has used the quota up
// and is retrying (with backoff) the EasyServices it was refused, with at most 25 of 50 made. The
// quota goes, the Lease expires, and the follower must take it (the killed process is started again
// only after that). Within 30 s of the takeover every EasyService converges: its Deployment and
// Service exist, controlled by it, one each, nothing is left without an owner, and the follower did
// the reconciles while the restarted server follows.
func TestFaultControllerLeaderKill(t *testing.T) {
	const n, quota = 50, 25
	ctx := t.Context()
	server := findPlaneProcess(t, "easyservice-apiserver")
	server.ensureRunning(t, waitServing)
	waitServing(t)
	planeServer := &candidateServer{name: "plane", port: mustAtoi(t, plane.env["ES_PORT"])}
	leases := plane.kube.CoordinationV1().Leases(controllerLeaseNamespace)
	holder := func() string {
		l, err := leases.Get(ctx, controllerLease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	waitFor(t, recoverTimeout, "the plane's server to lead", func(ctx context.Context) (bool, string) {
		ok, err := isLeader(ctx, planeServer)
		return ok, fmt.Sprintf("%v", err)
	})
	killed := holder()
	if killed == "" {
		t.Fatalf("no holder of the Lease %s", controllerLease)
	}

	// The follower: a second server on the same etcd, standing for the default Lease.
	follower := startCandidate(t, "follower", controllerLease)
	// At the end, hand the Lease back gracefully (a SIGTERM releases it), so that the plane's own
	// server leads again at once for the tests that follow.
	t.Cleanup(func() {
		if !server.alive() {
			server.restart(t)
		}
		_ = follower.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = follower.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
		client := &candidateServer{name: "plane", port: planeServer.port}
		waitFor(t, recoverTimeout, "the plane's server to lead again", func(ctx context.Context) (bool, string) {
			ok, err := isLeader(ctx, client)
			return ok, fmt.Sprintf("%v", err)
		})
	})

	ns := createNamespace(t, "fault-leader")
	expectRefusals(ns, "TestFaultControllerLeaderKill's ResourceQuota half refuses the children past the quota")
	quotas := plane.kube.CoreV1().ResourceQuotas(ns)
	deploymentsQuota := corev1.ResourceName("count/deployments.apps")
	_, err := quotas.Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "half"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			deploymentsQuota:        *resource.NewQuantity(quota, resource.DecimalSI),
			corev1.ResourceServices: *resource.NewQuantity(quota, resource.DecimalSI),
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Admission enforces a quota once kube-controller-manager has counted what it covers.
	waitFor(t, time.Minute, "the quota to be counted", func(ctx context.Context) (bool, string) {
		q, err := quotas.Get(ctx, "half", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(q.Status.Hard) == 2, fmt.Sprintf("%+v", q.Status)
	})
	failedBefore := planeServer.reconcileCount(ctx, t, "error")
	for i := range n {
		es := &v1.EasyService{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i)},
			Spec: v1.EasyServiceSpec{Image: "nginx:1.27", Replicas: ptr.To[int32](0), Ports: []v1.EasyServicePort{{Port: 80}},
				ServiceType: corev1.ServiceTypeClusterIP},
		}
		if _, err := plane.es.AppV1().EasyServices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	children := func(ctx context.Context) (deployments, services int, err error) {
		d, err := plane.kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, 0, err
		}
		s, err := plane.kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, 0, err
		}
		return len(d.Items), len(s.Items), nil
	}
	// The leader uses the quota up and is refused the rest: at least one failed sync for each of the
	// n-quota (or more) EasyServices without a Deployment. (Admission charges the quota before the
	// object is stored, and does not give back the charge of a create that fails after it: the
	// leader may make fewer than quota, never more.)
	waitFor(t, time.Minute, "the leader to use the quota up and be refused the rest", func(ctx context.Context) (bool, string) {
		q, err := quotas.Get(ctx, "half", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		used := q.Status.Used
		failed := planeServer.reconcileCount(ctx, t, "error") - failedBefore
		return used.Name(deploymentsQuota, resource.DecimalSI).Value() == quota && used.Name(corev1.ResourceServices, resource.DecimalSI).Value() == quota && failed >= n-quota,
			fmt.Sprintf("quota used %v, %d failed syncs", used, failed)
	})
	if f := follower.reconcileCount(ctx, t, "success") + follower.reconcileCount(ctx, t, "error"); f != 0 || follower.leading(t) != "" {
		t.Fatalf("the follower synced %d times, leading %q, before the leader was killed", f, follower.leading(t))
	}
	server.stop(t, syscall.SIGKILL, 30*time.Second)
	made, services, err := children(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the leader %s was killed with %d of %d Deployments and %d of %d Services made, retrying the rest", killed, made, n, services, n)
	if made <= 0 || made >= n {
		t.Fatalf("the leader was killed with %d of %d Deployments made: not in the middle of the reconciles", made, n)
	}
	if err := quotas.Delete(ctx, "half", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// The follower takes over once the killed leader's Lease expires; the killed process is not
	// running meanwhile (it is started again below, after the takeover).
	var takeover time.Time
	var by string
	waitFor(t, recoverTimeout, "another process to take the Lease over", func(context.Context) (bool, string) {
		by = holder()
		if by != "" && by != killed {
			takeover = time.Now()
			return true, ""
		}
		return false, "holder " + by
	})
	if server.alive() {
		t.Fatalf("the killed server (pid %d) runs again before the takeover", server.pid)
	}
	if f := follower.leading(t); f != by {
		t.Fatalf("the Lease went to %q, not to the follower (%q)", by, f)
	}
	t.Logf("the follower %s took the Lease over", by)
	server.restart(t)

	// The EasyServices are read from the follower, which serves them from the same etcd, so that
	// the restart of the plane's server (behind the APIService) does not count in the 30 s.
	followerES := follower.easyServices(t)
	var last string
	for {
		ok, why := converged(ctx, followerES, ns, n)
		if ok {
			t.Logf("%d EasyServices converged %v after the takeover", n, time.Since(takeover).Round(time.Millisecond))
			break
		}
		last = why
		if time.Since(takeover) > 30*time.Second {
			t.Fatalf("not converged 30s after the takeover: %s", last)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The follower did the work, and still leads; the restarted server follows.
	if synced := follower.reconcileCount(ctx, t, "success"); synced < n-made {
		t.Errorf("the follower synced %d EasyServices successfully, fewer than the %d the leader had left", synced, n-made)
	}
	if h := holder(); h != by {
		t.Errorf("the Lease is held by %q after the convergence, not by the follower %q", h, by)
	}
	waitServing(t)
	if ok, err := isLeader(ctx, planeServer); ok || err != nil {
		t.Errorf("the restarted server leads (%t, %v) while the follower holds the Lease", ok, err)
	}
}

// converged: the namespace holds n EasyServices (listed with es), each with exactly its Deployment and Service,
// controlled by it, and no Deployment or Service without a live owner.
func converged(ctx context.Context, es clientset.Interface, ns string, n int) (bool, string) {
	list, err := es.AppV1().EasyServices(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	deployments, err := plane.kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	services, err := plane.kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	if len(list.Items) != n {
		return false, fmt.Sprintf("%d EasyServices", len(list.Items))
	}
	byName := map[string]*v1.EasyService{}
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
	}
	owned := func(kind string, obj metav1.Object) string {
		ref := metav1.GetControllerOf(obj)
		if ref == nil {
			return fmt.Sprintf("%s %s has no controller (orphan)", kind, obj.GetName())
		}
		es := byName[ref.Name]
		if es == nil || es.UID != ref.UID || obj.GetName() != es.Name {
			return fmt.Sprintf("%s %s is controlled by %s/%s, not by its EasyService", kind, obj.GetName(), ref.Name, ref.UID)
		}
		return ""
	}
	seenD, seenS := map[string]int{}, map[string]int{}
	for i := range deployments.Items {
		d := &deployments.Items[i]
		if why := owned("Deployment", d); why != "" {
			return false, why
		}
		seenD[d.Name]++
		if !deploymentMatches(d) {
			return false, fmt.Sprintf("Deployment %s not reconciled: %+v", d.Name, d.Spec.Replicas)
		}
	}
	for i := range services.Items {
		if why := owned("Service", &services.Items[i]); why != "" {
			return false, why
		}
		seenS[services.Items[i].Name]++
	}
	for name := range byName {
		if seenD[name] != 1 || seenS[name] != 1 {
			return false, fmt.Sprintf("EasyService %s has %d Deployments and %d Services (of %d and %d in all)", name, seenD[name], seenS[name], len(deployments.Items), len(services.Items))
		}
	}
	return true, ""
}

func deploymentMatches(d *appsv1.Deployment) bool {
	return d.Spec.Replicas != nil && *d.Spec.Replicas == 0 && len(d.Spec.Template.Spec.Containers) == 1 &&
		d.Spec.Template.Spec.Containers[0].Image == "nginx:1.27"
}
