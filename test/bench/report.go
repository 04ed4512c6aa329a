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
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Metric ids (keys of results.json).
const (
	mCreateP50      = "create_p50_ms"
	mCreateP99      = "create_p99_ms"
	mThroughput     = "create_throughput_per_s"
	mGetP50         = "get_p50_ms"
	mGetP99         = "get_p99_ms"
	mList           = "list_ms"
	mListPaged      = "list_paginated_ms"
	mListProto      = "list_accept_protobuf_ms"
	mListMiB        = "list_response_mib"
	mProtobufServed = "protobuf_served"
	mWatchP50       = "watch_p50_ms"
	mWatchP99       = "watch_p99_ms"
	mRSSES          = "rss_growth_easyservice_apiserver_mib"
	mRSSKAS         = "rss_growth_kube_apiserver_mib"
	mHeapES         = "heap_growth_easyservice_apiserver_mib"
	mHeapKAS        = "heap_growth_kube_apiserver_mib"
	mRSSSample      = "rss_growth_sample_apiserver_mib"
	mHeapSample     = "heap_growth_sample_apiserver_mib"
	mCPUES          = "cpu_s_per_1000_creates_easyservice_apiserver"
	mCPUKAS         = "cpu_s_per_1000_creates_kube_apiserver"
	mCPUSample      = "cpu_s_per_1000_creates_sample_apiserver"
	mCPUEtcdKube    = "cpu_s_per_1000_creates_etcd_kube"
	mCPUEtcdES      = "cpu_s_per_1000_creates_etcd_easyservice"
	mCPUEtcdSample  = "cpu_s_per_1000_creates_etcd_sample"
	mTCPOpens       = "tcp_connections_opened_per_1000_creates"
	mCPUTotal       = "cpu_s_per_1000_creates_total"

	targetController   = "controller"
	mCtlCreated        = "created_s"
	mCtlChildren       = "children_s"
	mCtlReady          = "ready_s"
	mCtlChildrenRate   = "children_per_s"
	mCtlWritesPerObj   = "writes_per_object"
	mCtlAppliesPerObj  = "applies_per_object"
	mCtlStatusPerObj   = "status_writes_per_object"
	mCtlRequestsPerObj = "requests_per_object"
	mCtlRateLimitWait  = "client_rate_limiter_wait_ms"
	mCtlIdleReadyP50   = "idle_ready_p50_s"
	mCtlIdleReadyP99   = "idle_ready_p99_s"
)

type metricDef struct {
	id, label, unit string
}

func (r *results) apiMetrics() []metricDef {
	c := r.Config
	return []metricDef{
		{mCreateP50, "create p50, 1 client", "ms"},
		{mCreateP99, "create p99, 1 client", "ms"},
		{mThroughput, fmt.Sprintf("create throughput, %d clients, %d objects", c.Clients, c.ThroughputN), "objects/s"},
		{mGetP50, "GET p50, 1 client", "ms"},
		{mGetP99, "GET p99, 1 client", "ms"},
		{mList, fmt.Sprintf("LIST %d objects, no limit, JSON", c.ListN), "ms"},
		{mListPaged, fmt.Sprintf("LIST %d objects, limit=%d pages, JSON", c.ListN, c.PageSize), "ms"},
		{mListProto, fmt.Sprintf("LIST %d objects, no limit, Accept protobuf first", c.ListN), "ms"},
		{mListMiB, "LIST response size (JSON)", "MiB"},
		{mWatchP50, "watch event latency p50 (write → event)", "ms"},
		{mWatchP99, "watch event latency p99", "ms"},
		{mRSSES, fmt.Sprintf("RSS growth of easyservice-apiserver, %d objects", c.ListN), "MiB"},
		{mRSSKAS, fmt.Sprintf("RSS growth of kube-apiserver, %d objects", c.ListN), "MiB"},
		{mHeapES, "live heap growth (after GC), easyservice-apiserver", "MiB"},
		{mHeapKAS, "live heap growth (after GC), kube-apiserver", "MiB"},
		{mRSSSample, fmt.Sprintf("RSS growth of sample-apiserver, %d objects", c.ListN), "MiB"},
		{mHeapSample, "live heap growth (after GC), sample-apiserver", "MiB"},
		{mCPUES, "CPU per 1000 creates, easyservice-apiserver", "s"},
		{mCPUKAS, "CPU per 1000 creates, kube-apiserver", "s"},
		{mCPUSample, "CPU per 1000 creates, sample-apiserver", "s"},
		{mCPUEtcdKube, "CPU per 1000 creates, kube-apiserver's etcd", "s"},
		{mCPUEtcdES, "CPU per 1000 creates, easyservice-apiserver's etcd", "s"},
		{mCPUEtcdSample, "CPU per 1000 creates, sample-apiserver's etcd", "s"},
		{mCPUTotal, "CPU per 1000 creates, total of these processes", "s"},
		{mTCPOpens, "TCP connections opened on the machine per 1000 creates (via aggregation: at most kube-apiserver's to the aggregated server)", "connections"},
	}
}

func (r *results) controllerMetrics() []metricDef {
	return []metricDef{
		{mCtlCreated, fmt.Sprintf("all %d created (%d clients, via aggregation)", r.ControllerN, r.Config.Clients), "s"},
		{mCtlChildren, "all Deployments and Services exist", "s"},
		{mCtlChildrenRate, "EasyServices to children", "objects/s"},
		{mCtlReady, "all readyReplicas == replicas", "s"},
		{mCtlWritesPerObj, "controller writes per object (applies + status writes)", "requests"},
		{mCtlAppliesPerObj, "applies of Deployments and Services per object", "requests"},
		{mCtlStatusPerObj, "EasyService status writes per object", "requests"},
		{mCtlRequestsPerObj, "all requests of easyservice-apiserver's clients per object (incl. Lease renewals, Events, delegated auth)", "requests"},
		{mCtlRateLimitWait, "mean wait of its requests to kube-apiserver in the client-side rate limiter", "ms"},
		{mCtlIdleReadyP50, fmt.Sprintf("idle plane, one at a time: create → Ready, p50 of %d", r.Config.IdleN), "s"},
		{mCtlIdleReadyP99, fmt.Sprintf("idle plane, one at a time: create → Ready, p99 of %d", r.Config.IdleN), "s"},
	}
}

type machine struct {
	CPUs        int     `json:"cpus"`
	CPUModel    string  `json:"cpuModel"`
	MemoryGiB   float64 `json:"memoryGiB"`
	Kernel      string  `json:"kernel"`
	LoadAtStart string  `json:"loadAtStart"`
	GoVersion   string  `json:"goVersion"`
}

type runConfig struct {
	Mode        string `json:"mode"`
	Rounds      int    `json:"rounds"`
	Clients     int    `json:"clients"`
	LatencyN    int    `json:"latencyN"`
	WatchN      int    `json:"watchN"`
	ThroughputN int    `json:"throughputN"`
	ListN       int    `json:"listN"`
	PageSize    int    `json:"pageSize"`
	ListReps    int    `json:"listReps"`
	GetN        int    `json:"getN"`
	ControllerN int    `json:"controllerN"`
	IdleN       int    `json:"idleN"`
	Command     string `json:"command"`
}

// ratio is a figure computed per round from two targets of that round, then summarized.
type ratio struct {
	Name   string  `json:"name"`
	Goal   string  `json:"goal,omitempty"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// Samples is the number of values (one per round, or round 1 alone) of Median, Min and Max.
	Samples int `json:"samples"`
	// Met is "yes", "no" or "" (no goal).
	Met string `json:"met,omitempty"`
}

// results of a run: per target, per metric, one value per round (in round order).
type results struct {
	Time        string                          `json:"time"`
	Duration    string                          `json:"duration"`
	Machine     machine                         `json:"machine"`
	Config      runConfig                       `json:"config"`
	ObjectBytes int                             `json:"objectBytes"`
	Targets     []string                        `json:"targets"`
	Titles      map[string]string               `json:"titles"`
	Samples     map[string]map[string][]float64 `json:"samples"`
	ControllerN int                             `json:"controllerN,omitempty"`
	Ratios      []ratio                         `json:"ratios"`
	Retries     int64                           `json:"retries"`
	Notes       []string                        `json:"notes,omitempty"`
}

func newResults(cfg config) *results {
	return &results{
		Time: time.Now().UTC().Format(time.RFC3339),
		Config: runConfig{
			Mode: cfg.mode, Rounds: cfg.rounds, Clients: cfg.clients, LatencyN: cfg.latencyN, WatchN: cfg.watchN,
			ThroughputN: cfg.throughputN, ListN: cfg.listN, PageSize: cfg.pageSize, ListReps: cfg.listReps, GetN: cfg.getN,
			ControllerN: cfg.controllerN, IdleN: cfg.idleN, Command: command(),
		},
		Targets: []string{targetAgg, targetDirect, targetCRD, targetCM, targetEtcd, targetSampleAgg, targetSampleDirect},
		Titles: map[string]string{
			targetAgg: "EasyService via aggregation", targetDirect: "EasyService direct", targetCRD: "CRD (same schema)",
			targetCM: "ConfigMap (same size)", targetEtcd: "etcd put (floor)", targetController: "controller",
			targetSampleAgg: "sample-apiserver via aggregation (Flunder, same size)", targetSampleDirect: "sample-apiserver direct",
		},
		Samples: map[string]map[string][]float64{},
	}
}

// command is how this run was started, for the report.
func command() string {
	if len(os.Args) > 0 && strings.HasSuffix(os.Args[0], ".test") {
		return "go test ./test/bench -run TestBenchSmoke"
	}
	return strings.TrimSpace("cd test/bench && go run . " + strings.Join(os.Args[1:], " "))
}

func (r *results) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *results) add(target string, m map[string]float64) {
	if r.Samples[target] == nil {
		r.Samples[target] = map[string][]float64{}
	}
	for k, v := range m {
		r.Samples[target][k] = append(r.Samples[target][k], v)
	}
}

// isMemory tells the memory figures, judged on round 1 only.
func isMemory(metric string) bool { return strings.Contains(metric, "growth") }

// first is the round-1 value of a target's metric.
func (r *results) first(target, metric string) (v, lo, hi float64, ok bool) {
	s := r.Samples[target][metric]
	if len(s) == 0 {
		return 0, 0, 0, false
	}
	return s[0], s[0], s[0], true
}

// stat is the median, min and max of a target's metric; ok is false without samples.
func (r *results) stat(target, metric string) (med, lo, hi float64, ok bool) {
	s := r.Samples[target][metric]
	if len(s) == 0 {
		return 0, 0, 0, false
	}
	return median(s), slices.Min(s), slices.Max(s), true
}

// summary is a one-line progress report of one measurement.
func (r *results) summary(m map[string]float64) string {
	keys := []string{mCreateP50, mThroughput, mGetP99, mList, mWatchP50, mRSSES, mRSSKAS, mCPUTotal,
		mCtlChildren, mCtlReady, mCtlWritesPerObj}
	var parts []string
	for _, k := range keys {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%s", k, num(v)))
		}
	}
	return strings.Join(parts, " ")
}

// num formats a figure with 3 significant digits or so.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 99.5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 9.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.01:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

func cell(med, lo, hi float64, ok bool) string {
	if !ok {
		return "–"
	}
	if len(num(lo)) > 0 && num(lo) == num(hi) {
		return num(med)
	}
	return fmt.Sprintf("%s (%s–%s)", num(med), num(lo), num(hi))
}

// perRound applies f to the samples of each round of two targets' metrics.
func (r *results) perRound(ta, ma, tb, mb string, f func(a, b float64) float64) []float64 {
	a, b := r.Samples[ta][ma], r.Samples[tb][mb]
	var out []float64
	for i := range min(len(a), len(b)) {
		if v := f(a[i], b[i]); !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// div is a/b; a ratio of memory growths is meaningless when the denominator did not grow.
func div(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}
func sub(a, b float64) float64 { return a - b }

func (r *results) addRatio(name, goal string, vs []float64, met func(float64) bool) {
	if len(vs) == 0 {
		return
	}
	x := ratio{Name: name, Goal: goal, Median: median(vs), Min: slices.Min(vs), Max: slices.Max(vs), Samples: len(vs)}
	if met != nil {
		x.Met = "no"
		if met(x.Median) {
			x.Met = "yes"
		}
	}
	r.Ratios = append(r.Ratios, x)
}

// computeRatios computes the goals (paired per round, then median and min–max).
func (r *results) computeRatios() {
	r.Ratios = nil
	le := func(limit float64) func(float64) bool { return func(v float64) bool { return v <= limit } }
	ge := func(limit float64) func(float64) bool { return func(v float64) bool { return v >= limit } }
	r.addRatio("create p50, 1 client: aggregation / ConfigMap", "≤ 1.35", r.perRound(targetAgg, mCreateP50, targetCM, mCreateP50, div), le(1.35))
	r.addRatio("create p50 hop: aggregation − direct (ms)", "report", r.perRound(targetAgg, mCreateP50, targetDirect, mCreateP50, sub), nil)
	r.addRatio("create p50, 1 client: direct / ConfigMap", "", r.perRound(targetDirect, mCreateP50, targetCM, mCreateP50, div), nil)
	r.addRatio("create p50, 1 client: aggregation / sample-apiserver via aggregation", "", r.perRound(targetAgg, mCreateP50, targetSampleAgg, mCreateP50, div), nil)
	r.addRatio("create throughput: aggregation / ConfigMap", "≥ 0.75", r.perRound(targetAgg, mThroughput, targetCM, mThroughput, div), ge(0.75))
	r.addRatio("create throughput: direct / ConfigMap", "", r.perRound(targetDirect, mThroughput, targetCM, mThroughput, div), nil)
	r.addRatio(fmt.Sprintf("create throughput, %d clients: aggregation / sample-apiserver via aggregation", r.Config.Clients), "≥ 1.30",
		r.perRound(targetAgg, mThroughput, targetSampleAgg, mThroughput, div), ge(1.30))
	r.addRatio("create throughput: direct / sample-apiserver direct", "", r.perRound(targetDirect, mThroughput, targetSampleDirect, mThroughput, div), nil)
	r.addRatio("CPU per 1000 creates: easyservice-apiserver (direct) / kube-apiserver (ConfigMaps)", "≤ 0.80",
		r.perRound(targetDirect, mCPUES, targetCM, mCPUKAS, div), le(0.80))
	r.addRatio("CPU per 1000 creates: easyservice-apiserver (direct) / sample-apiserver (direct)", "", r.perRound(targetDirect, mCPUES, targetSampleDirect, mCPUSample, div), nil)
	r.addRatio("CPU per 1000 creates, all processes: aggregation / sample-apiserver via aggregation", "", r.perRound(targetAgg, mCPUTotal, targetSampleAgg, mCPUTotal, div), nil)
	r.addRatio("LIST no limit: aggregation / ConfigMap, both JSON", "≤ 1.35", r.perRound(targetAgg, mList, targetCM, mList, div), le(1.35))
	// "≤ 0.8× with protobuf if served" is judged like for like, against ConfigMaps in protobuf too;
	// against the JSON baseline it is only context.
	r.addRatio("LIST no limit: aggregation / ConfigMap, both protobuf", "≤ 0.8", r.perRound(targetAgg, mListProto, targetCM, mListProto, div), le(0.8))
	r.addRatio("LIST no limit: aggregation (protobuf) / ConfigMap (JSON)", "", r.perRound(targetAgg, mListProto, targetCM, mList, div), nil)
	r.addRatio("LIST limit pages: aggregation / ConfigMap, JSON", "", r.perRound(targetAgg, mListPaged, targetCM, mListPaged, div), nil)
	r.addRatio("LIST no limit: direct / ConfigMap, both JSON", "≤ 1.00", r.perRound(targetDirect, mList, targetCM, mList, div), le(1.0))
	r.addRatio("LIST no limit: aggregation / sample-apiserver via aggregation, both JSON", "", r.perRound(targetAgg, mList, targetSampleAgg, mList, div), nil)
	// Memory: round 1 is the only one whose watch caches start empty (a deleted object stays in its
	// cache's event history until newer events push it out), so the goal is judged on it.
	first := func(vs []float64) []float64 { return vs[:min(len(vs), 1)] }
	r.addRatio(fmt.Sprintf("RSS growth for %d, round 1: easyservice-apiserver (EasyServices via aggregation) / kube-apiserver (CRs)", r.Config.ListN), "≤ 0.45",
		first(r.perRound(targetAgg, mRSSES, targetCRD, mRSSKAS, div)), le(0.45))
	r.addRatio("RSS growth, all rounds: easyservice-apiserver (EasyServices) / kube-apiserver (CRs)", "", r.perRound(targetAgg, mRSSES, targetCRD, mRSSKAS, div), nil)
	r.addRatio("live heap growth, round 1: easyservice-apiserver (EasyServices) / kube-apiserver (CRs)", "", first(r.perRound(targetAgg, mHeapES, targetCRD, mHeapKAS, div)), nil)
	r.addRatio("live heap growth, round 1: easyservice-apiserver (EasyServices) / kube-apiserver (ConfigMaps)", "", first(r.perRound(targetAgg, mHeapES, targetCM, mHeapKAS, div)), nil)
	r.addRatio("live heap growth, round 1: easyservice-apiserver (EasyServices) / sample-apiserver (Flunders), both via aggregation", "", first(r.perRound(targetAgg, mHeapES, targetSampleAgg, mHeapSample, div)), nil)
	r.addRatio("context: CRD / ConfigMap create throughput", "reference 0.5", r.perRound(targetCRD, mThroughput, targetCM, mThroughput, div), nil)
	r.addRatio("context: CRD / ConfigMap LIST, JSON", "reference 2–4", r.perRound(targetCRD, mList, targetCM, mList, div), nil)
	r.addRatio("context: aggregation / etcd put throughput", "", r.perRound(targetAgg, mThroughput, targetEtcd, mThroughput, div), nil)
	if s := r.Samples[targetController]; len(s) > 0 {
		r.addRatio("controller: EasyServices to children (objects/s)", "≥ 46", s[mCtlChildrenRate], ge(46))
		r.addRatio("controller: writes per object", "about 3", s[mCtlWritesPerObj], func(v float64) bool { return v <= 3.5 })
		r.addRatio(fmt.Sprintf("controller: status writes per EasyService, %d created at once", r.ControllerN), "≤ 1.30", s[mCtlStatusPerObj], le(1.30))
		if len(s[mCtlIdleReadyP50]) > 0 {
			r.addRatio("controller: idle plane, create → Ready p50 (s)", "≤ 1", s[mCtlIdleReadyP50], le(1))
			r.addRatio("controller: idle plane, create → Ready p99 (s)", "≤ 2", s[mCtlIdleReadyP99], le(2))
		}
	}
}

// markdown is the report: the machine, the command, the tables and the ratios.
func (r *results) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Run %s, %s; machine: %d CPUs (%s), %.1f GiB memory, kernel %s, load average at start %s; %s.\n\n",
		r.Time, r.Duration, m.CPUs, m.CPUModel, m.MemoryGiB, m.Kernel, strings.TrimSpace(m.LoadAtStart), m.GoVersion)
	c := r.Config
	fmt.Fprintf(&b, "Command: `%s` (mode %s): %d rounds, targets interleaved (rotated each round, every second round reversed); per target and round %d creates by 1 client, "+
		"%d creates with a watch open, %d creates by %d clients, then up to %d objects for the LISTs (%d each) and the memory figures, %d GETs. "+
		"Object: %d bytes of JSON. Cells: median over the rounds (min–max).\n\n",
		c.Command, c.Mode, c.Rounds, c.LatencyN, c.WatchN, c.ThroughputN, c.Clients, c.ListN, c.ListReps, c.GetN, r.ObjectBytes)
	b.WriteString("| figure | unit |")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, " %s |", r.Titles[t])
	}
	b.WriteString("\n|---|---|")
	for range r.Targets {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, md := range r.apiMetrics() {
		if isMemory(md.id) {
			// Apart, below: only round 1 counts.
			continue
		}
		fmt.Fprintf(&b, "| %s | %s |", md.label, md.unit)
		for _, t := range r.Targets {
			fmt.Fprintf(&b, " %s |", cell(r.stat(t, md.id)))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nMemory in round 1, the only round whose watch caches start empty (a deleted object stays in its watch cache's "+
		"event history until newer events push it out, so later rounds mostly reuse memory; every round is in results.json):\n\n| figure | unit |")
	for _, t := range r.Targets[:4] {
		fmt.Fprintf(&b, " %s |", r.Titles[t])
	}
	b.WriteString("\n|---|---|---:|---:|---:|---:|\n")
	for _, md := range r.apiMetrics() {
		if !isMemory(md.id) {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s |", md.label, md.unit)
		for _, t := range r.Targets[:4] {
			if s := r.Samples[t][md.id]; len(s) > 0 {
				fmt.Fprintf(&b, " %s |", num(s[0]))
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	if _, _, _, ok := r.stat(targetController, mCtlChildren); ok {
		fmt.Fprintf(&b, "\nController, %d EasyServices (replicas 1) per round, created through the aggregation layer:\n\n| figure | unit | value |\n|---|---|---:|\n", r.ControllerN)
		for _, md := range r.controllerMetrics() {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", md.label, md.unit, cell(r.stat(targetController, md.id)))
		}
	}
	b.WriteString("\nRatios (per round, then median and min–max over the samples):\n\n| ratio | goal | value | samples | met |\n|---|---|---:|---:|---|\n")
	for _, x := range r.Ratios {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s |\n", x.Name, x.Goal, cell(x.Median, x.Min, x.Max, true), x.Samples, x.Met)
	}
	if r.Retries > 0 {
		fmt.Fprintf(&b, "\n%d requests were retried after a 429 or 5xx.\n", r.Retries)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// write writes results.md, results.json and results.png into dir.
func (r *results) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	md := "# EasyService benchmark results\n\n" + r.markdown() + "\n![chart](results.png)\n"
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	png, err := r.chart()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.png"), png, 0o644)
}

func nproc() int { return runtime.NumCPU() }

func cpuinfoField(cpuinfo, field string) string {
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == field {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func meminfoGiB(meminfo, field string) float64 {
	for line := range strings.SplitSeq(meminfo, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / (1 << 20)
			}
		}
	}
	return 0
}

func trimNL(b []byte) []byte { return []byte(strings.TrimSpace(string(b))) }

// The markers of the results section of a docs file.
const (
	resultsBegin = "<!-- bench results: begin (written by go run ./test/bench -docs) -->"
	resultsEnd   = "<!-- bench results: end -->"
)

// writeDocs replaces the results section of a markdown file with the results, and writes the
// chart beside it (benchmarks.md → benchmarks.png).
func (r *results) writeDocs(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(data)
	i, j := strings.Index(doc, resultsBegin), strings.Index(doc, resultsEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no section between %q and %q", path, resultsBegin, resultsEnd)
	}
	pngPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".png"
	section := resultsBegin + "\n" + r.markdown() + "\n![The figures as bar charts](" + filepath.Base(pngPath) + ")\n" + resultsEnd
	doc = doc[:i] + section + doc[j+len(resultsEnd):]
	png, err := r.chart()
	if err != nil {
		return err
	}
	if err := os.WriteFile(pngPath, png, 0o644); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
