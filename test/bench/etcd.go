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
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdFloor measures the floor under every write: etcd puts of valueSize bytes into EasyService's
// etcd, with one client (latency) and with `clients` clients (throughput), under a prefix of its
// own that is deleted afterwards. Each client has a connection of its own, like the API servers'
// clients of the other targets.
func etcdFloor(ctx context.Context, endpoint, prefix string, valueSize, latencyN, throughputN, clients int) (lat []time.Duration, wall time.Duration, err error) {
	newClient := func() (*clientv3.Client, error) {
		return clientv3.New(clientv3.Config{
			Endpoints:   []string{endpoint},
			DialTimeout: 10 * time.Second,
			Logger:      zap.NewNop(),
		})
	}
	c, err := newClient()
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = c.Close() }()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, derr := c.Delete(dctx, prefix, clientv3.WithPrefix()); derr != nil && err == nil {
			err = fmt.Errorf("deleting %s: %w", prefix, derr)
		}
	}()
	value := strings.Repeat("x", valueSize)
	put := func(c *clientv3.Client, i int) error {
		pctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		_, err := c.Put(pctx, fmt.Sprintf("%s%06d", prefix, i), value)
		return err
	}
	// Warm up.
	if err := put(c, 999999); err != nil {
		return nil, 0, fmt.Errorf("etcd put: %w", err)
	}
	for i := range latencyN {
		start := time.Now()
		if err := put(c, i); err != nil {
			return nil, 0, fmt.Errorf("etcd put: %w", err)
		}
		lat = append(lat, time.Since(start))
	}
	cs := make([]*clientv3.Client, clients)
	defer func() {
		for _, c := range cs {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	for i := range cs {
		if cs[i], err = newClient(); err != nil {
			return nil, 0, err
		}
		if err := put(cs[i], 999999); err != nil {
			return nil, 0, fmt.Errorf("etcd put: %w", err)
		}
	}
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range cs {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= throughputN || firstErr.Load() != nil {
					return
				}
				if err := put(c, latencyN+i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	wall = time.Since(start)
	if e := firstErr.Load(); e != nil {
		return nil, 0, fmt.Errorf("etcd put: %w", *e)
	}
	return lat, wall, nil
}
