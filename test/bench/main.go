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

// Command bench compares, on a real local control plane (hack/local-up.sh), the same object
// served four ways: EasyService through kube-apiserver's aggregation layer, EasyService directly on
// easyservice-apiserver, the same schema as a CustomResourceDefinition served by kube-apiserver,
// and ConfigMaps of the same serialized size; plus the floor, etcd puts of that size, and the peer:
// k8s.io/sample-apiserver's Flunders of that size, through the aggregation layer and directly. The
// targets are interleaved (A B C D E, then A E D C B, then C D E A B, ...) over several rounds, every figure
// is reported as the median over the rounds with its min–max, and the run ends with the embedded
// controller's figures when the controller runs. docs/benchmarks.md describes the method.
//
// It is a module of its own (test/bench/go.mod), run from its directory; paths are the repository
// root's:
//
//	go run .                          # full: the N (5,000 creates, 10,000 listed)
//	go run . -mode medium             # a fifth of that, for a loaded machine
//	go run . -mode smoke              # tiny counts (TestBenchSmoke)
//	go run . -local-up-dir DIR        # against a plane already up (make local-up)
//
// Results go to -out (default _output/bench): results.md, results.json and results.png.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/easyservice/easyservice/test/localplane"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	// test/bench is a module of its own, so it runs from its own directory; the paths it is
	// given (-out, -docs, -local-up-dir) are the repository root's, wherever it runs from.
	root, err := localplane.RepoRoot()
	if err == nil {
		err = os.Chdir(root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parseFlags starts from the preset of -mode and applies the other flags over it.
func parseFlags(args []string) (config, error) {
	mode := "full"
	for i, a := range args {
		a = strings.TrimPrefix(a, "-")
		switch {
		case a == "-mode" || a == "mode":
			if i+1 < len(args) {
				mode = args[i+1]
			}
		case strings.HasPrefix(a, "mode=") || strings.HasPrefix(a, "-mode="):
			mode = a[strings.Index(a, "=")+1:]
		}
	}
	cfg := defaultConfig(mode)
	if cfg.mode == "" {
		return config{}, fmt.Errorf("unknown -mode %q (full, medium or smoke)", mode)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.String("mode", mode, "preset of the sizes: full (the issue's figures), medium (a fifth) or smoke (tiny)")
	cfg.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return cfg, cfg.validate()
}

// config sizes a run. Every count is bounded, and so is the whole run (timeout).
type config struct {
	mode string
	// rounds of A B C D E (rotated each round, every second round reversed).
	rounds int
	// clients is the number of concurrent clients of the throughput phase.
	clients int
	// latencyN objects are created one after the other by one client (create p50/p99).
	latencyN int
	// watchN objects are created one after the other while a watch is open (write → event).
	watchN int
	// throughputN objects are created by `clients` clients (create throughput, CPU per create).
	throughputN int
	// listN objects exist in the namespace when it is listed and when the RSS is read; created by
	// `clients` clients after the phases above.
	listN int
	// pageSize is the limit of the paginated LIST.
	pageSize int
	// listReps LISTs of each kind per round; their median is the round's figure.
	listReps int
	// getN GETs of random existing objects by one client.
	getN int
	// controllerN EasyServices for the controller figures (0: none).
	controllerN int
	// idleN EasyServices created one at a time, each timed until it is Ready, per round of the
	// controller figures.
	idleN int
	// skipController skips the controller figures even when the controller runs.
	skipController bool

	// out is the directory of results.md, results.json, results.png (and pprof/ with -pprof).
	out string
	// localUpDir is a running plane to use; empty starts one on free ports and stops it at the end.
	localUpDir string
	// pprof records CPU and heap profiles of the API servers (easyservice-apiserver,
	// kube-apiserver, and sample-apiserver when it runs), into out/pprof.
	pprof bool
	// timeout bounds the whole run.
	timeout time.Duration
	// docs is a markdown file whose results section (between resultsBegin and resultsEnd) gets the
	// results, with the chart beside it as <name>.png; empty: none.
	docs string
	// targets limits the run to some targets (comma-separated ids; empty: all).
	targets string
}

func defaultConfig(mode string) config {
	c := config{mode: mode, rounds: 3, clients: 32, pageSize: 500, out: "_output/bench", timeout: 90 * time.Minute}
	switch mode {
	case "full":
		c.latencyN, c.watchN, c.throughputN, c.listN, c.listReps, c.getN, c.controllerN = 1000, 500, 5000, 10000, 3, 1000, 500
		c.idleN = 50
	case "medium":
		c.latencyN, c.watchN, c.throughputN, c.listN, c.listReps, c.getN, c.controllerN = 300, 200, 1000, 2000, 3, 300, 100
		c.idleN = 10
		c.timeout = 45 * time.Minute
	case "smoke":
		c.rounds, c.clients = 2, 4
		c.latencyN, c.watchN, c.throughputN, c.listN, c.listReps, c.getN, c.controllerN = 5, 5, 20, 40, 1, 5, 3
		c.idleN = 2
		c.pageSize = 15
		c.timeout = 10 * time.Minute
	default:
		return config{}
	}
	return c
}

func (c *config) addFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.rounds, "rounds", c.rounds, "rounds of the interleaved targets (at least 3 for published figures)")
	fs.IntVar(&c.clients, "clients", c.clients, "concurrent clients of the throughput phase")
	fs.IntVar(&c.latencyN, "latency-n", c.latencyN, "creates by one client, for create latency")
	fs.IntVar(&c.watchN, "watch-n", c.watchN, "creates by one client with a watch open, for watch event latency")
	fs.IntVar(&c.throughputN, "throughput-n", c.throughputN, "creates by -clients clients, for create throughput and CPU per create")
	fs.IntVar(&c.listN, "list-n", c.listN, "objects in the namespace when it is listed and the RSS is read")
	fs.IntVar(&c.pageSize, "page-size", c.pageSize, "limit of the paginated LIST")
	fs.IntVar(&c.listReps, "list-reps", c.listReps, "LISTs of each kind per round (their median counts)")
	fs.IntVar(&c.getN, "get-n", c.getN, "GETs by one client")
	fs.IntVar(&c.controllerN, "controller-n", c.controllerN, "EasyServices for the controller figures (0: skip)")
	fs.IntVar(&c.idleN, "idle-n", c.idleN, "EasyServices created one at a time on an idle plane, each timed until Ready, per round of the controller figures (0: skip)")
	fs.BoolVar(&c.skipController, "skip-controller", c.skipController, "skip the controller figures")
	fs.StringVar(&c.out, "out", c.out, "output directory")
	fs.StringVar(&c.localUpDir, "local-up-dir", c.localUpDir, "LOCAL_UP_DIR of a running plane (default: start one on free ports)")
	fs.BoolVar(&c.pprof, "pprof", c.pprof, "record CPU and heap profiles of the API servers (ours, kube-apiserver, sample-apiserver) during the creates (into OUT/pprof)")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "bound of the whole run")
	fs.StringVar(&c.docs, "docs", c.docs, "also copy the results into this markdown file's results section (e.g. docs/benchmarks.md), the chart beside it")
	fs.StringVar(&c.targets, "targets", c.targets, "only these targets, comma-separated, of "+strings.Join(allTargets, ",")+" (default all; for profiling)")
}

// allTargets are the target ids in the order of the first round.
var allTargets = []string{targetAgg, targetDirect, targetCRD, targetCM, targetEtcd, targetSampleAgg, targetSampleDirect}

func (c config) targetList() []string {
	if c.targets == "" {
		return allTargets
	}
	return strings.Split(c.targets, ",")
}

func (c config) validate() error {
	switch {
	case c.rounds < 1 || c.rounds > 20:
		return fmt.Errorf("-rounds %d: 1..20", c.rounds)
	case c.clients < 1 || c.clients > 256:
		return fmt.Errorf("-clients %d: 1..256", c.clients)
	case c.latencyN < 1 || c.watchN < 1 || c.throughputN < 1 || c.getN < 1 || c.listReps < 1 || c.pageSize < 1:
		return fmt.Errorf("every count must be at least 1")
	case c.latencyN+c.watchN+c.throughputN > c.listN:
		return fmt.Errorf("-list-n %d must be at least -latency-n + -watch-n + -throughput-n (%d)", c.listN, c.latencyN+c.watchN+c.throughputN)
	case c.listN > 50000 || c.controllerN > 5000 || c.idleN < 0 || c.idleN > 1000:
		return fmt.Errorf("-list-n at most 50000, -controller-n at most 5000, -idle-n 0..1000")
	}
	for _, t := range c.targetList() {
		if !slices.Contains(allTargets, t) {
			return fmt.Errorf("-targets: unknown target %q (%s)", t, strings.Join(allTargets, ","))
		}
	}
	return nil
}
