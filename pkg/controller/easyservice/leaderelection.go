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
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	componentbaseconfig "k8s.io/component-base/config"
	_ "k8s.io/component-base/metrics/prometheus/clientgo/leaderelection" // leader_election_master_status
	"k8s.io/klog/v2"
)

// RunLeaderElected runs run while this process holds the Lease config names in the cluster of
// client, until ctx is done. run gets a context that is cancelled when the Lease is lost; the
// process then stands for election again, so that an API server that lost its Lease keeps serving
// and may lead again later. Without leader election run runs until ctx is done. identity names this
// process in the Lease; it must be unique among the candidates.
func RunLeaderElected(ctx context.Context, client kubernetes.Interface, config componentbaseconfig.LeaderElectionConfiguration, identity string, run func(context.Context)) error {
	logger := klog.FromContext(ctx)
	if !config.LeaderElect {
		run(ctx)
		return nil
	}
	if config.ResourceLock != resourcelock.LeasesResourceLock {
		return fmt.Errorf("leader election lock %q is not supported, only %q", config.ResourceLock, resourcelock.LeasesResourceLock)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: config.ResourceNamespace, Name: config.ResourceName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	lease := klog.KRef(config.ResourceNamespace, config.ResourceName)
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: config.LeaseDuration.Duration,
			RenewDeadline: config.RenewDeadline.Duration,
			RetryPeriod:   config.RetryPeriod.Duration,
			// Hand over at once on a graceful shutdown rather than after the lease duration.
			ReleaseOnCancel: true,
			Name:            ControllerName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					logger.Info("Started leading", "lease", lease, "identity", identity)
					run(ctx)
				},
				OnStoppedLeading: func() {
					logger.V(2).Info("Not leading", "lease", lease, "identity", identity)
				},
				OnNewLeader: func(leader string) {
					logger.Info("New leader elected", "lease", lease, "leader", leader)
				},
			},
		})
		if err != nil {
			return fmt.Errorf("configuring leader election: %w", err)
		}
		// Run returns when ctx is done or the lease is lost; the context it gave run is then
		// cancelled, which stops the workers.
		elector.Run(ctx)
		if ctx.Err() == nil {
			logger.Info("Lost the lease; standing for election again", "lease", lease, "identity", identity)
		}
	}
	return nil
}
