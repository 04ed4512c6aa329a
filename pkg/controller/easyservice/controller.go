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

// Package easyservice holds the controller that turns every EasyService into a Deployment and a
// Service of the same name in the workload cluster, with server-side apply, and mirrors their state
// into the EasyService's status.
package easyservice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	kubescheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
)

const (
	// ControllerName names the controller in events, logs, the workqueue and the user agent.
	ControllerName = "easyservice-controller"
	// FieldManager is the server-side apply field manager of the children and of the status.
	FieldManager = ControllerName

	// kind is the kind of the owner in the children's controller reference.
	kind = "EasyService"

	// maxRetryDelay caps the per-item exponential backoff (5ms, 10ms, 20ms, ...) of a failing
	// EasyService. A failing sync is retried for as long as it fails, never dropped: the failures
	// worth retrying (a nodePort another Service holds, an unlabelled object with the child's name)
	// clear up without any event the controller watches.
	maxRetryDelay = time.Minute
)

// Controller makes a Deployment and a Service for every EasyService and reports their state in the
// EasyService's status. Only one process runs it at a time: see RunLeaderElected.
type Controller struct {
	// kubeClient writes Deployments and Services in the workload cluster.
	kubeClient kubernetes.Interface
	// eventClient writes Events in the workload cluster, with rate limits of its own so that a
	// burst of events never slows the children down.
	eventClient kubernetes.Interface
	// esClient writes the status of EasyServices through our own API.
	esClient clientset.Interface

	// esLister reads the metadata of EasyServices from the metadata informer's cache: which exist.
	esLister cache.GenericLister
	// getEasyService reads a whole EasyService, the one the controller syncs.
	getEasyService Getter
	// esSynced tells whether the EasyService handler has seen the initial list.
	esSynced cache.InformerSynced
	// deployments reads every Deployment (those the controller does not manage trimmed to their
	// metadata by TrimChild) from the informer's cache, or the result of the controller's own apply
	// while the informer has not caught up with it.
	deployments cache.MutationCache
	// deploymentSynced tells whether the Deployment handler has seen the initial list.
	deploymentSynced cache.InformerSynced
	// services is the same for Services.
	services cache.MutationCache
	// serviceSynced tells whether the Service handler has seen the initial list.
	serviceSynced cache.InformerSynced

	// statusBatchPeriod delays the syncs that changes of the children cause, so that a burst of
	// them (a Deployment rolling out) makes one status write; zero syncs at once. A Deployment that
	// has rolled out is not delayed (childEventHandler).
	statusBatchPeriod time.Duration

	// eventBroadcaster sends the events of recorder to the workload cluster while Run runs.
	eventBroadcaster record.EventBroadcaster
	// recorder records events about EasyServices.
	recorder record.EventRecorderLogger

	// queueLock guards queue.
	queueLock sync.RWMutex
	// queue holds the keys of the EasyServices to sync while Run runs, nil otherwise: a process
	// that does not hold the Lease queues nothing. Run makes a new one per leadership term.
	queue workqueue.TypedRateLimitingInterface[cache.ObjectName]
	// runLock serializes Run, so that a new term waits for the workers of the previous one.
	runLock sync.Mutex

	// clock is the controller's time: the queue's delays, the conditions' transition times, the
	// reconcile durations. Tests replace it.
	clock clock.WithTicker
}

// mutationCacheTTL bounds how long the result of an apply stands in for an object the informer has
// not delivered: past it, a child created and deleted before the informer saw either is forgotten.
const mutationCacheTTL = time.Minute

// newMutationCache returns the cache of a child informer's store and the controller's own applies.
func newMutationCache(logger klog.Logger, informer cache.SharedIndexInformer) cache.MutationCache {
	return cache.NewIntegerResourceVersionMutationCacheWithOptions(logger, informer.GetStore(), cache.MutationCacheOptions{
		TTL:          mutationCacheTTL,
		IncludeAdds:  true,
		MaxCacheSize: 10000,
	})
}

// Getter reads the EasyService namespace/name, as fresh as the informer's cache or
// fresher, in a form the caller must not change. It returns a NotFound error if there is none. The
// EasyService is as the API serves it, defaulted (v1.SetObjectDefaults_EasyService): the controller
// relies on that, and applies no default of its own.
type Getter func(ctx context.Context, namespace, name string) (*v1.EasyService, error)

// Options are the settings of a Controller.
type Options struct {
	// StatusBatchPeriod delays the syncs that changes of the children cause, so that a burst of
	// them (a Deployment rolling out) makes one status write; zero syncs at once. See the flag
	// --controller-status-batch-period.
	StatusBatchPeriod time.Duration
}

// NewController returns a controller fed by the given informers. esInformer is a metadata informer
// of EasyServices (k8s.io/client-go/metadata/metadatainformer): its events say which EasyService to
// sync, and getEasyService reads the whole object when it syncs, in the server from its own watch
// cache, so that the process holds one copy of each EasyService, not two. The Deployment and Service
// informers must list every object of their kind, trimmed by TrimChild. ctx gives the logger of the
// event handlers and of the event broadcaster, which stops with ctx.
func NewController(
	ctx context.Context,
	kubeClient, eventClient kubernetes.Interface,
	esClient clientset.Interface,
	esInformer informers.GenericInformer,
	getEasyService Getter,
	deploymentInformer appsinformers.TypedDeploymentInformer,
	serviceInformer coreinformers.TypedServiceInformer,
	options Options,
) (*Controller, error) {
	if getEasyService == nil {
		return nil, errors.New("the controller needs a Getter of EasyServices")
	}
	logger := klog.FromContext(ctx)
	registerMetrics()

	// Events name an EasyService as their involved object: the recorder's scheme must know it.
	scheme := runtime.NewScheme()
	if err := kubescheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))

	c := &Controller{
		kubeClient:        kubeClient,
		eventClient:       eventClient,
		esClient:          esClient,
		esLister:          esInformer.Lister(),
		deployments:       newMutationCache(logger, deploymentInformer.Informer()),
		services:          newMutationCache(logger, serviceInformer.Informer()),
		getEasyService:    getEasyService,
		statusBatchPeriod: options.StatusBatchPeriod,
		eventBroadcaster:  broadcaster,
		recorder:          broadcaster.NewRecorder(scheme, corev1.EventSource{Component: ControllerName}),
		clock:             clock.RealClock{},
	}

	handlerOptions := cache.HandlerOptions{Logger: &logger}
	esRegistration, err := esInformer.Informer().AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueObject,
		// Resyncs too: they are the safety net of a controller driven by events.
		UpdateFunc: func(_, obj any) { c.enqueueObject(obj) },
		// Nothing to do on delete: the garbage collector deletes the children.
	}, handlerOptions)
	if err != nil {
		return nil, fmt.Errorf("adding the EasyService event handler: %w", err)
	}
	deploymentRegistration, err := deploymentInformer.TypedInformer().AddTypedEventHandler(c.deploymentEvents(), handlerOptions)
	if err != nil {
		return nil, fmt.Errorf("adding the Deployment event handler: %w", err)
	}
	serviceRegistration, err := serviceInformer.TypedInformer().AddTypedEventHandler(c.serviceEvents(), handlerOptions)
	if err != nil {
		return nil, fmt.Errorf("adding the Service event handler: %w", err)
	}
	c.esSynced = esRegistration.HasSynced
	c.deploymentSynced = deploymentRegistration.HasSynced
	c.serviceSynced = serviceRegistration.HasSynced
	return c, nil
}

// HasSynced tells whether the informers have delivered their initial lists to the controller.
func (c *Controller) HasSynced() bool {
	return c.esSynced() && c.deploymentSynced() && c.serviceSynced()
}

// Run syncs EasyServices with the given number of workers until ctx is done, then waits for the
// workers to finish. It is one leadership term: it may be called again after it returned.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	c.runLock.Lock()
	defer c.runLock.Unlock()
	logger := klog.FromContext(ctx)

	logging := c.eventBroadcaster.StartStructuredLogging(3)
	defer logging.Stop()
	recording := c.eventBroadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.eventClient.CoreV1().Events("")})
	defer recording.Stop()

	logger.Info("Starting", "controller", ControllerName, "workers", workers)
	defer logger.Info("Shutting down", "controller", ControllerName)
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.esSynced, c.deploymentSynced, c.serviceSynced) {
		return
	}

	queue := newQueue(c.clock)
	c.setQueue(queue)
	// Whatever happened while another process led is in the caches: sync every EasyService. Events
	// that arrive from now on go to the new queue.
	all, err := c.esLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Listing EasyServices")
	}
	for _, es := range all {
		key, err := cache.ObjectToName(es)
		if err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Listing EasyServices")
			continue
		}
		queue.Add(key)
	}

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for c.processNextWorkItem(ctx, queue) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
	c.setQueue(nil)
	queue.ShutDown()
	wg.Wait()
}

// newQueue returns the queue of a leadership term: per-key exponential backoff from 5ms to
// maxRetryDelay, and 10 retries per second overall (bursts of 100). That is client-go's
// workqueue.DefaultTypedControllerRateLimiter but for the cap: the default's 1,000s would leave an
// EasyService whose conflict has cleared unreconciled for up to 17 minutes, since nothing the
// controller watches tells it the conflict is gone.
func newQueue(clock clock.WithTicker) workqueue.TypedRateLimitingInterface[cache.ObjectName] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](5*time.Millisecond, maxRetryDelay),
			&workqueue.TypedBucketRateLimiter[cache.ObjectName]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
		),
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "easyservice", Clock: clock},
	)
}

func (c *Controller) setQueue(q workqueue.TypedRateLimitingInterface[cache.ObjectName]) {
	c.queueLock.Lock()
	defer c.queueLock.Unlock()
	c.queue = q
}

// enqueueObject adds the key of an EasyService the informer delivered.
func (c *Controller) enqueueObject(obj any) {
	key, err := cache.ObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("the key of an EasyService event: %w", err))
		return
	}
	c.enqueue(key)
}

// enqueue adds key to the queue, if the controller runs.
func (c *Controller) enqueue(key cache.ObjectName) {
	c.queueLock.RLock()
	defer c.queueLock.RUnlock()
	if c.queue != nil {
		c.queue.Add(key)
	}
}

// enqueueAfter adds key to the queue after delay (at once if it is zero), if the controller runs. A
// key already waiting keeps the earlier of its times.
func (c *Controller) enqueueAfter(key cache.ObjectName, delay time.Duration) {
	c.queueLock.RLock()
	defer c.queueLock.RUnlock()
	if c.queue != nil {
		c.queue.AddAfter(key, delay)
	}
}

// child is a Deployment or a Service.
type child interface {
	comparable
	metav1.Object
	runtime.Object
}

// childEventHandler maps the events of a Deployment or Service to the EasyService of its name or
// controller reference, and tells mutations, the controller's cache of its own applies, what the
// informer has caught up with. Children are named like their EasyService; an object the
// EasyService does not control (an orphan, or someone else's) still matters to it: the EasyService
// reports it and converges once it is gone.
//
// Adds and updates, mostly the Deployment controller reporting a rollout, sync the EasyService
// after the status batch period, so that the steps of a rollout that come close together make one
// status write; but a child that has settled (a Deployment that has rolled out: no further step is
// coming) and a deletion (to make the child again) sync it at once. A sync at once does not cancel
// the one a batch period scheduled: that one finds the status written and writes nothing.
func childEventHandler[T child](c *Controller, mutations cache.MutationCache, settled func(T) bool) cache.TypedResourceEventHandlerFuncs[T] {
	delay := func(obj T) time.Duration {
		if settled(obj) {
			return 0
		}
		return c.statusBatchPeriod
	}
	return cache.TypedResourceEventHandlerFuncs[T]{
		AddFunc: func(obj T) {
			mutations.OnAddOrUpdate(obj)
			c.enqueueOwner(obj, delay(obj))
		},
		UpdateFunc: func(old, cur T) {
			if old.GetResourceVersion() == cur.GetResourceVersion() {
				// A resync: nothing changed.
				return
			}
			mutations.OnAddOrUpdate(cur)
			c.enqueueOwner(cur, delay(cur))
		},
		DeleteFunc: func(deleted cache.DeletedObject[T]) {
			var null T
			if deleted.OptionalObj != null {
				mutations.OnDelete(deleted.OptionalObj)
				c.enqueueOwner(deleted.OptionalObj, 0)
				return
			}
			key := deleted.GetObjectName()
			c.enqueueIfExists(key.Namespace, key.Name, 0)
		},
	}
}

// deploymentEvents handles the events of Deployments: a Deployment has settled when it has rolled out.
func (c *Controller) deploymentEvents() cache.TypedResourceEventHandlerFuncs[*appsv1.Deployment] {
	return childEventHandler(c, c.deployments, rolledOut)
}

// serviceEvents handles the events of Services, which never settle: the Service of an EasyService
// is its own apply, and nothing it reports changes the status.
func (c *Controller) serviceEvents() cache.TypedResourceEventHandlerFuncs[*corev1.Service] {
	return childEventHandler(c, c.services, func(*corev1.Service) bool { return false })
}

// enqueueOwner enqueues, after delay, the EasyService a child belongs to: the one its controller
// reference names, else the one of the same name.
func (c *Controller) enqueueOwner(child metav1.Object, delay time.Duration) {
	name := child.GetName()
	if ref := metav1.GetControllerOf(child); ref != nil && ref.Kind == kind {
		if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil && gv.Group == v1.GroupName {
			name = ref.Name
		}
	}
	c.enqueueIfExists(child.GetNamespace(), name, delay)
}

func (c *Controller) enqueueIfExists(namespace, name string, delay time.Duration) {
	if _, err := c.esLister.ByNamespace(namespace).Get(name); err == nil {
		c.enqueueAfter(cache.ObjectName{Namespace: namespace, Name: name}, delay)
	}
}

// now is the time of a condition transition, to the second, as it is serialized.
func (c *Controller) now() metav1.Time {
	return metav1.NewTime(c.clock.Now()).Rfc3339Copy()
}

// processNextWorkItem syncs the next EasyService of the queue. It returns false when the queue is
// shut down.
func (c *Controller) processNextWorkItem(ctx context.Context, queue workqueue.TypedRateLimitingInterface[cache.ObjectName]) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)

	start := c.clock.Now()
	err := c.sync(ctx, key)
	reconcileDuration.Observe(c.clock.Since(start).Seconds())
	c.handleErr(ctx, queue, key, err)
	return true
}

// handleErr forgets a key that synced and requeues one that failed, with a per-key exponential
// backoff capped at maxRetryDelay.
func (c *Controller) handleErr(ctx context.Context, queue workqueue.TypedRateLimitingInterface[cache.ObjectName], key cache.ObjectName, err error) {
	if err == nil {
		reconciles.WithLabelValues(resultSuccess).Inc()
		queue.Forget(key)
		return
	}
	reconciles.WithLabelValues(resultError).Inc()
	logger := klog.FromContext(ctx)
	retries := queue.NumRequeues(key)
	switch {
	case apierrors.IsConflict(err):
		// Our cache was behind the object; the next try reads the newer one.
		logger.V(4).Info("Syncing EasyService hit a conflict, retrying", "easyService", klog.KRef(key.Namespace, key.Name), "err", err)
	case onlyResourceExists(err):
		// The condition and an event report it; retry quietly until the object is gone.
		logger.V(2).Info("A child's name is taken, retrying", "easyService", klog.KRef(key.Namespace, key.Name), "retries", retries)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing EasyService failed, retrying", "easyService", klog.KRef(key.Namespace, key.Name), "retries", retries)
	}
	queue.AddRateLimited(key)
}
