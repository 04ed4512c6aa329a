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
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/klog/v2"
)

// DefaultEtcdStartupTimeout is how long the server waits at start for its etcd to answer. With the
// 20 s k8s.io/apiserver waits for a connection after it, it stays inside the 120 s the Deployment's
// startupProbe allows.
const DefaultEtcdStartupTimeout = 60 * time.Second

// etcdWaitInterval is the pause between two tries.
const etcdWaitInterval = 2 * time.Second

// waitForEtcd returns once one of the etcd servers of tc answers a request, or an error once
// timeout has passed (0: it does not wait). k8s.io/apiserver gives up on its etcd 20 s after it
// first dials it, and the process exits: an install whose etcd is still forming (the members of a
// new StatefulSet finding each other, the Service without a ready endpoint until they have a
// quorum) would restart the server for it. Waiting here first, with a line in the log for every
// failed try, the server starts once etcd serves.
//
// A serializable read of one key is the request: any member that has joined the cluster answers
// it without a quorum round, and a refusal by etcd's own authorization is an answer too.
func waitForEtcd(ctx context.Context, tc storagebackend.TransportConfig, timeout time.Duration) error {
	if timeout <= 0 {
		return nil
	}
	var tlsConfig *tls.Config
	if tc.CertFile != "" || tc.KeyFile != "" || tc.TrustedCAFile != "" {
		var err error
		tlsInfo := transport.TLSInfo{CertFile: tc.CertFile, KeyFile: tc.KeyFile, TrustedCAFile: tc.TrustedCAFile}
		if tlsConfig, err = tlsInfo.ClientConfig(); err != nil {
			return fmt.Errorf("the etcd client's TLS configuration: %w", err)
		}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints: tc.ServerList,
		TLS:       tlsConfig,
		Logger:    zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("an etcd client for %v: %w", tc.ServerList, err)
	}
	defer func() { _ = client.Close() }()

	logger := klog.FromContext(ctx)
	start := time.Now()
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, etcdWaitInterval, timeout, true, func(ctx context.Context) (bool, error) {
		tryCtx, cancel := context.WithTimeout(ctx, etcdWaitInterval)
		defer cancel()
		_, lastErr = client.Get(tryCtx, "health", clientv3.WithSerializable())
		if lastErr == nil || errors.Is(lastErr, rpctypes.ErrPermissionDenied) {
			return true, nil
		}
		logger.Info("Waiting for etcd", "servers", tc.ServerList, "waited", time.Since(start).Round(time.Second), "err", lastErr)
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("etcd at %v did not answer within %s: %w", tc.ServerList, timeout, lastErr)
	}
	if waited := time.Since(start); waited >= etcdWaitInterval {
		logger.Info("etcd answers", "servers", tc.ServerList, "waited", waited.Round(time.Second))
	}
	return nil
}
