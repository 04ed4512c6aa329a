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
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	esv1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

const requestTimeout = 60 * time.Second

// retries counts the requests retried after a 429 or 5xx; reported, and expected to be 0.
var retries atomic.Int64

// retryable: kube-apiserver's priority and fairness or a busy server may answer 429 or 5xx.
func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusInternalServerError ||
		code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// create POSTs one object and returns the latency of the successful attempt.
func create(ctx context.Context, c *http.Client, t *target, ns, name string) (time.Duration, error) {
	body := t.body(name)
	for attempt := 0; ; attempt++ {
		start := time.Now()
		code, data, err := do(ctx, c, http.MethodPost, t.collection(ns), body, "")
		d := time.Since(start)
		switch {
		case err == nil && code == http.StatusCreated:
			return d, nil
		case err == nil && code == http.StatusConflict && attempt > 0:
			// An earlier attempt did create it.
			return d, nil
		case attempt < 5 && ctx.Err() == nil && (err != nil || retryable(code)):
			retries.Add(1)
			time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
		case err != nil:
			return 0, fmt.Errorf("creating %s/%s: %w", ns, name, err)
		default:
			return 0, fmt.Errorf("creating %s/%s: %d %s", ns, name, code, truncate(data, 300))
		}
	}
}

// names are o-<from> .. o-<to-1>.
func names(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("o-%05d", i))
	}
	return out
}

// createSequential creates the objects one after the other with one client.
func createSequential(ctx context.Context, t *target, ns string, objs []string) ([]time.Duration, error) {
	c := t.ep.client(requestTimeout)
	defer c.CloseIdleConnections()
	// Warm the connection up, so the first sample has no TLS handshake.
	if _, _, err := do(ctx, c, http.MethodGet, t.collection(ns)+"?limit=1", nil, ""); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, len(objs))
	for _, name := range objs {
		d, err := create(ctx, c, t, ns, name)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// parallel runs fn for every item with `clients` workers, each with a client (connection) of its
// own, and returns the wall time from the first request to the last answer. onStart, if not nil,
// runs when every client has connected, right before the first request.
func parallel(ctx context.Context, ep *endpoint, clients int, items []string, onStart func(), fn func(*http.Client, string) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs := make([]*http.Client, clients)
	for i := range cs {
		cs[i] = ep.client(requestTimeout)
	}
	defer func() {
		for _, c := range cs {
			c.CloseIdleConnections()
		}
	}()
	// Connect every client first: the timed part is requests only.
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { _, _, _ = do(ctx, c, http.MethodGet, ep.host+"/version", nil, "") })
	}
	wg.Wait()
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	if onStart != nil {
		onStart()
	}
	start := time.Now()
	for _, c := range cs {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) || ctx.Err() != nil {
					return
				}
				if err := fn(c, items[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// createParallel creates the objects with `clients` clients (onStart: see parallel).
func createParallel(ctx context.Context, t *target, ns string, objs []string, clients int, onStart func()) (time.Duration, error) {
	return parallel(ctx, t.ep, clients, objs, onStart, func(c *http.Client, name string) error {
		_, err := create(ctx, c, t, ns, name)
		return err
	})
}

// watchEvent is the part of a watch event the benchmark reads.
type watchEvent struct {
	Type   string `json:"type"`
	Object struct {
		Metadata struct {
			Name            string `json:"name"`
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Spec struct {
			Replicas *int32 `json:"replicas"`
		} `json:"spec"`
		Status struct {
			ReadyReplicas int32 `json:"readyReplicas"`
			Conditions    []struct {
				Type   string `json:"type"`
				Status string `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	} `json:"object"`
}

// timedEvent is an event and when the client had decoded it.
type timedEvent struct {
	watchEvent
	at time.Time
}

// listRV is the resourceVersion of the collection now (a LIST with limit=1).
func listRV(ctx context.Context, c *http.Client, collection string) (string, error) {
	data, err := expect(ctx, c, http.MethodGet, collection+"?limit=1", nil, http.StatusOK)
	if err != nil {
		return "", err
	}
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return "", err
	}
	return list.Metadata.ResourceVersion, nil
}

// watch opens a watch of collection (with extra query parameters, from the collection's current
// resourceVersion) and sends every event to the returned channel until ctx is done.
func watch(ctx context.Context, ep *endpoint, collection string, query url.Values) (<-chan timedEvent, error) {
	c := ep.client(0)
	rv, err := listRV(ctx, c, collection)
	if err != nil {
		return nil, err
	}
	q := url.Values{"watch": {"true"}, "resourceVersion": {rv}, "timeoutSeconds": {"1800"}}
	for k, v := range query {
		q[k] = v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, collection+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "easyservice-bench")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return nil, fmt.Errorf("watch %s: %d %s", collection, resp.StatusCode, truncate(data, 300))
	}
	events := make(chan timedEvent, 1024)
	go func() {
		defer close(events)
		defer c.CloseIdleConnections()
		defer func() { _ = resp.Body.Close() }()
		dec := json.NewDecoder(resp.Body)
		for {
			var e watchEvent
			if err := dec.Decode(&e); err != nil {
				return
			}
			select {
			case events <- timedEvent{e, time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return events, nil
}

// watchLatency opens a watch of the namespace, then creates the objects one after the other with
// one client, each time waiting for its ADDED event: the latency is from the start of the create
// request to the client's receipt of the event.
func watchLatency(ctx context.Context, t *target, ns string, objs []string) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := watch(ctx, t.ep, t.collection(ns), nil)
	if err != nil {
		return nil, err
	}
	c := t.ep.client(requestTimeout)
	defer c.CloseIdleConnections()
	if _, _, err := do(ctx, c, http.MethodGet, t.collection(ns)+"?limit=1", nil, ""); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, len(objs))
	for _, name := range objs {
		start := time.Now()
		errc := make(chan error, 1)
		go func() {
			_, err := create(ctx, c, t, ns, name)
			errc <- err
		}()
		timeout := time.After(30 * time.Second)
	wait:
		for {
			select {
			case e, ok := <-events:
				if !ok {
					return nil, fmt.Errorf("the watch of %s ended", t.collection(ns))
				}
				if e.Type == "ADDED" && e.Object.Metadata.Name == name {
					out = append(out, e.at.Sub(start))
					break wait
				}
				if e.Type == "ERROR" {
					return nil, fmt.Errorf("watch of %s: an ERROR event", t.collection(ns))
				}
			case <-timeout:
				return nil, fmt.Errorf("no ADDED event for %s/%s within 30s", ns, name)
			}
		}
		if err := <-errc; err != nil {
			return nil, err
		}
	}
	return out, nil
}

// getLatency GETs n random objects of objs, one after the other, with one client.
func getLatency(ctx context.Context, t *target, ns string, objs []string, n int) ([]time.Duration, error) {
	c := t.ep.client(requestTimeout)
	defer c.CloseIdleConnections()
	if _, _, err := do(ctx, c, http.MethodGet, t.collection(ns)+"?limit=1", nil, ""); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(objs))))
	out := make([]time.Duration, 0, n)
	for range n {
		name := objs[rng.IntN(len(objs))]
		start := time.Now()
		code, data, err := do(ctx, c, http.MethodGet, t.object(ns, name), nil, "")
		d := time.Since(start)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET %s/%s: %d %s", ns, name, code, truncate(data, 300))
		}
		out = append(out, d)
	}
	return out, nil
}

const (
	acceptJSON     = runtime.ContentTypeJSON
	acceptProtobuf = runtime.ContentTypeProtobuf + ", " + runtime.ContentTypeJSON
)

// listResult is one LIST: its time (requests only, the client's decoding of the bodies excluded),
// the number of items it decoded and the content type served.
type listResult struct {
	d           time.Duration
	items       int
	bytes       int
	contentType string
}

// list LISTs the namespace: in one request (limit 0) or in pages of limit. It decodes every body,
// JSON or protobuf, and counts its items.
func list(ctx context.Context, c *http.Client, t *target, ns string, limit int, accept string) (listResult, error) {
	var r listResult
	cont := ""
	for {
		u := t.collection(ns)
		q := url.Values{}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		if cont != "" {
			q.Set("continue", cont)
		}
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return r, err
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("User-Agent", "easyservice-bench")
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return r, err
		}
		data, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		r.d += time.Since(start)
		if err != nil {
			return r, err
		}
		if resp.StatusCode != http.StatusOK {
			return r, fmt.Errorf("LIST %s: %d %s", u, resp.StatusCode, truncate(data, 300))
		}
		r.bytes += len(data)
		r.contentType = resp.Header.Get("Content-Type")
		items, next, err := decodeList(r.contentType, data)
		if err != nil {
			return r, fmt.Errorf("LIST %s: %w", u, err)
		}
		r.items += items
		if cont = next; cont == "" || limit == 0 {
			return r, nil
		}
	}
}

// listCodecs decodes the lists the benchmark gets in protobuf: ConfigMaps and EasyServices (the
// CRD is served in JSON only).
var listCodecs = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(esv1.AddToScheme(scheme))
	return protobuf.NewSerializer(scheme, scheme)
}()

// decodeList decodes a LIST response body of contentType and returns its number of items and its
// continue token.
func decodeList(contentType string, data []byte) (items int, cont string, err error) {
	switch contentType {
	case runtime.ContentTypeJSON:
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return 0, "", err
		}
		return len(page.Items), page.Metadata.Continue, nil
	case runtime.ContentTypeProtobuf:
		obj, _, err := listCodecs.Decode(data, nil, nil)
		if err != nil {
			return 0, "", err
		}
		if !meta.IsListType(obj) {
			return 0, "", fmt.Errorf("a %T in protobuf, not a list", obj)
		}
		l, err := meta.ListAccessor(obj)
		if err != nil {
			return 0, "", err
		}
		return meta.LenList(obj), l.GetContinue(), nil
	default:
		return 0, "", fmt.Errorf("unexpected Content-Type %q", contentType)
	}
}

// deleteAll deletes the objects with `clients` clients, then the rest of the collection, and waits
// until the namespace holds none.
func deleteAll(ctx context.Context, t *target, ns string, objs []string, clients int) error {
	_, err := parallel(ctx, t.ep, clients, objs, nil, func(c *http.Client, name string) error {
		for attempt := 0; ; attempt++ {
			code, data, err := do(ctx, c, http.MethodDelete, t.object(ns, name), nil, "")
			switch {
			case err == nil && (code == http.StatusOK || code == http.StatusAccepted || code == http.StatusNotFound):
				return nil
			case attempt < 5 && ctx.Err() == nil && (err != nil || retryable(code)):
				time.Sleep(time.Duration(100*(attempt+1)) * time.Millisecond)
			case err != nil:
				return err
			default:
				return fmt.Errorf("deleting %s/%s: %d %s", ns, name, code, truncate(data, 300))
			}
		}
	})
	if err != nil {
		return err
	}
	c := t.ep.client(requestTimeout)
	defer c.CloseIdleConnections()
	// Only the benchmark's objects (not the namespace's kube-root-ca.crt ConfigMap).
	selector := "?labelSelector=" + url.QueryEscape("app.kubernetes.io/name="+benchLabels["app.kubernetes.io/name"])
	if _, err := expect(ctx, c, http.MethodDelete, t.collection(ns)+selector, nil, http.StatusOK); err != nil {
		return err
	}
	return poll(ctx, 3*time.Minute, "no objects left in "+t.collection(ns), func() (bool, error) {
		data, err := expect(ctx, c, http.MethodGet, t.collection(ns)+selector+"&limit=1", nil, http.StatusOK)
		if err != nil {
			return false, nil
		}
		var l struct {
			Items []json.RawMessage `json:"items"`
		}
		return json.Unmarshal(data, &l) == nil && len(l.Items) == 0, nil
	})
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

// percentile is the nearest-rank percentile of ds in milliseconds.
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// median of fs (the mean of the middle two for an even count).
func median(fs []float64) float64 {
	if len(fs) == 0 {
		return 0
	}
	s := slices.Clone(fs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// tcpActiveOpens is the number of TCP connections this machine's processes have opened (ActiveOpens
// of /proc/net/snmp, the connect()s that reached SYN-SENT) since boot. Reading it costs nothing
// worth measuring, unlike sampling /proc/net/tcp, whose every read walks the socket tables.
func tcpActiveOpens() (int64, error) {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	return snmpField(string(data), "Tcp", "ActiveOpens")
}

// snmpField reads a counter of /proc/net/snmp: each protocol has a line of field names, then a line
// of values, both starting with "<proto>:".
func snmpField(snmp, proto, field string) (int64, error) {
	var names []string
	for line := range strings.Lines(snmp) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto+":" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		if i := slices.Index(names, field); i > 0 && i < len(f) {
			return strconv.ParseInt(f[i], 10, 64)
		}
		break
	}
	return 0, fmt.Errorf("/proc/net/snmp: no %s %s", proto, field)
}
