/*
Copyright 2026 The EasyService Authors.

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

package server

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/apiserver/pkg/storage/storagebackend"
)

// TestWaitForEtcdStartsLate: an etcd that starts after the server does is waited for, past the
// 20 s k8s.io/apiserver would give it on its own, and the wait ends once it answers.
func TestWaitForEtcdStartsLate(t *testing.T) {
	cfg := testserver.NewTestConfig(t)
	tc := storagebackend.TransportConfig{ServerList: []string{cfg.ListenClientUrls[0].String()}}

	done := make(chan error, 1)
	go func() { done <- waitForEtcd(t.Context(), tc, 5*time.Minute) }()

	// Several tries fail while nothing listens; the wait must go on, not give up.
	select {
	case err := <-done:
		t.Fatalf("waitForEtcd returned before etcd was started: %v", err)
	case <-time.After(3 * etcdWaitInterval):
	}
	testserver.RunEtcd(t, cfg)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waitForEtcd after etcd started: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("waitForEtcd did not return within 2m of etcd answering")
	}
}

// TestWaitForEtcdTimeout: no etcd answers, and the wait ends in an error naming the servers.
func TestWaitForEtcdTimeout(t *testing.T) {
	cfg := testserver.NewTestConfig(t) // free ports, nothing started on them
	server := cfg.ListenClientUrls[0].String()
	err := waitForEtcd(t.Context(), storagebackend.TransportConfig{ServerList: []string{server}}, 3*etcdWaitInterval)
	if err == nil || !strings.Contains(err.Error(), server) || !strings.Contains(err.Error(), "did not answer within") {
		t.Fatalf("waitForEtcd without etcd = %v, want an error naming %s", err, server)
	}
}

// TestWaitForEtcdDisabled: a timeout of 0 does not wait.
func TestWaitForEtcdDisabled(t *testing.T) {
	cfg := testserver.NewTestConfig(t)
	tc := storagebackend.TransportConfig{ServerList: []string{cfg.ListenClientUrls[0].String()}}
	if err := waitForEtcd(t.Context(), tc, 0); err != nil {
		t.Fatalf("waitForEtcd with timeout 0 = %v", err)
	}
}
