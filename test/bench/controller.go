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
	"math"
	"net/netip"
	"net/url"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	esv1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// The embedded controller's Lease (pkg/cmd/server: --leader-elect-resource-*), and the identity
// under which the benchmark holds it to keep the controller's workers idle during the API figures:
// its informers keep running (so the RSS figures include its caches), but no EasyService of the
// API phases gets a Deployment or a Service, which would load kube-apiserver.
const (
	controllerLeaseNamespace = "easyservice-system"
	controllerLeaseName      = "easyservice-controller"
	benchIdentity            = "easyservice-bench"
	leaderMetric             = "leader_election_master_status"
)

// controllerLeading reports whether the controller of easyservice-apiserver leads, from its
// leader_election_master_status gauge; known is false when the process has no such gauge.
func controllerLeading(ctx context.Context, p *plane) (leading, known bool, err error) {
	m, err := metrics(ctx, p.es, leaderMetric)
	if err != nil {
		return false, false, err
	}
	for k, v := range m {
		if labelValue(k, "name") == controllerLeaseName {
			return v == 1, true, nil
		}
	}
	return false, false, nil
}

// pauseController takes the controller's Lease for the benchmark and waits until the controller
// stopped leading (its renewal fails for its renew deadline, 10 s by default). present is false
// when the plane runs no controller (no Lease).
func pauseController(ctx context.Context, p *plane) (present bool, err error) {
	leases := p.kc.CoordinationV1().Leases(controllerLeaseNamespace)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(ctx, controllerLeaseName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NowMicro()
		if ptr.Deref(lease.Spec.HolderIdentity, "") != benchIdentity {
			lease.Spec.LeaseTransitions = ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1)
			lease.Spec.AcquireTime = &now
		}
		lease.Spec.HolderIdentity = ptr.To(benchIdentity)
		// Longer than any run: nobody renews it.
		lease.Spec.LeaseDurationSeconds = ptr.To[int32](3 * 3600)
		lease.Spec.RenewTime = &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("taking the controller's Lease: %w", err)
	}
	return true, poll(ctx, 60*time.Second, "the controller to stop leading", func() (bool, error) {
		leading, _, err := controllerLeading(ctx, p)
		return err == nil && !leading, nil
	})
}

// resumeController gives the Lease back and waits until the controller leads again.
func resumeController(ctx context.Context, p *plane) error {
	leases := p.kc.CoordinationV1().Leases(controllerLeaseNamespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(ctx, controllerLeaseName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ptr.Deref(lease.Spec.HolderIdentity, "") != benchIdentity {
			return nil
		}
		// An empty holder is free to take at the candidates' next retry (2 s by default).
		lease.Spec = coordinationv1.LeaseSpec{LeaseTransitions: lease.Spec.LeaseTransitions, LeaseDurationSeconds: ptr.To[int32](1)}
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing the controller's Lease: %w", err)
	}
	return poll(ctx, 60*time.Second, "the controller to lead", func() (bool, error) {
		leading, _, err := controllerLeading(ctx, p)
		return err == nil && leading, nil
	})
}

// controllerCapacity is how many EasyServices the plane can give a Service (free ClusterIPs of the
// service CIDR) and a Ready pod (free pod slots of the kwok nodes), with a margin; why says which
// limits.
func controllerCapacity(ctx context.Context, p *plane) (capacity int, why string, err error) {
	capacity = math.MaxInt
	if cidr := p.kasFlag("service-cluster-ip-range"); cidr != "" {
		prefix, err := netip.ParsePrefix(cidr)
		if err == nil && prefix.Addr().Is4() {
			svcs, err := p.kc.CoreV1().Services("").List(ctx, metav1.ListOptions{})
			if err != nil {
				return 0, "", err
			}
			free := 1<<(32-prefix.Bits()) - 2 - len(svcs.Items) - 10
			if free < capacity {
				capacity, why = free, fmt.Sprintf("the plane's service CIDR %s (kube-apiserver --service-cluster-ip-range) has ClusterIPs for about %d more Services", cidr, free)
			}
		}
	}
	nodes, err := p.kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		return 0, "", err
	}
	slots := 0
	for _, n := range nodes.Items {
		if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok {
			slots += int(q.Value())
		}
	}
	pods, err := p.kc.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, "", err
	}
	if free := slots - len(pods.Items) - 10; free < capacity {
		capacity, why = free, fmt.Sprintf("the plane's %d kwok nodes have pod slots for about %d more pods (KWOK_NODES)", len(nodes.Items), free)
	}
	return max(capacity, 0), why, nil
}

// esMetrics are the metrics of easyservice-apiserver the controller figures read.
var esMetrics = []string{"apiserver_request_total", "rest_client_requests_total",
	"rest_client_rate_limiter_duration_seconds_sum", "rest_client_rate_limiter_duration_seconds_count"}

// controllerResult holds the controller figures of one round.
type controllerResult struct {
	n int
	// Seconds from the first create to: all created, all Deployments and Services exist, all
	// EasyServices report readyReplicas == replicas.
	createdS, childrenS, readyS float64
	// writes are the controller's applies of Deployments and Services (kube-apiserver's
	// apiserver_request_total, verb APPLY) plus the EasyService status writes (our server's);
	// requests are all the requests easyservice-apiserver's clients made (rest_client_requests_total).
	applies, statusWrites, requests float64
	// rateLimitWait is the mean wait of easyservice-apiserver's client requests to kube-apiserver in
	// their client-side rate limiter (rest_client_rate_limiter_duration_seconds), in seconds.
	rateLimitWait float64
}

// runController creates n EasyServices through the aggregation layer with `clients` clients while
// the controller leads, and times their children and readiness by watching them.
func runController(ctx context.Context, p *plane, agg *target, ns string, n, clients int) (controllerResult, error) {
	r := controllerResult{n: n}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kasBefore, err := metrics(ctx, p.kube, "apiserver_request_total")
	if err != nil {
		return r, err
	}
	esBefore, err := metrics(ctx, p.es, esMetrics...)
	if err != nil {
		return r, err
	}
	children := url.Values{"labelSelector": {"app.kubernetes.io/managed-by=easyservice"}}
	deployments, err := watch(ctx, p.kube, fmt.Sprintf("%s/apis/apps/v1/namespaces/%s/deployments", p.kube.host, ns), children)
	if err != nil {
		return r, err
	}
	services, err := watch(ctx, p.kube, fmt.Sprintf("%s/api/v1/namespaces/%s/services", p.kube.host, ns), children)
	if err != nil {
		return r, err
	}
	easyServices, err := watch(ctx, agg.ep, agg.collection(ns), nil)
	if err != nil {
		return r, err
	}
	start := time.Now()
	created := make(chan error, 1)
	go func() {
		_, err := createParallel(ctx, agg, ns, names(0, n), clients, nil)
		r.createdS = time.Since(start).Seconds()
		created <- err
	}()
	deps, svcs, ready := map[string]bool{}, map[string]bool{}, map[string]bool{}
	timeout := time.After(time.Duration(120+n/2) * time.Second)
	for r.childrenS == 0 || r.readyS == 0 {
		select {
		case err := <-created:
			if err != nil {
				return r, err
			}
			created = nil
		case e, ok := <-deployments:
			if !ok {
				return r, fmt.Errorf("the watch of Deployments ended")
			}
			if e.Type == "ADDED" {
				deps[e.Object.Metadata.Name] = true
			}
		case e, ok := <-services:
			if !ok {
				return r, fmt.Errorf("the watch of Services ended")
			}
			if e.Type == "ADDED" {
				svcs[e.Object.Metadata.Name] = true
			}
		case e, ok := <-easyServices:
			if !ok {
				return r, fmt.Errorf("the watch of EasyServices ended")
			}
			if e.Type == "ADDED" || e.Type == "MODIFIED" {
				o := e.Object
				ready[o.Metadata.Name] = o.Spec.Replicas != nil && o.Status.ReadyReplicas == *o.Spec.Replicas
			}
		case <-timeout:
			nready := 0
			for _, ok := range ready {
				if ok {
					nready++
				}
			}
			return r, fmt.Errorf("after %v: %d of %d Deployments, %d Services, %d EasyServices ready", time.Since(start).Round(time.Second), len(deps), n, len(svcs), nready)
		}
		if r.childrenS == 0 && len(deps) >= n && len(svcs) >= n {
			r.childrenS = time.Since(start).Seconds()
		}
		if r.readyS == 0 && len(ready) >= n {
			all := true
			for _, ok := range ready {
				all = all && ok
			}
			if all {
				r.readyS = time.Since(start).Seconds()
			}
		}
	}
	if created != nil {
		if err := <-created; err != nil {
			return r, err
		}
	}
	// The last status writes may trail the watch events by a little.
	time.Sleep(3 * time.Second)
	kasAfter, err := metrics(ctx, p.kube, "apiserver_request_total")
	if err != nil {
		return r, err
	}
	esAfter, err := metrics(ctx, p.es, esMetrics...)
	if err != nil {
		return r, err
	}
	for k, v := range kasAfter {
		res := labelValue(k, "resource")
		if labelValue(k, "verb") == "APPLY" && labelValue(k, "subresource") == "" && (res == "deployments" || res == "services") {
			r.applies += v - kasBefore[k]
		}
	}
	for k, v := range esAfter {
		switch {
		case strings.HasPrefix(k, "apiserver_request_total{"):
			verb := labelValue(k, "verb")
			if labelValue(k, "resource") == "easyservices" && labelValue(k, "subresource") == "status" &&
				(verb == "PUT" || verb == "UPDATE" || verb == "PATCH" || verb == "APPLY") {
				r.statusWrites += v - esBefore[k]
			}
		case strings.HasPrefix(k, "rest_client_requests_total{"):
			r.requests += v - esBefore[k]
		}
	}
	kas := strings.TrimPrefix(p.kube.host, "https://")
	var waitSum, waitCount float64
	for k, v := range esAfter {
		if labelValue(k, "host") != kas {
			continue
		}
		switch {
		case strings.HasPrefix(k, "rest_client_rate_limiter_duration_seconds_sum{"):
			waitSum += v - esBefore[k]
		case strings.HasPrefix(k, "rest_client_rate_limiter_duration_seconds_count{"):
			waitCount += v - esBefore[k]
		}
	}
	if waitCount > 0 {
		r.rateLimitWait = waitSum / waitCount
	}
	return r, nil
}

// idleReady creates n EasyServices through the aggregation layer one after the other, on a plane
// doing nothing else, and times each from the start of its POST to the client's receipt of the
// watch event in which its Ready condition is True.
func idleReady(ctx context.Context, agg *target, ns string, n int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := watch(ctx, agg.ep, agg.collection(ns), nil)
	if err != nil {
		return nil, err
	}
	c := agg.ep.client(requestTimeout)
	defer c.CloseIdleConnections()
	out := make([]time.Duration, 0, n)
	for i := range n {
		name := fmt.Sprintf("idle-%03d", i)
		start := time.Now()
		if _, err := create(ctx, c, agg, ns, name); err != nil {
			return nil, err
		}
		timeout := time.After(2 * time.Minute)
		for ready := false; !ready; {
			select {
			case e, ok := <-events:
				if !ok {
					return nil, fmt.Errorf("the watch of EasyServices ended")
				}
				if e.Object.Metadata.Name == name && readyTrue(e.watchEvent) {
					out = append(out, e.at.Sub(start))
					ready = true
				}
			case <-timeout:
				return nil, fmt.Errorf("EasyService %s/%s not Ready after 2m", ns, name)
			}
		}
	}
	return out, nil
}

func readyTrue(e watchEvent) bool {
	for _, c := range e.Object.Status.Conditions {
		if c.Type == esv1.EasyServiceReady {
			return c.Status == string(metav1.ConditionTrue)
		}
	}
	return false
}
