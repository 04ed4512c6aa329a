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

package easyservice

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	componentbaseconfig "k8s.io/component-base/config"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// TestRun runs the controller with started informers over the fake clientsets, for two leadership
// terms: the events of the children reach the workers, and a new term starts afresh.
func TestRun(t *testing.T) {
	f := newFixture(t)
	// The queue's delays and retries run on real time here.
	f.controller.clock = clock.RealClock{}
	// Whole EasyServices come from the fake API, as from the server's watch cache.
	f.controller.getEasyService = func(_ context.Context, namespace, name string) (*v1.EasyService, error) {
		obj, err := f.es.Tracker().Get(v1.SchemeGroupVersion.WithResource("easyservices"), namespace, name)
		if err != nil {
			return nil, err
		}
		return obj.(*v1.EasyService), nil
	}
	ctx, cancel := context.WithCancel(f.ctx)
	f.kubeInformers.Start(ctx.Done())
	f.esInformers.Start(ctx.Done())
	defer f.kubeInformers.Shutdown()
	defer f.esInformers.Shutdown()
	defer cancel()

	term := func() (stop func()) {
		termCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.controller.Run(termCtx, 2)
		}()
		return func() { cancel(); <-done }
	}
	waitFor := func(what string, condition func() bool) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return condition(), nil
		})
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	deploymentExists := func() bool {
		_, err := f.kube.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
		return err == nil
	}

	stop := term()
	// Through the tracker: the generated apply configurations' schema does not describe EasyService,
	// so the field-managed fake refuses to create one.
	f.addEasyServiceToAPI(newEasyService())
	waitFor("the children", func() bool {
		_, err := f.kube.CoreV1().Services("ns").Get(ctx, "web", metav1.GetOptions{})
		return deploymentExists() && err == nil
	})
	waitFor("the status", func() bool {
		es, err := f.es.AppV1().EasyServices("ns").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && es.Status.ObservedGeneration == 1
	})
	if !f.controller.HasSynced() {
		t.Error("HasSynced = false after the informers delivered their lists")
	}

	// A deleted child is recreated, because its delete event maps back to the EasyService.
	if err := f.kube.AppsV1().Deployments("ns").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the Deployment to be recreated", deploymentExists)
	stop()

	// Between terms nothing is repaired; the next term does it.
	if err := f.kube.AppsV1().Deployments("ns").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if deploymentExists() {
		t.Fatal("a controller that does not lead recreated the Deployment")
	}
	stop = term()
	defer stop()
	waitFor("the next term to recreate the Deployment", deploymentExists)
}

func testLeaderElection() componentbaseconfig.LeaderElectionConfiguration {
	return componentbaseconfig.LeaderElectionConfiguration{
		LeaderElect:       true,
		LeaseDuration:     metav1.Duration{Duration: 2 * time.Second},
		RenewDeadline:     metav1.Duration{Duration: time.Second},
		RetryPeriod:       metav1.Duration{Duration: 100 * time.Millisecond},
		ResourceLock:      "leases",
		ResourceName:      "easyservice-controller",
		ResourceNamespace: "easyservice-system",
	}
}

// candidate runs RunLeaderElected as identity and reports on states when its run starts and stops.
func candidate(ctx context.Context, t *testing.T, client *k8sfake.Clientset, identity string, states chan<- string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := RunLeaderElected(ctx, client, testLeaderElection(), identity, func(ctx context.Context) {
			states <- identity + " started"
			<-ctx.Done()
			states <- identity + " stopped"
		})
		if err != nil {
			t.Errorf("RunLeaderElected(%s): %v", identity, err)
		}
	}()
	return func() { cancel(); <-done }
}

func expectState(t *testing.T, states <-chan string, want string) {
	t.Helper()
	select {
	case got := <-states:
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %q", want)
	}
}

func TestLeaderElectionHandsOver(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := k8sfake.NewClientset()
	states := make(chan string, 10)

	stopA := candidate(ctx, t, client, "a", states)
	expectState(t, states, "a started")
	stopB := candidate(ctx, t, client, "b", states)
	defer stopB()
	select {
	case s := <-states:
		t.Fatalf("%q while a leads", s)
	case <-time.After(500 * time.Millisecond):
	}

	// a shuts down: it releases the Lease, b takes over at once.
	stopA()
	expectState(t, states, "a stopped")
	expectState(t, states, "b started")
}

func TestLeaderElectionLostLease(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := k8sfake.NewClientset()
	var failRenewals atomic.Bool
	client.PrependReactor("update", "leases", func(core.Action) (bool, runtime.Object, error) {
		if failRenewals.Load() {
			return true, nil, apierrors.NewServiceUnavailable("etcd is down")
		}
		return false, nil, nil
	})
	states := make(chan string, 10)
	stop := candidate(ctx, t, client, "a", states)
	defer stop()
	expectState(t, states, "a started")

	// The Lease cannot be renewed: the work stops, the process keeps running and stands again.
	failRenewals.Store(true)
	expectState(t, states, "a stopped")
	failRenewals.Store(false)
	expectState(t, states, "a started")
}

func TestLeaderElectionDisabled(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	config := testLeaderElection()
	config.LeaderElect = false
	var ran sync.WaitGroup
	ran.Add(1)
	go func() {
		ran.Wait()
		cancel()
	}()
	err := RunLeaderElected(ctx, k8sfake.NewClientset(), config, "a", func(ctx context.Context) {
		ran.Done()
		<-ctx.Done()
	})
	if err != nil {
		t.Fatal(err)
	}

	config.LeaderElect, config.ResourceLock = true, "endpoints"
	if err := RunLeaderElected(ctx, k8sfake.NewClientset(), config, "a", func(context.Context) {}); err == nil {
		t.Error("RunLeaderElected with an endpoints lock succeeded, want an error")
	}
}
