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
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1apply "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// The reasons of the Normal events; the Warning events use the Ready condition's reasons
// (ResourceExists, DeploymentFailed, ServiceFailed).
const (
	ReasonDeploymentCreated = "DeploymentCreated"
	ReasonDeploymentUpdated = "DeploymentUpdated"
	ReasonServiceCreated    = "ServiceCreated"
	ReasonServiceUpdated    = "ServiceUpdated"
)

// sync makes the children of the EasyService key what its spec says and writes its status. It reads
// from the listers, and writes only what differs: a sync with nothing to do makes no request.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) error {
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "easyService", klog.KRef(key.Namespace, key.Name))
	ctx = klog.NewContext(ctx, logger)

	es, err := c.getEasyService(ctx, key.Namespace, key.Name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("EasyService is gone; the garbage collector deletes its children")
		return nil
	}
	if err != nil {
		return err
	}
	if es.DeletionTimestamp != nil {
		// A foreground deletion waits for the garbage collector to delete the children: never
		// recreate them.
		logger.V(4).Info("EasyService is being deleted")
		return nil
	}

	deployment := c.syncDeployment(ctx, es)
	service := c.syncService(ctx, es)
	err = errors.Join(deployment.err, service.err)
	if errors.Is(err, errNamespaceTerminating) {
		// The namespace controller deletes the EasyService next: nothing to report or retry.
		logger.V(2).Info("Not recreating children: the namespace is being deleted")
		return nil
	}

	obs := observed{deployment: deployment.live, service: service.live}
	for _, p := range []*problem{deployment.problem, service.problem} {
		if p != nil {
			obs.problems = append(obs.problems, *p)
		}
	}
	c.reportProblems(ctx, es, obs.problems)
	switch {
	case deployment.transient() || service.transient():
		// An error that says nothing about the children (the cluster unreachable, a conflict) leaves
		// the status as it is rather than report children that are merely unknown.
	case deployment.applied && len(obs.problems) == 0 && c.statusBatchPeriod > 0:
		// The Deployment's status describes its previous generation (or nothing, if it is new) until
		// the Deployment controller has seen this one: rather than write a status that is stale at
		// once, sync again after the batch period, by when the Deployment usually reports on the new
		// generation (its status update also brings the EasyService back, sooner or later).
		logger.V(4).Info("Deployment applied; its status follows", "after", c.statusBatchPeriod)
		c.enqueueAfter(key, c.statusBatchPeriod)
	default:
		err = errors.Join(err, c.updateStatus(ctx, es, computeStatus(es, obs, c.now())))
	}
	return err
}

// childResult is what the sync of one child found and did.
type childResult[T metav1.Object] struct {
	// live is the child the EasyService controls after the sync; the zero T if there is none.
	live T
	// applied tells whether the sync applied the child.
	applied bool
	// problem is what the EasyService's status reports about the child; nil if there is nothing
	// to report.
	problem *problem
	// err is why the sync of the child failed, if it did.
	err error
}

// transient tells whether the sync failed for a reason that says nothing about the child (the
// cluster unreachable, a conflict): it is retried, and the status left as it is.
func (r childResult[T]) transient() bool {
	return r.err != nil && r.problem == nil
}

// childKind says how to read, extract and apply one kind of child; syncChild does the rest.
type childKind[T metav1.Object, A any] struct {
	kind                         string
	reasonCreated, reasonUpdated string
	reasonFailed                 string
	// cache holds what the informer and the controller's own applies saw of every object of the
	// kind: the controller's children in full, the others trimmed to their metadata (trimChild).
	cache   cache.MutationCache
	desired func() A
	extract func(live T) (A, error)
	apply   func(ctx context.Context, desired A) (T, error)
}

// syncDeployment applies the Deployment of es unless it already is as desired. Its result has a
// problem when a Deployment of that name is not es's or the cluster refused ours.
func (c *Controller) syncDeployment(ctx context.Context, es *v1.EasyService) childResult[*appsv1.Deployment] {
	client := c.kubeClient.AppsV1().Deployments(es.Namespace)
	return syncChild(ctx, c, es, childKind[*appsv1.Deployment, *appsv1apply.DeploymentApplyConfiguration]{
		kind:          "Deployment",
		reasonCreated: ReasonDeploymentCreated,
		reasonUpdated: ReasonDeploymentUpdated,
		reasonFailed:  v1.ReasonDeploymentFailed,
		cache:         c.deployments,
		desired:       func() *appsv1apply.DeploymentApplyConfiguration { return newDeployment(es) },
		extract: func(live *appsv1.Deployment) (*appsv1apply.DeploymentApplyConfiguration, error) {
			return appsv1apply.ExtractDeployment(live, FieldManager)
		},
		apply: func(ctx context.Context, desired *appsv1apply.DeploymentApplyConfiguration) (*appsv1.Deployment, error) {
			return client.Apply(ctx, desired, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		},
	})
}

// syncService applies the Service of es unless it already is as desired, like syncDeployment.
func (c *Controller) syncService(ctx context.Context, es *v1.EasyService) childResult[*corev1.Service] {
	client := c.kubeClient.CoreV1().Services(es.Namespace)
	return syncChild(ctx, c, es, childKind[*corev1.Service, *corev1apply.ServiceApplyConfiguration]{
		kind:          "Service",
		reasonCreated: ReasonServiceCreated,
		reasonUpdated: ReasonServiceUpdated,
		reasonFailed:  v1.ReasonServiceFailed,
		cache:         c.services,
		desired:       func() *corev1apply.ServiceApplyConfiguration { return newService(es) },
		extract: func(live *corev1.Service) (*corev1apply.ServiceApplyConfiguration, error) {
			return corev1apply.ExtractService(live, FieldManager)
		},
		apply: func(ctx context.Context, desired *corev1apply.ServiceApplyConfiguration) (*corev1.Service, error) {
			return client.Apply(ctx, desired, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		},
	})
}

// syncChild applies the desired child of es unless what es's field manager owns of the live child
// already is as desired. It never touches an object of that name that es does not control.
//
// It asks the API nothing: the informer sees every object of the kind, so one that is not in the
// cache does not exist (unless it was made in the last moments, which a read before the apply
// would not close either), and the cache also holds the results of the controller's own applies
// until the informer has caught up with them, so that a sync right after another neither applies
// nor reports a child twice.
func syncChild[T metav1.Object, A any](ctx context.Context, c *Controller, es *v1.EasyService, k childKind[T, A]) childResult[T] {
	obj, exists, err := k.cache.GetByKey(es.Namespace + "/" + es.Name)
	if err != nil {
		return childResult[T]{err: err}
	}
	var live T
	if exists {
		var ok bool
		if live, ok = obj.(T); !ok {
			return childResult[T]{err: fmt.Errorf("the %s cache holds a %T", k.kind, obj)}
		}
		if !metav1.IsControlledBy(live, es) {
			return childResult[T]{problem: foreignChild(es, k.kind), err: errResourceExists}
		}
	}

	desired := k.desired()
	if exists {
		applied, err := k.extract(live)
		if err != nil {
			return childResult[T]{live: live, err: fmt.Errorf("extracting the fields %s owns in %s %s: %w", FieldManager, k.kind, klog.KObj(live), err)}
		}
		if equality.Semantic.DeepEqual(applied, desired) {
			return childResult[T]{live: live}
		}
	}
	result, err := k.apply(ctx, desired)
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return childResult[T]{live: live, err: errNamespaceTerminating}
		}
		return childResult[T]{live: live, problem: refusedChild(k.reasonFailed, k.kind, es, err), err: err}
	}
	k.cache.Mutation(result)
	switch {
	case !exists:
		c.reportApplied(ctx, es, result, k.kind, k.reasonCreated, "Created")
	case live.GetResourceVersion() != result.GetResourceVersion():
		c.reportApplied(ctx, es, result, k.kind, k.reasonUpdated, "Updated")
	default:
		// The apply changed nothing after all (another manager shares the fields).
		return childResult[T]{live: result}
	}
	return childResult[T]{live: result, applied: true}
}

// errResourceExists makes the sync of an EasyService whose child's name is taken fail, so that it
// is retried: an object without our label can go away without the controller hearing of it.
var errResourceExists = errors.New("a child's name is taken by an object the EasyService does not control")

// onlyResourceExists tells whether err is errResourceExists, or joins nothing but it: the sync's
// only failure is a child's name taken, which the status and an event already report.
func onlyResourceExists(err error) bool {
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return errors.Is(err, errResourceExists)
	}
	for _, e := range joined.Unwrap() {
		if !onlyResourceExists(e) {
			return false
		}
	}
	return true
}

// errNamespaceTerminating says that a child could not be made because its namespace is being
// deleted, with the EasyService in it.
var errNamespaceTerminating = errors.New("the namespace is being deleted")

func foreignChild(es *v1.EasyService, childKind string) *problem {
	return &problem{
		reason:  v1.ReasonResourceExists,
		message: fmt.Sprintf("%s %s/%s exists and is not controlled by this EasyService; delete it or rename the EasyService", childKind, es.Namespace, es.Name),
	}
}

// refusedChild returns the problem for an apply the cluster refused, nil for an error that says
// nothing about the child (a timeout, a conflict, the cluster unreachable): those are only retried.
func refusedChild(reason, childKind string, es *v1.EasyService, err error) *problem {
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) && !apierrors.IsBadRequest(err) && !apierrors.IsRequestEntityTooLargeError(err) {
		return nil
	}
	return &problem{
		reason:  reason,
		message: fmt.Sprintf("Applying %s %s/%s failed: %s", childKind, es.Namespace, es.Name, errorMessage(err)),
	}
}

// errorMessage is the message of an API error as the API server wrote it.
func errorMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// reportApplied logs and records an event for an apply that created or changed a child.
func (c *Controller) reportApplied(ctx context.Context, es *v1.EasyService, child metav1.Object, childKind, reason, verb string) {
	logger := klog.FromContext(ctx)
	logger.V(2).Info(verb+" child", "kind", childKind, "child", klog.KObj(child))
	c.recorder.WithLogger(logger).Eventf(es, corev1.EventTypeNormal, reason, "%s %s %s", verb, childKind, child.GetName())
}

// reportProblems records a Warning event per problem the EasyService's Ready condition does not
// already report, so that a problem that lasts is told once, not at every retry.
func (c *Controller) reportProblems(ctx context.Context, es *v1.EasyService, problems []problem) {
	ready := meta.FindStatusCondition(es.Status.Conditions, v1.EasyServiceReady)
	for _, p := range problems {
		if ready != nil && ready.Status == metav1.ConditionFalse && strings.Contains(ready.Message, p.message) {
			continue
		}
		logger := klog.FromContext(ctx)
		logger.V(2).Info("Child problem", "reason", p.reason, "message", p.message)
		c.recorder.WithLogger(logger).Event(es, corev1.EventTypeWarning, p.reason, p.message)
	}
}

// updateStatus writes status to es through /status, unless es already has it.
func (c *Controller) updateStatus(ctx context.Context, es *v1.EasyService, status v1.EasyServiceStatus) error {
	if equality.Semantic.DeepEqual(es.Status, status) {
		return nil
	}
	logger := klog.FromContext(ctx)
	if ready := meta.FindStatusCondition(status.Conditions, v1.EasyServiceReady); ready != nil {
		old := meta.FindStatusCondition(es.Status.Conditions, v1.EasyServiceReady)
		if old == nil || old.Status != ready.Status || old.Reason != ready.Reason {
			logger.V(2).Info("EasyService readiness changed", "ready", ready.Status, "reason", ready.Reason, "message", ready.Message)
		}
	}
	updated := es.DeepCopy()
	updated.Status = status
	if _, err := c.esClient.AppV1().EasyServices(es.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("updating the status: %w", err)
	}
	logger.V(4).Info("Updated status", "readyReplicas", status.ReadyReplicas, "replicas", status.Replicas)
	return nil
}
