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

package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
)

// How long the controller and the cluster's controllers get to converge.
const convergeTimeout = 90 * time.Second

func getEasyService(ctx context.Context, t *testing.T, ns, name string) *v1.EasyService {
	t.Helper()
	es, err := plane.es.AppV1().EasyServices(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting EasyService %s/%s: %v", ns, name, err)
	}
	return es
}

// waitReady waits for the EasyService to report the rollout of its current generation: Ready True
// and every counter at spec.replicas.
func waitReady(t *testing.T, ns, name string) *v1.EasyService {
	t.Helper()
	var es *v1.EasyService
	eventually(t, convergeTimeout, fmt.Sprintf("EasyService %s/%s to be Ready", ns, name), func(ctx context.Context) (bool, string) {
		es = getEasyService(ctx, t, ns, name)
		want := *es.Spec.Replicas
		s := es.Status
		ready := meta.IsStatusConditionTrue(s.Conditions, "Ready")
		return ready && s.ObservedGeneration == es.Generation && s.Replicas == want && s.UpdatedReplicas == want &&
			s.ReadyReplicas == want && s.AvailableReplicas == want, fmt.Sprintf("generation %d, status %+v", es.Generation, s)
	})
	return es
}

// waitReadyReason waits for the EasyService's Ready condition to have reason, and returns it.
func waitReadyReason(t *testing.T, ns, name, reason string) metav1.Condition {
	t.Helper()
	var ready *metav1.Condition
	eventually(t, convergeTimeout, fmt.Sprintf("EasyService %s/%s to report %s", ns, name, reason), func(ctx context.Context) (bool, string) {
		ready = meta.FindStatusCondition(getEasyService(ctx, t, ns, name).Status.Conditions, "Ready")
		return ready != nil && ready.Reason == reason, fmt.Sprintf("Ready = %+v", ready)
	})
	return *ready
}

// waitDeployment waits until the Deployment ns/name satisfies condition.
func waitDeployment(t *testing.T, ns, name, what string, condition func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	eventually(t, convergeTimeout, fmt.Sprintf("Deployment %s/%s: %s", ns, name, what), func(ctx context.Context) (bool, string) {
		var err error
		d, err = plane.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return condition(d), fmt.Sprintf("spec %+v", d.Spec)
	})
	return d
}

// waitService waits until the Service ns/name satisfies condition.
func waitService(t *testing.T, ns, name, what string, condition func(*corev1.Service) bool) *corev1.Service {
	t.Helper()
	var s *corev1.Service
	eventually(t, convergeTimeout, fmt.Sprintf("Service %s/%s: %s", ns, name, what), func(ctx context.Context) (bool, string) {
		var err error
		s, err = plane.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return condition(s), fmt.Sprintf("spec %+v", s.Spec)
	})
	return s
}

func waitGone(t *testing.T, what string, get func(ctx context.Context) error) {
	t.Helper()
	eventually(t, convergeTimeout, what+" to be deleted", func(ctx context.Context) (bool, string) {
		err := get(ctx)
		return apierrors.IsNotFound(err), fmt.Sprintf("%v", err)
	})
}

func controlledBy(obj metav1.Object, es *v1.EasyService) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == es.UID && ref.Kind == "EasyService" && ref.APIVersion == "app.easyservice.io/v1" &&
		ref.Name == es.Name && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}

// eventReasons returns the reasons of the events about the EasyService ns/name, with their counts.
func eventReasons(ctx context.Context, t *testing.T, ns, name string) map[string]int32 {
	t.Helper()
	events, err := plane.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
		"involvedObject.kind": "EasyService", "involvedObject.name": name}.String()})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int32{}
	for _, e := range events.Items {
		reasons[e.Type+"/"+e.Reason] += max(e.Count, 1)
	}
	return reasons
}

// waitEvent waits for an event about the EasyService with the type and reason, e.g. "Warning/ResourceExists".
func waitEvent(t *testing.T, ns, name, typeReason string) {
	t.Helper()
	eventually(t, convergeTimeout, fmt.Sprintf("a %s event about %s/%s", typeReason, ns, name), func(ctx context.Context) (bool, string) {
		reasons := eventReasons(ctx, t, ns, name)
		return reasons[typeReason] > 0, fmt.Sprintf("events %v", reasons)
	})
}

const webManifest = `apiVersion: app.easyservice.io/v1
kind: EasyService
metadata:
  name: web
spec:
  replicas: 2
  image: nginx:1.27
  imagePullPolicy: IfNotPresent
  env:
  - {name: GREETING, value: hello}
  resources:
    requests: {cpu: 100m, memory: 64Mi}
    limits: {cpu: 500m, memory: 128Mi}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: metrics, port: 9090, targetPort: 9100, appProtocol: http}
  serviceType: NodePort
`

// TestControllerCreatesChildren: an EasyService becomes a Deployment and a Service with the right
// fields, and reports Ready once kwok runs its pods; nothing churns afterwards.
func TestControllerCreatesChildren(t *testing.T) {
	ns := createNamespace(t, "ctrl-create")
	kubectl(t, webManifest, "apply", "--namespace="+ns, "-f", "-")
	es := getEasyService(t.Context(), t, ns, "web")

	labels := map[string]string{
		"app.kubernetes.io/name":       "web",
		"app.kubernetes.io/instance":   "web",
		"app.kubernetes.io/managed-by": "easyservice",
	}
	d := waitDeployment(t, ns, "web", "created", func(*appsv1.Deployment) bool { return true })
	if !controlledBy(d, es) {
		t.Errorf("Deployment ownerReferences = %+v, want a controller reference to %s with blockOwnerDeletion", d.OwnerReferences, es.UID)
	}
	if fmt.Sprint(d.Labels) != fmt.Sprint(labels) || fmt.Sprint(d.Spec.Selector.MatchLabels) != fmt.Sprint(labels) ||
		fmt.Sprint(d.Spec.Template.Labels) != fmt.Sprint(labels) {
		t.Errorf("Deployment labels %v, selector %v, pod labels %v; want %v", d.Labels, d.Spec.Selector, d.Spec.Template.Labels, labels)
	}
	if *d.Spec.Replicas != 2 || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment spec = %+v", d.Spec)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Name != "web" || c.Image != "nginx:1.27" || c.ImagePullPolicy != corev1.PullIfNotPresent ||
		len(c.Env) != 1 || c.Env[0].Name != "GREETING" || c.Env[0].Value != "hello" ||
		c.Resources.Requests.Cpu().String() != "100m" || c.Resources.Limits.Memory().String() != "128Mi" {
		t.Errorf("container = %+v", c)
	}
	// Every target port is a container port, named like the EasyService's port.
	if len(c.Ports) != 2 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 || c.Ports[0].Protocol != corev1.ProtocolTCP ||
		c.Ports[1].Name != "metrics" || c.Ports[1].ContainerPort != 9100 || c.Ports[1].Protocol != corev1.ProtocolTCP {
		t.Errorf("container ports = %+v, want http 8080/TCP and metrics 9100/TCP", c.Ports)
	}
	managers := map[string]metav1.ManagedFieldsOperationType{}
	for _, m := range d.ManagedFields {
		managers[m.Manager] = m.Operation
	}
	if managers["easyservice-controller"] != metav1.ManagedFieldsOperationApply {
		t.Errorf("Deployment managers = %v, want easyservice-controller applying", managers)
	}

	s := waitService(t, ns, "web", "created", func(*corev1.Service) bool { return true })
	if !controlledBy(s, es) || fmt.Sprint(s.Labels) != fmt.Sprint(labels) || fmt.Sprint(s.Spec.Selector) != fmt.Sprint(labels) {
		t.Errorf("Service metadata %+v, selector %v", s.ObjectMeta, s.Spec.Selector)
	}
	if s.Spec.Type != corev1.ServiceTypeNodePort || len(s.Spec.Ports) != 2 {
		t.Fatalf("Service spec = %+v", s.Spec)
	}
	http, metrics := s.Spec.Ports[0], s.Spec.Ports[1]
	if http.Name != "http" || http.Port != 80 || http.TargetPort != intstr.FromInt32(8080) || http.Protocol != corev1.ProtocolTCP || http.NodePort == 0 {
		t.Errorf("Service port http = %+v, want 80→8080/TCP with an allocated nodePort", http)
	}
	if metrics.Name != "metrics" || metrics.TargetPort != intstr.FromInt32(9100) || metrics.AppProtocol == nil || *metrics.AppProtocol != "http" {
		t.Errorf("Service port metrics = %+v", metrics)
	}

	es = waitReady(t, ns, "web")
	if want := "app.kubernetes.io/instance=web,app.kubernetes.io/managed-by=easyservice,app.kubernetes.io/name=web"; es.Status.Selector != want {
		t.Errorf("status.selector = %q, want %q", es.Status.Selector, want)
	}
	for _, ct := range []string{"Available", "Progressing"} {
		if c := meta.FindStatusCondition(es.Status.Conditions, ct); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != es.Generation {
			t.Errorf("condition %s = %+v, want True for generation %d", ct, c, es.Generation)
		}
	}
	out := kubectl(t, "", "get", "--namespace="+ns, "esvc", "web", "--no-headers")
	if !strings.HasPrefix(strings.Join(strings.Fields(out), " "), "web 2/2 2 2 nginx:1.27") {
		t.Errorf("kubectl get esvc web = %q", out)
	}
	waitEvent(t, ns, "web", "Normal/DeploymentCreated")
	waitEvent(t, ns, "web", "Normal/ServiceCreated")

	// Steady state: no more writes to the children, no events beyond the creations.
	dBefore, sBefore := d.ManagedFields, s.ResourceVersion
	time.Sleep(5 * time.Second)
	d = waitDeployment(t, ns, "web", "unchanged", func(*appsv1.Deployment) bool { return true })
	if fmt.Sprint(managedTime(d.ManagedFields, "easyservice-controller")) != fmt.Sprint(managedTime(dBefore, "easyservice-controller")) {
		t.Errorf("the controller applied the Deployment again with nothing to change")
	}
	if s := waitService(t, ns, "web", "unchanged", func(*corev1.Service) bool { return true }); s.ResourceVersion != sBefore {
		t.Errorf("the Service changed from resourceVersion %s to %s with nothing to change", sBefore, s.ResourceVersion)
	}
	if reasons := eventReasons(t.Context(), t, ns, "web"); len(reasons) != 2 {
		t.Errorf("events = %v, want only DeploymentCreated and ServiceCreated", reasons)
	}
}

func managedTime(entries []metav1.ManagedFieldsEntry, manager string) *metav1.Time {
	for _, m := range entries {
		if m.Manager == manager && m.Subresource == "" {
			return m.Time
		}
	}
	return nil
}

// TestControllerRollsOutChanges: image and replicas changes of the EasyService, including kubectl
// scale on it, reach the Deployment and roll through to the status.
func TestControllerRollsOutChanges(t *testing.T) {
	ns := createNamespace(t, "ctrl-update")
	n := "--namespace=" + ns
	kubectl(t, webManifest, "apply", n, "-f", "-")
	waitReady(t, ns, "web")

	kubectl(t, "", "patch", n, "esvc", "web", "--type=merge", "-p", `{"spec":{"image":"nginx:1.28"}}`)
	waitDeployment(t, ns, "web", "image nginx:1.28", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Spec.Containers[0].Image == "nginx:1.28"
	})
	es := waitReady(t, ns, "web")
	if es.Generation != 2 || es.Status.ObservedGeneration != 2 {
		t.Errorf("generation %d, observedGeneration %d; want 2", es.Generation, es.Status.ObservedGeneration)
	}
	waitEvent(t, ns, "web", "Normal/DeploymentUpdated")

	out := kubectl(t, "", "scale", n, "esvc", "web", "--replicas=3")
	if !strings.Contains(out, "scaled") {
		t.Errorf("kubectl scale = %q", out)
	}
	waitDeployment(t, ns, "web", "3 replicas", func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 3 })
	if es := waitReady(t, ns, "web"); es.Status.ReadyReplicas != 3 {
		t.Errorf("readyReplicas = %d, want 3", es.Status.ReadyReplicas)
	}
	// The scale subresource reports the status back.
	if out := kubectl(t, "", "get", n, "--raw", "/apis/app.easyservice.io/v1/namespaces/"+ns+"/easyservices/web/scale"); !strings.Contains(out, `"replicas":3`) {
		t.Errorf("scale = %s", out)
	}

	// A port added: the Service gets it, and the ports it had keep the nodePorts the cluster
	// allocated (the controller's apply leaves nodePort to the cluster unless the spec names one).
	allocated := nodePorts(waitService(t, ns, "web", "two ports", func(s *corev1.Service) bool { return len(s.Spec.Ports) == 2 }))
	withAdmin := strings.Replace(webManifest, "  serviceType:", "  - {name: admin, port: 8081}\n  serviceType:", 1)
	kubectl(t, withAdmin, "apply", n, "-f", "-")
	s := waitService(t, ns, "web", "the port admin added", func(s *corev1.Service) bool { return len(s.Spec.Ports) == 3 })
	for name, port := range allocated {
		if got := nodePorts(s)[name]; got != port {
			t.Errorf("port %s: nodePort %d after a port was added, was %d", name, got, port)
		}
	}
}

// nodePorts returns the nodePort of each of the Service's ports, by port name.
func nodePorts(s *corev1.Service) map[string]int32 {
	ports := map[string]int32{}
	for _, p := range s.Spec.Ports {
		ports[p.Name] = p.NodePort
	}
	return ports
}

// TestControllerRepairsDrift: deleted children come back, edits to the fields the controller owns
// are undone, and what others add survives.
func TestControllerRepairsDrift(t *testing.T) {
	ns := createNamespace(t, "ctrl-drift")
	n := "--namespace=" + ns
	kubectl(t, webManifest, "apply", n, "-f", "-")
	es := waitReady(t, ns, "web")
	d := waitDeployment(t, ns, "web", "created", func(*appsv1.Deployment) bool { return true })
	s := waitService(t, ns, "web", "created", func(*corev1.Service) bool { return true })

	kubectl(t, "", "delete", n, "deployment", "web")
	waitDeployment(t, ns, "web", "recreated", func(recreated *appsv1.Deployment) bool {
		return recreated.UID != d.UID && controlledBy(recreated, es)
	})
	kubectl(t, "", "delete", n, "service", "web")
	waitService(t, ns, "web", "recreated", func(recreated *corev1.Service) bool {
		return recreated.UID != s.UID && controlledBy(recreated, es)
	})
	waitReady(t, ns, "web")

	// Someone else's labels and annotations are kept through the repairs below.
	for _, child := range []string{"deployment", "service"} {
		kubectl(t, "", "label", n, child, "web", "team=blue")
		kubectl(t, "", "annotate", n, child, "web", "note=kept")
	}

	kubectl(t, "", "set", "image", n, "deployment/web", "web=evil:1")
	waitDeployment(t, ns, "web", "image restored", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Spec.Containers[0].Image == "nginx:1.27"
	})
	kubectl(t, "", "scale", n, "deployment", "web", "--replicas=5")
	waitDeployment(t, ns, "web", "replicas restored", func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 2 })
	allocated := nodePorts(waitService(t, ns, "web", "before the port's edit", func(*corev1.Service) bool { return true }))
	kubectl(t, "", "patch", n, "service", "web", "--type=json", "-p", `[{"op":"replace","path":"/spec/ports/0/targetPort","value":9999}]`)
	restored := waitService(t, ns, "web", "targetPort restored", func(s *corev1.Service) bool {
		return s.Spec.Ports[0].TargetPort == intstr.FromInt32(8080)
	})
	if got := nodePorts(restored); !maps.Equal(got, allocated) {
		t.Errorf("nodePorts %v after the port's repair, were %v", got, allocated)
	}
	kubectl(t, "", "patch", n, "service", "web", "--type=json", "-p", `[{"op":"replace","path":"/spec/type","value":"ClusterIP"}]`)
	waitService(t, ns, "web", "type restored", func(s *corev1.Service) bool {
		return s.Spec.Type == corev1.ServiceTypeNodePort && s.Spec.Ports[0].NodePort != 0
	})

	d = waitDeployment(t, ns, "web", "labels", func(*appsv1.Deployment) bool { return true })
	if d.Labels["team"] != "blue" || d.Annotations["note"] != "kept" {
		t.Errorf("the Deployment lost others' metadata: labels %v, annotations %v", d.Labels, d.Annotations)
	}
	s = waitService(t, ns, "web", "labels", func(*corev1.Service) bool { return true })
	if s.Labels["team"] != "blue" || s.Annotations["note"] != "kept" {
		t.Errorf("the Service lost others' metadata: labels %v, annotations %v", s.Labels, s.Annotations)
	}
	waitReady(t, ns, "web")
}

// TestControllerForeignDeployment: a Deployment of the EasyService's name that it does not control
// is reported and left alone; the EasyService converges once it is deleted.
func TestControllerForeignDeployment(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "ctrl-foreign")
	n := "--namespace=" + ns
	kubectl(t, "", "create", "deployment", n, "web", "--image=busybox:1.36", "--replicas=1")
	foreign, err := plane.kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	kubectl(t, webManifest, "apply", n, "-f", "-")
	ready := waitReadyReason(t, ns, "web", "ResourceExists")
	if ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, "Deployment "+ns+"/web") {
		t.Errorf("Ready = %+v, want False naming Deployment %s/web", ready, ns)
	}
	waitEvent(t, ns, "web", "Warning/ResourceExists")
	// The Service is still made.
	es := getEasyService(ctx, t, ns, "web")
	waitService(t, ns, "web", "created", func(s *corev1.Service) bool { return controlledBy(s, es) })

	time.Sleep(3 * time.Second)
	d, err := plane.kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != foreign.Generation || len(d.OwnerReferences) != 0 || d.Spec.Template.Spec.Containers[0].Image != "busybox:1.36" {
		t.Errorf("the foreign Deployment was changed: generation %d→%d, owners %v, image %s",
			foreign.Generation, d.Generation, d.OwnerReferences, d.Spec.Template.Spec.Containers[0].Image)
	}

	kubectl(t, "", "delete", n, "deployment", "web")
	waitDeployment(t, ns, "web", "made by the EasyService", func(d *appsv1.Deployment) bool { return controlledBy(d, es) })
	waitReady(t, ns, "web")
}

// freeNodePort is a node port that no Service of the cluster has and no EasyService asks for, at
// random in kube-apiserver's --service-node-port-range (local-up keeps the default, 30000-32767).
func freeNodePort(t *testing.T) int32 {
	t.Helper()
	const first, last = 30000, 32767
	taken := map[int32]bool{}
	services, err := plane.kube.CoreV1().Services("").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services.Items {
		for _, p := range s.Spec.Ports {
			taken[p.NodePort] = true
		}
	}
	// An EasyService whose Service is yet to be made.
	easyServices, err := plane.es.AppV1().EasyServices("").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, es := range easyServices.Items {
		for _, p := range es.Spec.Ports {
			taken[p.NodePort] = true
		}
	}
	var free []int32
	for p := int32(first); p <= last; p++ {
		if !taken[p] {
			free = append(free, p)
		}
	}
	if len(free) == 0 {
		t.Fatalf("every node port in %d-%d is taken", first, last)
	}
	return free[rand.IntN(len(free))]
}

// TestControllerDeletion: deleting an EasyService deletes its children through the garbage
// collector, in the background or in the foreground; an orphaning delete leaves them without owner,
// and an EasyService of the same name then does not adopt them.
func TestControllerDeletion(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "ctrl-delete")
	n := "--namespace=" + ns
	childrenGone := func(name string) {
		t.Helper()
		waitGone(t, "Deployment "+name, func(ctx context.Context) error {
			_, err := plane.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			return err
		})
		waitGone(t, "Service "+name, func(ctx context.Context) error {
			_, err := plane.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
			return err
		})
	}

	for _, cascade := range []string{"background", "foreground"} {
		name := "web-" + cascade
		kubectl(t, strings.Replace(webManifest, "name: web\n", "name: "+name+"\n", 1), "apply", n, "-f", "-")
		waitReady(t, ns, name)
		kubectl(t, "", "delete", n, "esvc", name, "--cascade="+cascade, "--wait=true", "--timeout=90s")
		childrenGone(name)
		// The garbage collector deletes the ReplicaSets and then the pods after the Deployment
		// (at once for a background cascade): every pod must end up deleted or terminating.
		eventually(t, convergeTimeout, "the pods of "+name+" to be deleted", func(ctx context.Context) (bool, string) {
			pods, err := plane.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name})
			if err != nil {
				return false, err.Error()
			}
			var left []string
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil {
					left = append(left, p.Name)
				}
			}
			return len(left) == 0, fmt.Sprintf("%s cascade left pods %v", cascade, left)
		})
	}

	kubectl(t, webManifest, "apply", n, "-f", "-")
	es := waitReady(t, ns, "web")
	kubectl(t, "", "delete", n, "esvc", "web", "--cascade=orphan", "--wait=true", "--timeout=90s")
	orphaned := func(obj metav1.Object) bool {
		for _, ref := range obj.GetOwnerReferences() {
			if ref.UID == es.UID {
				return false
			}
		}
		return true
	}
	d := waitDeployment(t, ns, "web", "orphaned", func(d *appsv1.Deployment) bool { return orphaned(d) })
	waitService(t, ns, "web", "orphaned", func(s *corev1.Service) bool { return orphaned(s) })

	// A new EasyService web does not adopt the orphans.
	kubectl(t, webManifest, "apply", n, "-f", "-")
	ready := waitReadyReason(t, ns, "web", "ResourceExists")
	if !strings.Contains(ready.Message, "Deployment "+ns+"/web") || !strings.Contains(ready.Message, "Service "+ns+"/web") {
		t.Errorf("Ready = %+v, want both children named", ready)
	}
	if again, err := plane.kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || len(again.OwnerReferences) != 0 || again.UID != d.UID {
		t.Errorf("the orphaned Deployment was adopted or replaced: %v %+v", err, again.OwnerReferences)
	}
	// Deleting the orphans lets it converge: their delete events lead back to it.
	kubectl(t, "", "delete", n, "deployment,service", "web")
	newES := getEasyService(ctx, t, ns, "web")
	waitDeployment(t, ns, "web", "made by the new EasyService", func(d *appsv1.Deployment) bool { return controlledBy(d, newES) })
	waitReady(t, ns, "web")
}

// TestControllerNamespaceDeletion: a namespace with an EasyService and its children is deleted
// completely, although the controller recreates children while the namespace controller works.
func TestControllerNamespaceDeletion(t *testing.T) {
	ns := createNamespace(t, "ctrl-nsdelete")
	kubectl(t, webManifest, "apply", "--namespace="+ns, "-f", "-")
	waitReady(t, ns, "web")
	kubectl(t, "", "delete", "namespace", ns, "--wait=false")
	eventually(t, 2*time.Minute, "namespace "+ns+" to be deleted", func(ctx context.Context) (bool, string) {
		nsObj, err := plane.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("%+v", nsObj.Status)
	})
}

// candidateServer is an extra easyservice-apiserver process on the plane's etcd, for the leader
// election test.
type candidateServer struct {
	name string
	port int
	cmd  *exec.Cmd
	log  string
}

// startCandidate runs another easyservice-apiserver against the plane's etcd and cluster, standing
// for the election of lease, with the flags after the ones it always sets.
func startCandidate(t *testing.T, name, lease string, flags ...string) *candidateServer {
	t.Helper()
	env := plane.env
	if env["ES_ETCD_CLIENT_PORT"] == "" {
		t.Fatalf("%s/env sets no ES_ETCD_CLIENT_PORT", plane.dir)
	}
	bin := filepath.Join(plane.root, "_output", "bin", "easyservice-apiserver")
	port := freePorts(t, 1)[0]

	work := t.TempDir()
	c := &candidateServer{name: name, port: port, log: filepath.Join(work, name+".log")}
	logFile, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, append([]string{
		"--etcd-servers=http://127.0.0.1:" + env["ES_ETCD_CLIENT_PORT"],
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(work, "certs"),
		"--kubeconfig=" + plane.kubeconfig,
		"--authentication-kubeconfig=" + plane.kubeconfig,
		"--authorization-kubeconfig=" + plane.kubeconfig,
		"--leader-elect-resource-name=" + lease,
		"--leader-elect-lease-duration=4s",
		"--leader-elect-renew-deadline=3s",
		"--leader-elect-retry-period=500ms",
		"--shutdown-delay-duration=0s",
		"--shutdown-watch-termination-grace-period=1s",
		"-v=2",
	}, flags...)...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(c.log)
			t.Logf("log of %s:\n%s", name, tail(string(out), 60))
		}
	})
	// Ready includes the controller's informers, in every replica, leader or not (unless the
	// controller is off).
	controller := !slices.Contains(flags, "--enable-controller=false")
	eventually(t, convergeTimeout, name+" to be ready", func(ctx context.Context) (bool, string) {
		code, body, err := c.get(ctx, "/readyz?verbose")
		return err == nil && code == http.StatusOK && (!controller || strings.Contains(body, "[+]easyservice-controller-informers ok")),
			fmt.Sprintf("%d %v %s", code, err, body)
	})
	return c
}

// config is the plane's admin config for the candidate's port. The candidate's serving
// certificate is self-signed (in its --cert-dir): it is not verified.
func (c *candidateServer) config() *rest.Config {
	cfg := rest.CopyConfig(plane.config)
	cfg.Host = fmt.Sprintf("https://127.0.0.1:%d", c.port)
	cfg.Insecure, cfg.CAData, cfg.CAFile = true, nil, ""
	return cfg
}

// easyServices is a client of the EasyServices the candidate serves (from the plane's etcd).
func (c *candidateServer) easyServices(t *testing.T) clientset.Interface {
	t.Helper()
	es, err := clientset.NewForConfig(c.config())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// get requests path from the candidate with the plane's admin credentials.
func (c *candidateServer) get(ctx context.Context, path string) (int, string, error) {
	tlsConfig, err := rest.TLSConfigFor(c.config())
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 10 * time.Second}
	return httpGet(ctx, client, fmt.Sprintf("https://127.0.0.1:%d%s", c.port, path))
}

// reconciles returns the candidate's count of successful syncs.
func (c *candidateServer) reconciles(ctx context.Context, t *testing.T) int {
	t.Helper()
	return c.reconcileCount(ctx, t, "success")
}

// reconcileCount returns the candidate's count of syncs with the result (success or error).
func (c *candidateServer) reconcileCount(ctx context.Context, t *testing.T, result string) int {
	t.Helper()
	code, body, err := c.get(ctx, "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("metrics of %s: %d %v", c.name, code, err)
	}
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, `easyservice_controller_reconciles_total{result="`+result+`"} `); ok {
			n, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	return 0
}

// leading returns the identity the candidate logged when it started leading, "" if it has not.
func (c *candidateServer) leading(t *testing.T) string {
	t.Helper()
	out, err := os.ReadFile(c.log)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"Started leading".* identity="([^"]+)"`).FindStringSubmatch(string(out))
	if m == nil {
		return ""
	}
	return m[1]
}

// TestControllerLeaderElection: two servers on one etcd stand for one Lease; only the holder
// reconciles, and when it dies the other takes over. (They use their own Lease, so that the plane's
// own server, which leads the default one, keeps running.)
func TestControllerLeaderElection(t *testing.T) {
	ctx := t.Context()
	ns := createNamespace(t, "ctrl-leader")
	kubectl(t, webManifest, "apply", "--namespace="+ns, "-f", "-")
	waitReady(t, ns, "web")

	lease := fmt.Sprintf("e2e-leader-%d", rand.IntN(1_000_000))
	t.Cleanup(func() {
		_ = plane.kube.CoordinationV1().Leases("easyservice-system").Delete(context.Background(), lease, metav1.DeleteOptions{})
	})
	a := startCandidate(t, "a", lease)
	b := startCandidate(t, "b", lease)

	var leader, follower *candidateServer
	eventually(t, convergeTimeout, "a leader", func(context.Context) (bool, string) {
		switch {
		case a.leading(t) != "":
			leader, follower = a, b
		case b.leading(t) != "":
			leader, follower = b, a
		}
		return leader != nil, ""
	})
	identity := leader.leading(t)
	l, err := plane.kube.CoordinationV1().Leases("easyservice-system").Get(ctx, lease, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != identity {
		t.Fatalf("Lease %s = %+v, %v; want held by %s", lease, l, err, identity)
	}
	// A term starts by syncing every EasyService: the leader reconciles, the follower does not.
	eventually(t, convergeTimeout, leader.name+" to reconcile", func(ctx context.Context) (bool, string) {
		n := leader.reconciles(ctx, t)
		return n > 0, fmt.Sprintf("%d reconciles", n)
	})
	kubectl(t, "", "scale", "--namespace="+ns, "esvc", "web", "--replicas=3")
	waitReady(t, ns, "web")
	if n := follower.reconciles(ctx, t); n != 0 {
		t.Errorf("the follower %s reconciled %d times", follower.name, n)
	}
	if follower.leading(t) != "" {
		t.Errorf("the follower %s started leading", follower.name)
	}

	// The leader dies without releasing the Lease: the follower takes over once it expires.
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	eventually(t, convergeTimeout, follower.name+" to lead", func(context.Context) (bool, string) {
		return follower.leading(t) != "", ""
	})
	eventually(t, convergeTimeout, follower.name+" to reconcile", func(ctx context.Context) (bool, string) {
		n := follower.reconciles(ctx, t)
		return n > 0, fmt.Sprintf("%d reconciles", n)
	})
	l, err = plane.kube.CoordinationV1().Leases("easyservice-system").Get(ctx, lease, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != follower.leading(t) {
		t.Errorf("Lease %s = %+v, %v; want held by %s", lease, l, err, follower.leading(t))
	}
}

// BenchmarkControllerCreateToReady creates 20 EasyServices at once and measures the time until all
// their Deployments and Services exist, and until all are Ready (kwok runs the pods at once), per
// batch. Run it with:
//
//	go test ./test/e2e/ -run '^$' -bench ControllerCreateToReady -benchtime 3x
func BenchmarkControllerCreateToReady(b *testing.B) {
	const n = 20
	ctx := b.Context()
	var toChildren, toReady time.Duration
	for b.Loop() {
		b.StopTimer()
		ns, err := plane.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "ctrl-bench-"}}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = plane.kube.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		})
		b.StartTimer()

		start := time.Now()
		for i := range n {
			es := &v1.EasyService{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i)},
				Spec: v1.EasyServiceSpec{Image: "nginx:1.27", Ports: []v1.EasyServicePort{{Port: 80}},
					ServiceType: corev1.ServiceTypeClusterIP},
			}
			if _, err := plane.es.AppV1().EasyServices(ns.Name).Create(ctx, es, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		poll := func(done func(ctx context.Context) (bool, error)) time.Duration {
			if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Minute, true, done); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		toChildren += poll(func(ctx context.Context) (bool, error) {
			deployments, err := plane.kube.AppsV1().Deployments(ns.Name).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			services, err := plane.kube.CoreV1().Services(ns.Name).List(ctx, metav1.ListOptions{})
			return err == nil && len(deployments.Items) == n && len(services.Items) == n, err
		})
		toReady += poll(func(ctx context.Context) (bool, error) {
			list, err := plane.es.AppV1().EasyServices(ns.Name).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, es := range list.Items {
				if !meta.IsStatusConditionTrue(es.Status.Conditions, "Ready") {
					return false, nil
				}
			}
			return len(list.Items) == n, nil
		})
	}
	b.ReportMetric(toChildren.Seconds()/float64(b.N), "s-to-children/op")
	b.ReportMetric(toReady.Seconds()/float64(b.N), "s-to-ready/op")
}
