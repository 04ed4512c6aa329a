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
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	_ "k8s.io/component-base/metrics/prometheus/workqueue" // workqueue metrics of the queue
)

const (
	metricsNamespace = "easyservice"
	metricsSubsystem = "controller"

	resultSuccess = "success"
	resultError   = "error"
)

var (
	// reconciles counts syncs of EasyServices by result, success or error.
	reconciles = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      metricsNamespace,
		Subsystem:      metricsSubsystem,
		Name:           "reconciles_total",
		Help:           "Number of syncs of an EasyService, by result: success or error (retried with backoff).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})

	// reconcileDuration is the time a sync of an EasyService takes.
	reconcileDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace:      metricsNamespace,
		Subsystem:      metricsSubsystem,
		Name:           "reconcile_duration_seconds",
		Help:           "Time a sync of an EasyService takes, in seconds, whatever its result.",
		Buckets:        metrics.ExponentialBuckets(0.001, 2, 15),
		StabilityLevel: metrics.ALPHA,
	})

	registerMetricsOnce sync.Once
)

// registerMetrics registers the controller's metrics in the legacy registry the server exposes at
// /metrics. It may be called more than once.
func registerMetrics() {
	registerMetricsOnce.Do(func() {
		legacyregistry.MustRegister(reconciles, reconcileDuration)
	})
}
