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
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/easyservice/easyservice/test/localplane"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// run runs the benchmark and writes the results into cfg.out.
func run(ctx context.Context, cfg config, log io.Writer) (_ *results, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	started := time.Now()
	root, err := localplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir := cfg.localUpDir
	if dir == "" {
		// Enough fake nodes for the controller's pods (110 each).
		nodes := max(2, (cfg.controllerN+99)/100+1)
		logf(log, "==> starting a local control plane (hack/local-up.sh, %d kwok nodes)\n", nodes)
		var stop func(bool)
		if dir, stop, err = startPlane(ctx, root, nodes, log); err != nil {
			return nil, err
		}
		defer func() { stop(err != nil) }()
	}
	p, err := loadPlane(dir)
	if err != nil {
		return nil, err
	}
	res := newResults(cfg)
	res.Machine = describeMachine()
	if slices.Contains(cfg.targetList(), targetSampleAgg) || slices.Contains(cfg.targetList(), targetSampleDirect) {
		logln(log, "==> starting the peer: k8s.io/sample-apiserver with an etcd of its own, registered as APIService "+sampleAPIService)
		var stop func(bool)
		if p.sample, stop, err = startSample(ctx, root, p, log); err != nil {
			return nil, fmt.Errorf("starting sample-apiserver: %w", err)
		}
		defer func() { stop(err != nil) }()
	}

	// The controller's workers stay idle during the API figures (see pauseController).
	logln(log, "==> pausing the embedded controller (taking its Lease)")
	controllerPresent, err := pauseController(ctx, p)
	if err != nil {
		return nil, err
	}
	if controllerPresent {
		defer func() {
			rctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			if err := resumeController(rctx, p); err != nil {
				logln(log, "bench: warning:", err)
			}
		}()
	} else {
		res.note("The plane runs no embedded controller (no Lease %s/%s): no controller figures.", controllerLeaseNamespace, controllerLeaseName)
	}

	logln(log, "==> installing the CRD twin "+crdName+" (schema generated from pkg/generated/openapi)")
	if err := installCRD(ctx, p); err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = deleteCRD(dctx, p)
	}()
	targets := newTargets(p)
	probeNS := uniqueName("bench-probe")
	if err := createNamespace(ctx, p, probeNS); err != nil {
		return nil, err
	}
	size, err := sizeObjects(ctx, targets, probeNS)
	if err != nil {
		return nil, err
	}
	if err := deleteNamespace(ctx, p, probeNS); err != nil {
		return nil, err
	}
	res.ObjectBytes = size
	logf(log, "==> object size %d bytes of JSON (EasyService as GET returns it; the ConfigMaps and Flunders padded to match)\n", size)

	order := cfg.targetList()
	byID := map[string]*target{}
	for _, t := range targets {
		byID[t.id] = t
	}
	for round := range cfg.rounds {
		for _, id := range roundOrder(order, round) {
			logf(log, "==> round %d/%d: %s\n", round+1, cfg.rounds, id)
			var m map[string]float64
			if id == targetEtcd {
				m, err = runEtcdFloor(ctx, p, cfg, size, round)
			} else {
				m, err = runTarget(ctx, p, byID[id], cfg, round, log)
			}
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round+1, id, err)
			}
			res.add(id, m)
			logf(log, "    %s\n", res.summary(m))
		}
	}

	switch {
	case !controllerPresent:
	case cfg.skipController || cfg.controllerN == 0:
		res.note("Controller figures skipped (-skip-controller or -controller-n 0).")
	default:
		if err := runControllerRounds(ctx, p, byID[targetAgg], cfg, res, log); err != nil {
			return nil, err
		}
	}
	res.Retries = retries.Load()
	res.Duration = time.Since(started).Round(time.Second).String()
	res.computeRatios()
	if err := res.write(cfg.out); err != nil {
		return nil, err
	}
	if cfg.docs != "" {
		if err := res.writeDocs(cfg.docs); err != nil {
			return nil, err
		}
		logf(log, "results copied into %s\n", cfg.docs)
	}
	logln(log)
	logf(log, "%s", res.markdown())
	logf(log, "\nwritten: %s\n", filepath.Join(cfg.out, "results.{md,json,png}"))
	return res, nil
}

// roundOrder is the order of the targets in a round: rotated by one each round, and reversed in
// every second round, so that each target runs early and late, and before and after each other one.
func roundOrder(order []string, round int) []string {
	out := make([]string, len(order))
	for i := range order {
		out[i] = order[(i+round)%len(order)]
	}
	if round%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// runTarget measures one target in one round, in a namespace of its own that it empties and
// deletes at the end.
func runTarget(ctx context.Context, p *plane, t *target, cfg config, round int, log io.Writer) (map[string]float64, error) {
	ns := uniqueName(fmt.Sprintf("bench-%s-r%d", t.id, round+1))
	if err := createNamespace(ctx, p, ns); err != nil {
		return nil, err
	}
	objs := names(0, cfg.listN)
	m := map[string]float64{}
	// A namespace gets a kube-root-ca.crt ConfigMap soon after it is made: wait for it, so that it is
	// neither created during a measurement nor miscounted in the LISTs.
	existing := 0
	if t.id == targetCM {
		c := t.ep.client(requestTimeout)
		err := poll(ctx, 60*time.Second, "the kube-root-ca.crt ConfigMap of "+ns, func() (bool, error) {
			code, _, err := do(ctx, c, http.MethodGet, t.object(ns, "kube-root-ca.crt"), nil, "")
			return err == nil && code == http.StatusOK, nil
		})
		c.CloseIdleConnections()
		if err != nil {
			return nil, err
		}
		existing = 1
	}
	procs, err := p.processes()
	if err != nil {
		return nil, err
	}
	before, err := p.memory(ctx, procs)
	if err != nil {
		return nil, err
	}

	// 1 client: create latency, then watch latency.
	i := 0
	lat, err := createSequential(ctx, t, ns, objs[i:i+cfg.latencyN])
	if err != nil {
		return nil, err
	}
	i += cfg.latencyN
	m[mCreateP50], m[mCreateP99] = percentile(lat, 50), percentile(lat, 99)
	wl, err := watchLatency(ctx, t, ns, objs[i:i+cfg.watchN])
	if err != nil {
		return nil, err
	}
	i += cfg.watchN
	m[mWatchP50], m[mWatchP99] = percentile(wl, 50), percentile(wl, 99)

	// `clients` clients: throughput and CPU per create, and the TCP connections opened once the
	// clients have connected.
	var opens0 int64
	var opensErr error
	cpu0, err := p.cpu(procs)
	if err != nil {
		return nil, err
	}
	wall, err := createParallel(ctx, t, ns, objs[i:i+cfg.throughputN], cfg.clients, func() { opens0, opensErr = tcpActiveOpens() })
	if err = cmp.Or(err, opensErr); err != nil {
		return nil, err
	}
	cpu1, err := p.cpu(procs)
	if err != nil {
		return nil, err
	}
	opens1, err := tcpActiveOpens()
	if err != nil {
		return nil, err
	}
	i += cfg.throughputN
	m[mThroughput] = float64(cfg.throughputN) / wall.Seconds()
	per1k := 1000 / float64(cfg.throughputN)
	m[mTCPOpens] = float64(opens1-opens0) * per1k
	for proc, id := range cpuMetrics {
		if _, ok := procs[proc]; ok {
			m[id] = (cpu1[proc] - cpu0[proc]) * per1k
			m[mCPUTotal] += m[id]
		}
	}

	// The rest up to listN (the same kind of load: with -pprof, CPU profiles of the API servers cover
	// most of it), then memory.
	if i < cfg.listN {
		var profiles sync.WaitGroup
		if d := time.Duration(0.8 * float64(cfg.listN-i) / m[mThroughput] * float64(time.Second)); cfg.pprof && d >= time.Second {
			for _, ep := range p.goServers() {
				path := filepath.Join(cfg.out, "pprof", fmt.Sprintf("r%d-%s-%s.cpu.pb.gz", round+1, t.id, ep.name))
				profiles.Go(func() {
					if err := cpuProfile(ctx, ep, d, path); err != nil {
						logln(log, "    pprof:", err)
					}
				})
			}
			// The profiles start with the creates.
			time.Sleep(50 * time.Millisecond)
		}
		_, err := createParallel(ctx, t, ns, objs[i:], cfg.clients, nil)
		profiles.Wait()
		if err != nil {
			return nil, err
		}
	}
	after, err := p.memory(ctx, procs)
	if err != nil {
		return nil, err
	}
	const mib = 1 << 20
	m[mRSSES] = float64(after.rss["easyservice-apiserver"]-before.rss["easyservice-apiserver"]) / mib
	m[mRSSKAS] = float64(after.rss["kube-apiserver"]-before.rss["kube-apiserver"]) / mib
	m[mHeapES] = float64(after.heap["easyservice-apiserver"]-before.heap["easyservice-apiserver"]) / mib
	m[mHeapKAS] = float64(after.heap["kube-apiserver"]-before.heap["kube-apiserver"]) / mib
	if p.sample != nil {
		m[mRSSSample] = float64(after.rss["sample-apiserver"]-before.rss["sample-apiserver"]) / mib
		m[mHeapSample] = float64(after.heap["sample-apiserver"]-before.heap["sample-apiserver"]) / mib
	}
	if cfg.pprof {
		for _, ep := range p.goServers() {
			path := filepath.Join(cfg.out, "pprof", fmt.Sprintf("r%d-%s-%s.heap.pb.gz", round+1, t.id, ep.name))
			if err := heapProfile(ctx, ep, path); err != nil {
				logln(log, "    pprof:", err)
			}
		}
	}

	gets, err := getLatency(ctx, t, ns, objs, cfg.getN)
	if err != nil {
		return nil, err
	}
	m[mGetP50], m[mGetP99] = percentile(gets, 50), percentile(gets, 99)

	// LISTs: one connection, warmed up; the median of listReps.
	c := t.ep.client(5 * time.Minute)
	defer c.CloseIdleConnections()
	if _, err := list(ctx, c, t, ns, 1, acceptJSON); err != nil {
		return nil, err
	}
	var full, paged, proto []float64
	for range cfg.listReps {
		r, err := list(ctx, c, t, ns, 0, acceptJSON)
		if err != nil {
			return nil, err
		}
		if r.items != cfg.listN+existing {
			return nil, fmt.Errorf("LIST returned %d objects, not %d", r.items, cfg.listN+existing)
		}
		full = append(full, r.d.Seconds()*1000)
		m[mListMiB] = float64(r.bytes) / mib
		if r, err = list(ctx, c, t, ns, cfg.pageSize, acceptJSON); err != nil {
			return nil, err
		}
		if r.items != cfg.listN+existing {
			return nil, fmt.Errorf("paginated LIST returned %d objects, not %d", r.items, cfg.listN+existing)
		}
		paged = append(paged, r.d.Seconds()*1000)
		if t.jsonOnly {
			continue
		}
		if r, err = list(ctx, c, t, ns, 0, acceptProtobuf); err != nil {
			return nil, err
		}
		if r.items != cfg.listN+existing {
			return nil, fmt.Errorf("LIST accepting protobuf returned %d objects (%s), not %d", r.items, r.contentType, cfg.listN+existing)
		}
		proto = append(proto, r.d.Seconds()*1000)
		if r.contentType != acceptJSON { // protobuf: list decodes nothing else
			m[mProtobufServed] = 1
		}
	}
	m[mList], m[mListPaged] = median(full), median(paged)
	if len(proto) > 0 {
		m[mListProto] = median(proto)
	}

	if err := deleteAll(ctx, t, ns, objs, cfg.clients); err != nil {
		return nil, err
	}
	return m, deleteNamespace(ctx, p, ns)
}

// runEtcdFloor measures etcd puts of the object's size into EasyService's etcd.
func runEtcdFloor(ctx context.Context, p *plane, cfg config, size, round int) (map[string]float64, error) {
	procs, err := p.processes()
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("/easyservice-bench/r%d-%s/", round+1, uniqueName("floor"))
	cpu0, err := p.cpu(procs)
	if err != nil {
		return nil, err
	}
	lat, wall, err := etcdFloor(ctx, p.esEtcd, prefix, size, cfg.latencyN, cfg.throughputN, cfg.clients)
	if err != nil {
		return nil, err
	}
	cpu1, err := p.cpu(procs)
	if err != nil {
		return nil, err
	}
	return map[string]float64{
		mCreateP50:  percentile(lat, 50),
		mCreateP99:  percentile(lat, 99),
		mThroughput: float64(cfg.throughputN) / wall.Seconds(),
		// Over the whole floor run (latency and throughput puts).
		mCPUEtcdES: (cpu1["easyservice-etcd"] - cpu0["easyservice-etcd"]) * 1000 / float64(cfg.latencyN+cfg.throughputN),
	}, nil
}

// runControllerRounds measures the controller once per round, each in a namespace of its own.
func runControllerRounds(ctx context.Context, p *plane, agg *target, cfg config, res *results, log io.Writer) error {
	logln(log, "==> controller: releasing its Lease")
	if err := resumeController(ctx, p); err != nil {
		return err
	}
	n := cfg.controllerN
	capacity, why, err := controllerCapacity(ctx, p)
	if err != nil {
		return err
	}
	if n > capacity {
		res.note("Controller figures for %d EasyServices instead of %d: %s.", capacity, n, why)
		n = capacity
	}
	if n < 1 {
		res.note("No controller figures: %s.", why)
		return nil
	}
	res.ControllerN = n
	for round := range cfg.rounds {
		ns := uniqueName(fmt.Sprintf("bench-controller-r%d", round+1))
		logf(log, "==> round %d/%d: controller, %d EasyServices\n", round+1, cfg.rounds, n)
		if err := createNamespace(ctx, p, ns); err != nil {
			return err
		}
		m := map[string]float64{}
		if cfg.idleN > 0 {
			idleNS := uniqueName(fmt.Sprintf("bench-idle-r%d", round+1))
			if err := createNamespace(ctx, p, idleNS); err != nil {
				return err
			}
			ready, err := idleReady(ctx, agg, idleNS, cfg.idleN)
			if err != nil {
				return fmt.Errorf("controller round %d, idle plane: %w", round+1, err)
			}
			m[mCtlIdleReadyP50], m[mCtlIdleReadyP99] = percentile(ready, 50)/1000, percentile(ready, 99)/1000
			if err := deleteNamespace(ctx, p, idleNS); err != nil {
				return err
			}
		}
		r, err := runController(ctx, p, agg, ns, n, cfg.clients)
		if err != nil {
			return fmt.Errorf("controller round %d: %w", round+1, err)
		}
		maps.Copy(m, map[string]float64{
			mCtlCreated:        r.createdS,
			mCtlChildren:       r.childrenS,
			mCtlReady:          r.readyS,
			mCtlChildrenRate:   float64(n) / r.childrenS,
			mCtlWritesPerObj:   (r.applies + r.statusWrites) / float64(n),
			mCtlAppliesPerObj:  r.applies / float64(n),
			mCtlStatusPerObj:   r.statusWrites / float64(n),
			mCtlRequestsPerObj: r.requests / float64(n),
			mCtlRateLimitWait:  r.rateLimitWait * 1000,
		})
		res.add(targetController, m)
		logf(log, "    %s\n", res.summary(m))
		// Deleting the namespace deletes the EasyServices, and the garbage collector their children.
		if err := deleteNamespace(ctx, p, ns); err != nil {
			return err
		}
	}
	return nil
}

// uniqueName is prefix-<4 random letters>, so that a rerun never meets a namespace still terminating.
func uniqueName(prefix string) string {
	const letters = "bcdfghjklmnpqrstvwxz"
	b := make([]byte, 4)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return prefix + "-" + string(b)
}

func createNamespace(ctx context.Context, p *plane, name string) error {
	_, err := p.kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: benchLabels},
	}, metav1.CreateOptions{})
	return err
}

// deleteNamespace deletes a namespace and waits until it is gone, so that its deletion does not
// load the next measurement.
func deleteNamespace(ctx context.Context, p *plane, name string) error {
	err := p.kc.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return poll(ctx, 5*time.Minute, "namespace "+name+" to be deleted", func() (bool, error) {
		_, err := p.kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// cpuMetrics are the processes whose CPU time per create is reported, and their metric ids.
var cpuMetrics = map[string]string{
	"easyservice-apiserver": mCPUES,
	"kube-apiserver":        mCPUKAS,
	"sample-apiserver":      mCPUSample,
	"etcd":                  mCPUEtcdKube,
	"easyservice-etcd":      mCPUEtcdES,
	"sample-etcd":           mCPUEtcdSample,
}

// processes are the pids of the components whose CPU and memory are read: the plane's, and the
// peer's when it runs.
func (p *plane) processes() (map[string]int, error) {
	out := map[string]int{}
	for _, c := range []string{"easyservice-apiserver", "kube-apiserver", "etcd", "easyservice-etcd"} {
		pid, err := p.pid(c)
		if err != nil {
			return nil, err
		}
		out[c] = pid
	}
	if p.sample != nil {
		maps.Copy(out, p.sample.pids())
	}
	return out, nil
}

func (p *plane) cpu(procs map[string]int) (map[string]float64, error) {
	out := map[string]float64{}
	for c, pid := range procs {
		s, err := cpuSeconds(pid)
		if err != nil {
			return nil, err
		}
		out[c] = s
	}
	return out, nil
}

// goServers are the API servers whose memory and CPU profiles the benchmark reads: ours,
// kube-apiserver and, when it runs, the peer sample-apiserver.
func (p *plane) goServers() map[string]*endpoint {
	out := map[string]*endpoint{"easyservice-apiserver": p.es, "kube-apiserver": p.kube}
	if p.sample != nil {
		out["sample-apiserver"] = p.sample.ep
	}
	return out
}

type memory struct {
	rss, heap map[string]int64
}

// memory forces a GC in the API servers (goServers), then reads their live heap and VmRSS.
func (p *plane) memory(ctx context.Context, procs map[string]int) (memory, error) {
	m := memory{rss: map[string]int64{}, heap: map[string]int64{}}
	for c, ep := range p.goServers() {
		h, err := gcHeap(ctx, ep)
		if err != nil {
			return m, err
		}
		m.heap[c] = h
		if m.rss[c], err = rssBytes(procs[c]); err != nil {
			return m, err
		}
	}
	return m, nil
}

// describeMachine is the machine's description for the report.
func describeMachine() machine {
	m := machine{CPUs: nproc(), GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuinfoField(string(data), "model name")
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryGiB = meminfoGiB(string(data), "MemTotal")
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAtStart = string(data[:min(len(data), 14)])
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = string(trimNL(data))
	}
	return m
}

// logf and logln write a progress line to log (the terminal, or a test's log). A failed write is
// dropped: the log is the only place it could be reported, and the results are in files anyway.
func logf(log io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(log, format, args...)
}

func logln(log io.Writer, args ...any) {
	_, _ = fmt.Fprintln(log, args...)
}
