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
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchSmoke runs the whole benchmark with tiny counts (-mode smoke), so that the harness
// cannot rot: a fresh local control plane on free ports (hack/local-up.sh, like test/e2e), every
// target and figure (the peer sample-apiserver's too), the controller's, and the report. BENCH_LOCAL_UP_DIR=<dir> uses a running
// plane instead. The figures themselves are not checked, only that each was measured.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cfg := defaultConfig("smoke")
	cfg.out = t.TempDir()
	cfg.localUpDir = os.Getenv("BENCH_LOCAL_UP_DIR")
	ctx := t.Context()
	if d, ok := t.Deadline(); ok {
		cfg.timeout = time.Until(d) - 30*time.Second
	}
	var log bytes.Buffer
	res, err := run(ctx, cfg, &log)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{targetAgg, targetDirect, targetCRD, targetCM, targetSampleAgg, targetSampleDirect} {
		for _, m := range res.apiMetrics() {
			if m.id == mListProto && strings.HasPrefix(target, "sample-") {
				continue // sample-apiserver answers 406 to protobuf
			}
			s := res.Samples[target][m.id]
			if len(s) != cfg.rounds {
				t.Errorf("%s %s: %d samples, want %d", target, m.id, len(s), cfg.rounds)
			}
			// Memory may shrink between two reads, a few creates may take less than a CPU tick
			// (10 ms), and the creates may open no TCP connection (clients and servers pool
			// them); every other figure is positive.
			if !strings.Contains(m.id, "growth") && !strings.HasPrefix(m.id, "cpu_") && m.id != mTCPOpens {
				for _, v := range s {
					if v <= 0 {
						t.Errorf("%s %s: %v", target, m.id, v)
					}
				}
			}
		}
	}
	for _, m := range []string{mCreateP50, mCreateP99, mThroughput} {
		if len(res.Samples[targetEtcd][m]) != cfg.rounds {
			t.Errorf("etcd floor %s: %v", m, res.Samples[targetEtcd][m])
		}
	}
	// The plane runs the controller and has room for the smoke run's EasyServices: the controller
	// phase must have run, in full, every round. Every one of its figures is positive (a time, a
	// rate, requests per object) but the rate limiter's mean wait, which is 0 when nothing waited.
	if res.ControllerN != cfg.controllerN {
		t.Errorf("controller figures for %d EasyServices, want %d; notes: %q", res.ControllerN, cfg.controllerN, res.Notes)
	}
	for _, m := range res.controllerMetrics() {
		s := res.Samples[targetController][m.id]
		if len(s) != cfg.rounds {
			t.Errorf("controller %s: %d samples, want %d", m.id, len(s), cfg.rounds)
		}
		for _, v := range s {
			if v < 0 || (v == 0 && m.id != mCtlRateLimitWait) {
				t.Errorf("controller %s: %v", m.id, s)
				break
			}
		}
	}
	for _, target := range []string{targetCM, targetAgg, targetDirect} {
		if res.Samples[target][mProtobufServed] == nil {
			t.Errorf("%s: not served as protobuf", target)
		}
	}
	if res.Samples[targetCRD][mProtobufServed] != nil {
		t.Error("the CRD served protobuf")
	}
	if len(res.Ratios) == 0 {
		t.Error("no ratios")
	}
	checkOutput(t, cfg.out)
	md, err := os.ReadFile(filepath.Join(cfg.out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Controller, %d EasyServices", cfg.controllerN); !bytes.Contains(md, []byte(want)) {
		t.Errorf("results.md has no %q", want)
	}
}

func checkOutput(t *testing.T, dir string) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| figure | unit |", "EasyService via aggregation", "ConfigMap (same size)", "Ratios"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("results.md has no %q", want)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back results
	if err := json.Unmarshal(data, &back); err != nil {
		t.Errorf("results.json: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, "results.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("results.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 300 {
		t.Errorf("results.png is %v", b)
	}
}
