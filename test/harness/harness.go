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

// Package harness is the fault harness of the end-to-end and cluster tests: writers, a reader and a
// watcher drive EasyServices through kube-apiserver while a test injects a fault, and the history
// of every request and event is judged afterwards (linearizability with porcupine, resourceVersions,
// the watch, the final state).
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"k8s.io/client-go/rest"
)

// Harness drives EasyServices of one namespace through kube-apiserver while a fault is
// injected: writers create, update (with a resourceVersion precondition) and delete, a reader gets
// the keys the writers work on, and a watcher watches the namespace, resuming from its last
// resourceVersion (or relisting on 410). Requests go over plain net/http with the credentials of
// the harness's rest.Config and are never retried, so each answer is exactly one request's. Every
// request that fails (an error, or an answer that is neither a success nor the 404/409/410 the
// history expects) is kept, for tests that allow none.
type Harness struct {
	t       *testing.T
	ns      string
	base    string // .../namespaces/<ns>/easyservices
	client  *http.Client
	watchHC *http.Client
	start   time.Time
	values  atomic.Int64

	mu      sync.Mutex
	ops     []op
	events  []watchEvent
	relists []relist
	resumes int
	// watchEnds counts the watches the server ended cleanly (the response body ended): a server
	// that shuts down gracefully ends its watches so that clients resume elsewhere.
	watchEnds int
	// failed lists the list and watch requests that failed (the writers' and the reader's are in
	// ops, as unknown outcomes).
	failed []failure
	lastRV uint64
	active map[int]string // writer → key it works on, for the reader

	cancel context.CancelFunc
	wg     sync.WaitGroup
	wwg    sync.WaitGroup // the watcher
	wstop  context.CancelFunc
}

const (
	harnessWriters = 3
	// finalReader is the client of StopAndCheck's reads back and sentinel writes.
	finalReader = harnessWriters + 1
	valueKey    = "faults.test.easyservice.io/value"
)

// New returns a harness of the EasyServices of the namespace ns (which the caller made, and which
// holds no EasyService), talking to kube-apiserver with config. It starts nothing: Run does.
func New(t *testing.T, config *rest.Config, ns string) *Harness {
	t.Helper()
	cfg := rest.CopyConfig(config)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := *hc
	client.Timeout = 15 * time.Second
	watchHC, err := rest.HTTPClientFor(rest.CopyConfig(config))
	if err != nil {
		t.Fatal(err)
	}
	h := &Harness{
		t: t, ns: ns, client: &client, watchHC: watchHC, start: time.Now(), active: map[int]string{},
		base: strings.TrimSuffix(cfg.Host, "/") + "/apis/app.easyservice.io/v1/namespaces/" + ns + "/easyservices",
	}
	h.values.Store(100)
	// A test that fails half way still stops the goroutines before it ends.
	t.Cleanup(func() {
		if h.cancel != nil {
			h.cancel()
			h.wstop()
			h.wg.Wait()
			h.wwg.Wait()
		}
	})
	return h
}

// Now is the time of the harness's history: since New.
func (h *Harness) Now() time.Duration { return time.Since(h.start) }

// Namespace is the namespace of the harness's EasyServices.
func (h *Harness) Namespace() string { return h.ns }

type esObject struct {
	Metadata struct {
		Name            string            `json:"name"`
		ResourceVersion string            `json:"resourceVersion"`
		Annotations     map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Image string `json:"image"`
		Env   []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"env"`
	} `json:"spec"`
}

// value is the value an object carries, checked to be the same in the annotation and the spec.
func (o *esObject) value() (int64, error) {
	a := o.Metadata.Annotations[valueKey]
	var e string
	for _, env := range o.Spec.Env {
		if env.Name == "VALUE" {
			e = env.Value
		}
	}
	if a == "" || a != e || o.Spec.Image != "nginx:1.27" {
		return 0, fmt.Errorf("object %s: annotation %q, env VALUE %q, image %q: not what was written", o.Metadata.Name, a, e, o.Spec.Image)
	}
	return strconv.ParseInt(a, 10, 64)
}

func manifest(key string, value int64, rv string) []byte {
	rvField := ""
	if rv != "" {
		rvField = fmt.Sprintf(`,"resourceVersion":%q`, rv)
	}
	return fmt.Appendf(nil, `{"apiVersion":"app.easyservice.io/v1","kind":"EasyService",`+
		`"metadata":{"name":%q%s,"annotations":{%q:"%d"}},`+
		`"spec":{"replicas":0,"image":"nginx:1.27","serviceType":"ClusterIP","ports":[{"port":80}],"env":[{"name":"VALUE","value":"%d"}]}}`,
		key, rvField, valueKey, value, value)
}

// do sends one request and classifies its answer.
func (h *Harness) do(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// reason of a Status body, e.g. AlreadyExists or Conflict.
func reason(body []byte) string {
	var s struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(body, &s)
	return s.Reason
}

// request runs one operation and appends it to the history. It returns the object of an ok answer.
func (h *Harness) request(ctx context.Context, client int, kind opKind, key string, value, precond int64, rv string) (op, *esObject) {
	o := op{client: client, key: key, kind: kind, value: value, precond: precond, call: h.Now()}
	var code int
	var body []byte
	var err error
	switch kind {
	case opCreate:
		code, body, err = h.do(ctx, http.MethodPost, h.base, manifest(key, value, ""))
	case opUpdate:
		code, body, err = h.do(ctx, http.MethodPut, h.base+"/"+key, manifest(key, value, rv))
	case opDelete:
		code, body, err = h.do(ctx, http.MethodDelete, h.base+"/"+key, []byte(`{"propagationPolicy":"Background"}`))
	case opGet:
		code, body, err = h.do(ctx, http.MethodGet, h.base+"/"+key, nil)
	}
	o.ret = h.Now()
	o.end = o.ret
	var obj *esObject
	switch {
	case err != nil:
		o.out, o.detail, o.aborted = outUnknown, err.Error(), ctx.Err() != nil
	case code == http.StatusOK || code == http.StatusCreated:
		obj = &esObject{}
		if jerr := json.Unmarshal(body, obj); jerr != nil {
			o.out, o.detail = outUnknown, fmt.Sprintf("%d with a body that does not decode: %v", code, jerr)
			obj = nil
			break
		}
		o.out, o.detail = outOK, strconv.Itoa(code)
		if kind != opDelete {
			o.rv, _ = strconv.ParseUint(obj.Metadata.ResourceVersion, 10, 64)
			v, verr := obj.value()
			if verr != nil {
				h.t.Errorf("%s %s: %v", kind, key, verr)
			}
			if kind == opGet {
				o.value = v
			} else if v != value {
				h.t.Errorf("%s %s wrote %d but the answer has %d", kind, key, value, v)
			}
		}
	case code == http.StatusNotFound && kind != opCreate:
		o.out, o.detail = outNotFound, "404"
	case code == http.StatusConflict && kind == opCreate && reason(body) == "AlreadyExists":
		o.out, o.detail = outExists, "409 AlreadyExists"
	case code == http.StatusConflict && kind == opUpdate && reason(body) == "Conflict":
		o.out, o.detail = outConflict, "409 Conflict"
	default:
		o.out, o.detail = outUnknown, fmt.Sprintf("%d %s", code, firstLine(string(body)))
	}
	if o.out == outUnknown && kind != opGet {
		o.ret = math.MaxInt64
	}
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
	return o, obj
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// Run starts the writers, the reader and the watcher.
func (h *Harness) Run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	wctx, wstop := context.WithCancel(context.Background())
	h.wstop = wstop
	// The watch starts from a list made before the first write.
	WaitFor(h.t, RecoverTimeout, "a first list", func(ctx context.Context) (bool, string) {
		rv, err := h.list(ctx)
		if err != nil {
			h.fail("first list: %v", err)
		}
		h.lastRV = rv
		return err == nil, fmt.Sprintf("%v", err)
	})
	h.wwg.Add(1)
	go func() {
		defer h.wwg.Done()
		h.watch(wctx)
	}()
	for i := range harnessWriters {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.write(ctx, i)
		}()
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.read(ctx)
	}()
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// write is one writer: key after key, a create, up to four updates, and (for two keys in three)
// a delete. After an answer that proves nothing it gets the key until it knows where it stands,
// and gives up the key after three such answers (so that few operations stay open for ever).
func (h *Harness) write(ctx context.Context, w int) {
	for n := 0; ctx.Err() == nil; n++ {
		key := fmt.Sprintf("w%d-%d", w, n)
		h.mu.Lock()
		h.active[w] = key
		h.mu.Unlock()
		unknowns := 0
		// sync gets the key until a definite answer: its value and resourceVersion, or absence.
		resync := func() (bool, int64, string) {
			for ctx.Err() == nil {
				o, obj := h.request(ctx, w, opGet, key, 0, 0, "")
				switch o.out {
				case outOK:
					return true, o.value, obj.Metadata.ResourceVersion
				case outNotFound:
					return false, 0, ""
				}
				pause(ctx, 300*time.Millisecond)
			}
			return false, 0, ""
		}
		exists, value, rv := false, int64(0), ""
		for !exists && unknowns < 3 && ctx.Err() == nil {
			v := h.values.Add(1)
			o, obj := h.request(ctx, w, opCreate, key, v, 0, "")
			switch o.out {
			case outOK:
				exists, value, rv = true, v, obj.Metadata.ResourceVersion
			case outExists:
				exists, value, rv = resync()
			default:
				unknowns++
				pause(ctx, 300*time.Millisecond)
				exists, value, rv = resync()
			}
		}
		for updates := 0; exists && updates < 4 && unknowns < 3 && ctx.Err() == nil; {
			pause(ctx, 20*time.Millisecond)
			v := h.values.Add(1)
			o, obj := h.request(ctx, w, opUpdate, key, v, value, rv)
			switch o.out {
			case outOK:
				value, rv = v, obj.Metadata.ResourceVersion
				updates++
			case outConflict:
				exists, value, rv = resync()
			case outNotFound:
				exists = false
			default:
				unknowns++
				pause(ctx, 300*time.Millisecond)
				exists, value, rv = resync()
			}
		}
		if n%3 == 2 || unknowns >= 3 || !exists {
			continue // kept: read back at the end
		}
		for done := false; !done && unknowns < 3 && ctx.Err() == nil; {
			o, _ := h.request(ctx, w, opDelete, key, 0, 0, "")
			switch o.out {
			case outOK, outNotFound:
				done = true
			default:
				unknowns++
				pause(ctx, 300*time.Millisecond)
				exists, _, _ = resync()
				done = !exists
			}
		}
	}
}

// read gets the keys the writers work on, concurrently with their writes.
func (h *Harness) read(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		h.mu.Lock()
		key := h.active[i%harnessWriters]
		h.mu.Unlock()
		if key != "" {
			if o, _ := h.request(ctx, harnessWriters, opGet, key, 0, 0, ""); o.out == outUnknown {
				pause(ctx, 300*time.Millisecond)
			}
		}
		pause(ctx, 30*time.Millisecond)
	}
}

// watch watches the namespace from a first list, resuming from the last resourceVersion it saw,
// and relisting when told 410 Gone.
func (h *Harness) watch(ctx context.Context) {
	needList := false
	for ctx.Err() == nil {
		if needList {
			rv, err := h.list(ctx)
			if err != nil {
				if ctx.Err() == nil {
					h.fail("relist: %v", err)
				}
				pause(ctx, 500*time.Millisecond)
				continue
			}
			h.mu.Lock()
			h.relists = append(h.relists, relist{at: h.Now(), lastRV: h.lastRV, listRV: rv})
			h.lastRV = rv
			h.mu.Unlock()
			needList = false
		}
		h.mu.Lock()
		from := h.lastRV
		h.mu.Unlock()
		gone, err := h.watchFrom(ctx, from)
		if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		h.resumes++
		if !gone && err == nil {
			h.watchEnds++
		}
		h.mu.Unlock()
		if gone {
			needList = true
		} else if err != nil {
			h.fail("watch from resourceVersion %d: %v", from, err)
			pause(ctx, 300*time.Millisecond)
		}
	}
}

func (h *Harness) list(ctx context.Context) (uint64, error) {
	code, body, err := h.do(ctx, http.MethodGet, h.base, nil)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("list: %d", code)
	}
	var l struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return 0, err
	}
	return strconv.ParseUint(l.Metadata.ResourceVersion, 10, 64)
}

// failure is a list or watch request that failed, and when the failure was seen.
type failure struct {
	at   time.Duration
	what string
}

func (f failure) String() string { return fmt.Sprintf("[%v] %s", f.at.Round(time.Millisecond), f.what) }

// fail records a list or watch request that failed.
func (h *Harness) fail(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed = append(h.failed, failure{at: h.Now(), what: fmt.Sprintf(format, args...)})
}

// Failures returns every request that failed: the writers' and the reader's unknown outcomes, and
// the failed list and watch requests.
func (h *Harness) Failures() []string {
	_, failed := h.Answered(0, math.MaxInt64, false)
	return failed
}

// Answered sorts the requests answered between from and to (the answer, or the error, came then;
// with sentInside, only those also sent then) into the number of definite answers and the
// failures, the failed list and watch requests of that time included. Requests the harness gave
// up on while stopping count as neither.
func (h *Harness) Answered(from, to time.Duration, sentInside bool) (definite int, failed []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.ops {
		if o.end < from || o.end > to || (sentInside && o.call < from) || o.aborted {
			continue
		}
		if o.out == outUnknown {
			failed = append(failed, o.String())
		} else {
			definite++
		}
	}
	for _, f := range h.failed {
		if f.at >= from && f.at <= to {
			failed = append(failed, f.String())
		}
	}
	return definite, failed
}

// Since is the time of the harness's history at t.
func (h *Harness) Since(t time.Time) time.Duration { return t.Sub(h.start) }

// Sent counts the writers' and the reader's requests sent between from and to.
func (h *Harness) Sent(from, to time.Duration) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, o := range h.ops {
		if o.call >= from && o.call <= to {
			n++
		}
	}
	return n
}

// WatchEnds counts the watches the server ended cleanly so far.
func (h *Harness) WatchEnds() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.watchEnds
}

// watchFrom runs one watch request; gone reports a 410. It returns no error when the server ends
// the watch cleanly (the response body ends), and an error when the request fails or the stream
// breaks.
func (h *Harness) watchFrom(ctx context.Context, rv uint64) (gone bool, err error) {
	url := fmt.Sprintf("%s?watch=1&allowWatchBookmarks=true&resourceVersion=%d", h.base, rv)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.watchHC.Do(req)
	if err != nil {
		return false, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusGone {
		return true, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("watch: %d", resp.StatusCode)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
		if ev.Type == "ERROR" {
			var status struct {
				Code int `json:"code"`
			}
			_ = json.Unmarshal(ev.Object, &status)
			if status.Code == http.StatusGone {
				return true, nil
			}
			return false, fmt.Errorf("watch error: %s", ev.Object)
		}
		var obj esObject
		if err := json.Unmarshal(ev.Object, &obj); err != nil {
			return false, err
		}
		erv, err := strconv.ParseUint(obj.Metadata.ResourceVersion, 10, 64)
		if err != nil {
			return false, err
		}
		h.mu.Lock()
		if ev.Type != "BOOKMARK" {
			v, verr := obj.value()
			if verr != nil {
				h.t.Errorf("watch event %s: %v", ev.Type, verr)
			}
			h.events = append(h.events, watchEvent{typ: ev.Type, key: obj.Metadata.Name, value: v, rv: erv, at: h.Now()})
		}
		h.lastRV = max(h.lastRV, erv)
		h.mu.Unlock()
	}
}

// acked counts the acknowledged writes so far.
func (h *Harness) acked() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, o := range h.ops {
		if o.out == outOK && o.kind != opGet {
			n++
		}
	}
	return n
}

// WaitProgress waits until n more writes are acknowledged.
func (h *Harness) WaitProgress(n int, timeout time.Duration) {
	h.t.Helper()
	start := h.acked()
	WaitFor(h.t, timeout, fmt.Sprintf("%d more acknowledged writes", n), func(context.Context) (bool, string) {
		got := h.acked() - start
		return got >= n, fmt.Sprintf("%d", got)
	})
}

// StopAndCheck stops the writers, reads every key back, lets the watcher catch up with a last
// write, and checks the history.
func (h *Harness) StopAndCheck() {
	t := h.t
	t.Helper()
	h.cancel()
	h.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	h.mu.Lock()
	keys := map[string]bool{}
	for _, o := range h.ops {
		keys[o.key] = true
	}
	h.mu.Unlock()
	// Every key, read back until a definite answer: part of the history, so an acknowledged
	// create or update that is lost makes it non-linearizable.
	for key := range keys {
		for attempt := 0; ; attempt++ {
			o, _ := h.request(ctx, finalReader, opGet, key, 0, 0, "")
			if o.out != outUnknown {
				break
			}
			if attempt > 60 {
				t.Fatalf("reading %s back: %s", key, o.detail)
			}
			pause(ctx, time.Second)
		}
	}
	// A sentinel write: its resourceVersion is above every earlier write's.
	var sentinel op
	for attempt := 0; sentinel.out != outOK; attempt++ {
		if attempt > 60 {
			t.Fatalf("sentinel create: %s", sentinel.detail)
		}
		if attempt > 0 {
			pause(ctx, time.Second)
		}
		sentinel, _ = h.request(ctx, finalReader, opCreate, fmt.Sprintf("sentinel-%d", attempt), h.values.Add(1), 0, "")
	}
	WaitFor(t, 2*time.Minute, "the watcher to reach the last write", func(context.Context) (bool, string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.lastRV >= sentinel.rv, fmt.Sprintf("watcher at rv %d, last write at %d", h.lastRV, sentinel.rv)
	})
	h.wstop()
	h.wwg.Wait()

	h.mu.Lock()
	ops, events, relists, resumes, watchEnds := h.ops, h.events, h.relists, h.resumes, h.watchEnds
	h.mu.Unlock()
	stats := map[string]int{}
	for _, o := range ops {
		key := string(o.kind) + "/" + string(o.out)
		if o.aborted {
			key += "(aborted)"
		}
		stats[key]++
	}
	t.Logf("history: %d operations %v; watch: %d events, %d resumes (%d clean ends), %d relists; %d failed requests",
		len(ops), stats, len(events), resumes, watchEnds, len(relists), len(h.Failures()))

	for _, p := range checkFinal(ops, events, finalReader) {
		t.Errorf("final state: %s", p)
	}
	for _, p := range checkResourceVersions(ops) {
		t.Errorf("resourceVersion: %s", p)
	}
	for _, p := range checkWatch(ops, events, relists) {
		t.Errorf("watch: %s", p)
	}
	const linearizabilityTimeout = time.Minute
	result, why := checkLinearizable(ops, linearizabilityTimeout)
	switch result {
	case porcupine.Ok:
		t.Logf("linearizable: %d operations on %d keys", len(ops), len(keys))
	case porcupine.Unknown:
		// Not judged is not passed.
		t.Errorf("the linearizability check of %d operations on %d keys did not finish within %v", len(ops), len(keys), linearizabilityTimeout)
	default:
		t.Errorf("the history is not linearizable:\n%s", why)
	}
}
