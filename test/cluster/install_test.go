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

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	// installNamespace is where artifacts/deploy installs.
	installNamespace = "easyservice-system"
	serverName       = "easyservice-apiserver"
	etcdName         = "easyservice-etcd"
	// etcdHAOverlay is artifacts/deploy/overlays/etcd-ha for a one-node cluster (see its
	// kustomization.yaml), relative to the repository's root.
	etcdHAOverlay = "test/cluster/testdata/etcd-ha-one-node"

	// Generous: the machine is small and shared, and a pod start includes its image's first use.
	readyTimeout = 5 * time.Minute
)

// apiServiceNames are the install's APIServices.
var apiServiceNames = []string{"v1.app.easyservice.io", "v1beta1.app.easyservice.io"}

// TestInstall installs EasyService into the real node as the README tells a user, step by step (each
// step needs the ones before it):
//   - the images: the server's from make image (TestServerImage builds it), the web app and etcd,
//     loaded into the node with hack/local/load-image.sh under the names the install uses;
//   - make deploy: etcd's StatefulSet on a bound PersistentVolumeClaim, two server replicas Ready by
//     the kubelet's probes, both APIServices Available through the in-cluster Service, the server
//     only in its pods;
//   - an EasyService of the web app: a Deployment and a NodePort Service whose pods answer on the
//     node; scaled to 3, three pods answer;
//   - under the fault harness's load (faults_test.go): a server pod deleted, then kubectl rollout
//     restart, with no request failing;
//   - make undeploy: nothing of the install left, in the API or on the node;
//   - the etcd-ha overlay, a fresh install with three etcd members; under load, the etcd leader's
//     pod deleted, with no acknowledged write lost.
func TestInstall(t *testing.T) {
	requirePlane(t)
	in := &install{root: repoRoot(t)}
	if plane.kept {
		// local-down takes everything away, but a kept plane needs the install gone for the next run.
		t.Cleanup(func() { in.uninstall(t) })
	}
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"images into the node", in.loadImages},
		{"make deploy", in.deploy},
		{"EasyService on real pods", in.easyService},
		{"server pod deleted under load", in.deleteServerPod},
		{"rollout restart under load", in.rolloutRestart},
		{"make undeploy", in.undeploy},
		{"etcd-ha overlay", in.etcdHA},
		{"etcd leader's pod deleted under load", in.deleteEtcdMember},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.Fatalf("%s failed; the steps after it need it", step.name)
		}
	}
}

// install is what TestInstall's steps share.
type install struct {
	root string
	// webapp is the reference of the web app's image (hack/images.sh webapp).
	webapp string
	// namespaces are the tests' namespaces with EasyServices: deleted before the uninstall.
	namespaces []string
}

// loadImages loads the server image (make image's), the web app's and etcd's into the node, and
// checks that the node has every image the install's pods name.
func (in *install) loadImages(t *testing.T) {
	server, serverTar := serverImage(t)
	images := map[string][2]string{}
	for line := range strings.Lines(runScript(t, in.root, nil, filepath.Join(in.root, "hack", "images.sh"), "webapp", "etcd")) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("hack/images.sh webapp etcd printed %q, want \"<image> <reference> <tarball>\"", line)
		}
		images[f[0]] = [2]string{f[1], f[2]}
	}
	in.webapp = images["webapp"][0]
	if in.webapp == "" || images["etcd"][0] == "" {
		t.Fatalf("hack/images.sh webapp etcd printed %v", images)
	}
	runUser(t, "hack/local/load-image.sh", serverTar, images["webapp"][1], images["etcd"][1])

	// Every image the install's pods run (as kustomize renders them), as the kubelet looks it up.
	podImages := sets.New[string]()
	for _, obj := range render(t, "artifacts/deploy/base") {
		spec := podSpecOf(t, obj)
		if spec == nil {
			continue
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			podImages.Insert(c.Image)
			if c.ImagePullPolicy == corev1.PullAlways {
				t.Errorf("%s %s: container %s pulls its image always: no registry is reachable", obj.GetKind(), obj.GetName(), c.Name)
			}
		}
	}
	if !podImages.Has(server) {
		t.Errorf("the install runs the images %v, not make image's %s", sets.List(podImages), server)
	}
	for _, image := range sets.List(podImages) {
		var status struct {
			Status struct {
				RepoTags []string `json:"repoTags"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(crictl(t, "inspecti", "-o", "json", image)), &status); err != nil {
			t.Fatalf("crictl inspecti %s: %v", image, err)
		}
		t.Logf("in the node: %s as %v", image, status.Status.RepoTags)
	}
}

// deploy runs make deploy and checks the install on the node.
func (in *install) deploy(t *testing.T) {
	waitNamespaceGone(t, installNamespace) // a plane of CLUSTER_LOCAL_UP_DIR may still be deleting one
	runUser(t, "make", "deploy")
	checkInstall(t, 1)
	t.Run("the server runs only in its pods", func(t *testing.T) {
		checkServerProcesses(t, 2)
	})
	t.Run("served through kube-apiserver", func(t *testing.T) {
		out := kubectl(t, "", "api-resources", "--api-group=app.easyservice.io", "-o", "name")
		if !strings.Contains(out, "easyservices.app.easyservice.io") {
			t.Errorf("kubectl api-resources --api-group=app.easyservice.io: %q", out)
		}
		kubectl(t, "", "get", "easyservices", "--all-namespaces")
	})
	// What the README's install shows.
	for _, args := range [][]string{
		slices.Concat([]string{"get", "apiservice"}, apiServiceNames),
		{"--namespace", installNamespace, "get", "pods,pvc"},
	} {
		t.Logf("$ kubectl %s\n%s", strings.Join(args, " "), kubectl(t, "", args...))
	}
	if t.Failed() {
		// Why the pods are not Ready, when the node says so (DiskPressure, evictions, pulls, probes).
		for _, args := range [][]string{
			{"get", "nodes", "-o", "custom-columns=NAME:.metadata.name,CONDITIONS:.status.conditions[?(@.status==\"True\")].type"},
			{"--namespace", installNamespace, "get", "events", "--field-selector", "type=Warning"},
		} {
			t.Logf("$ kubectl %s\n%s", strings.Join(args, " "), kubectl(t, "", args...))
		}
	}
}

// checkInstall checks a running install with etcdMembers etcd members: etcd's pods Ready with their
// data on bound PersistentVolumeClaims, two server replicas Ready, both APIServices Available, and
// the APIServices' Service routing to the server pods (EndpointSlices of pod IPs, none of FQDN).
func checkInstall(t *testing.T, etcdMembers int) {
	t.Helper()
	t.Run("etcd", func(t *testing.T) { checkEtcd(t, etcdMembers) })
	t.Run("servers", checkServers)
	t.Run("APIServices", checkAPIServices)
	t.Run("Service and EndpointSlices", checkServerEndpoints)
}

// checkEtcd: the StatefulSet's members Running and Ready, each on a bound PersistentVolumeClaim of
// the default StorageClass whose local volume holds the member's data.
func checkEtcd(t *testing.T, members int) {
	waitFor(t, readyTimeout, fmt.Sprintf("%d etcd members Ready", members), func(ctx context.Context) (bool, string) {
		sts, err := plane.kube.AppsV1().StatefulSets(installNamespace).Get(ctx, etcdName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := sts.Status
		return *sts.Spec.Replicas == int32(members) && s.ReadyReplicas == int32(members) && s.ObservedGeneration == sts.Generation,
			fmt.Sprintf("spec.replicas %d, status %+v", *sts.Spec.Replicas, s)
	})
	ctx := t.Context()
	pods := podsOf(t, etcdName)
	if len(pods) != members {
		t.Fatalf("%d etcd pods, want %d", len(pods), members)
	}
	for _, pod := range pods {
		if !podReady(&pod) {
			t.Errorf("pod %s: phase %s, not Ready", pod.Name, pod.Status.Phase)
		}
		var claim string
		for _, v := range pod.Spec.Volumes {
			if v.Name == "data" && v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		if claim == "" {
			t.Errorf("pod %s has no data volume from a PersistentVolumeClaim", pod.Name)
			continue
		}
		pvc, err := plane.kube.CoreV1().PersistentVolumeClaims(installNamespace).Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			t.Errorf("PersistentVolumeClaim %s: %s, want Bound", claim, pvc.Status.Phase)
			continue
		}
		pv, err := plane.kube.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pv.Spec.Local == nil {
			t.Errorf("PersistentVolume %s is not the plane's local volume", pv.Name)
			continue
		}
		// etcd wrote its data to the volume: --data-dir=/var/lib/etcd/data, the volume's root being
		// /var/lib/etcd (writable by the nonroot member thanks to fsGroup).
		member := filepath.Join(pv.Spec.Local.Path, "data", "member")
		if fi, err := os.Stat(member); err != nil || !fi.IsDir() {
			t.Errorf("pod %s: no etcd data on its volume %s (%s): %v", pod.Name, pv.Name, member, err)
		}
		t.Logf("%s: Ready; PersistentVolumeClaim %s Bound to %s (StorageClass %q, %s)", pod.Name, claim, pv.Name,
			ptrValue(pvc.Spec.StorageClassName), pv.Spec.Local.Path)
	}
}

// checkServers: the Deployment's two replicas Ready (the kubelet's startup and readiness probes on
// the server's HTTPS port passed), none restarted.
func checkServers(t *testing.T) {
	waitDeploymentReady(t, installNamespace, serverName, 2)
	pods := podsOf(t, serverName)
	if len(pods) != 2 {
		t.Fatalf("%d server pods, want 2", len(pods))
	}
	for _, pod := range pods {
		if !podReady(&pod) {
			t.Errorf("pod %s: not Ready", pod.Name)
		}
		for _, c := range pod.Status.ContainerStatuses {
			if c.RestartCount != 0 {
				t.Errorf("pod %s: container %s restarted %d times (last state %+v)", pod.Name, c.Name, c.RestartCount, c.LastTerminationState)
			}
		}
		t.Logf("%s: Ready on %s, %s", pod.Name, pod.Spec.NodeName, pod.Status.PodIP)
	}
}

// checkAPIServices: both APIServices Available, pointing at the install's Service.
func checkAPIServices(t *testing.T) {
	rc := plane.kube.Discovery().RESTClient()
	for _, name := range apiServiceNames {
		var last string
		waitFor(t, readyTimeout, "APIService "+name+" Available", func(ctx context.Context) (bool, string) {
			raw, err := rc.Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices/" + name).DoRaw(ctx)
			if err != nil {
				return false, err.Error()
			}
			var as struct {
				Spec struct {
					Service *struct {
						Namespace string `json:"namespace"`
						Name      string `json:"name"`
						Port      int32  `json:"port"`
					} `json:"service"`
					InsecureSkipTLSVerify bool   `json:"insecureSkipTLSVerify"`
					CABundle              []byte `json:"caBundle"`
				} `json:"spec"`
				Status struct {
					Conditions []metav1.Condition `json:"conditions"`
				} `json:"status"`
			}
			if err := json.Unmarshal(raw, &as); err != nil {
				return false, err.Error()
			}
			s := as.Spec
			if s.Service == nil || s.Service.Namespace != installNamespace || s.Service.Name != serverName || s.Service.Port != 443 {
				t.Fatalf("APIService %s: service %+v, want %s/%s:443", name, s.Service, installNamespace, serverName)
			}
			if s.InsecureSkipTLSVerify || len(s.CABundle) == 0 {
				t.Fatalf("APIService %s: insecureSkipTLSVerify %v, caBundle of %d bytes", name, s.InsecureSkipTLSVerify, len(s.CABundle))
			}
			for _, c := range as.Status.Conditions {
				if c.Type == "Available" {
					last = fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
					return c.Status == metav1.ConditionTrue, last
				}
			}
			return false, fmt.Sprintf("conditions %+v", as.Status.Conditions)
		})
		t.Logf("APIService %s: Available %s", name, last)
	}
}

// checkServerEndpoints: the APIServices' Service has a ClusterIP in the Service CIDR and EndpointSlices
// of the server pods' IPs (kube-apiserver routes to those: --enable-aggregator-routing), and no
// EndpointSlice in the cluster has addressType FQDN (the kwok plane's stand-in for a process on
// 127.0.0.1).
func checkServerEndpoints(t *testing.T) {
	ctx := t.Context()
	svc, err := plane.kube.CoreV1().Services(installNamespace).Get(ctx, serverName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, serviceCIDR, err := net.ParseCIDR(plane.env["SERVICE_CIDR"])
	if err != nil {
		t.Fatalf("SERVICE_CIDR: %v", err)
	}
	if ip := net.ParseIP(svc.Spec.ClusterIP); svc.Spec.Type != corev1.ServiceTypeClusterIP || ip == nil || !serviceCIDR.Contains(ip) {
		t.Errorf("Service %s: type %s, ClusterIP %q, want a ClusterIP in %s", serverName, svc.Spec.Type, svc.Spec.ClusterIP, serviceCIDR)
	}
	_, podCIDR, err := net.ParseCIDR(plane.env["POD_CIDR"])
	if err != nil {
		t.Fatalf("POD_CIDR: %v", err)
	}
	podIPs := sets.New[string]()
	for _, pod := range podsOf(t, serverName) {
		if ip := net.ParseIP(pod.Status.PodIP); ip == nil || !podCIDR.Contains(ip) {
			t.Errorf("pod %s: IP %q outside the node's pod CIDR %s", pod.Name, pod.Status.PodIP, podCIDR)
		}
		podIPs.Insert(pod.Status.PodIP)
	}
	waitFor(t, readyTimeout, "EndpointSlices of the server pods", func(ctx context.Context) (bool, string) {
		slices, err := plane.kube.DiscoveryV1().EndpointSlices(installNamespace).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=" + serverName,
		})
		if err != nil {
			return false, err.Error()
		}
		ready := sets.New[string]()
		for _, s := range slices.Items {
			if s.AddressType != discoveryv1.AddressTypeIPv4 {
				t.Errorf("EndpointSlice %s: addressType %s, want IPv4", s.Name, s.AddressType)
			}
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready.Insert(e.Addresses...)
				}
				if e.TargetRef == nil || e.TargetRef.Kind != "Pod" {
					t.Errorf("EndpointSlice %s: endpoint %v is not a pod's", s.Name, e.Addresses)
				}
			}
		}
		return ready.Equal(podIPs), fmt.Sprintf("ready endpoints %v, server pods %v", sets.List(ready), sets.List(podIPs))
	})
	all, err := plane.kube.DiscoveryV1().EndpointSlices(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all.Items {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			t.Errorf("EndpointSlice %s/%s has addressType FQDN: %+v", s.Namespace, s.Name, s.Endpoints)
		}
	}
}

// easyService creates an EasyService of the web app through kube-apiserver (kubectl apply), checks
// that its pods answer HTTP on the node's NodePort, scales it to 3 (kubectl scale) and checks that
// three pods answer through the Service and its status reports 3 ready.
func (in *install) easyService(t *testing.T) {
	ns := fmt.Sprintf("web-%d", time.Now().UnixNano()%1_000_000)
	kubectl(t, "", "create", "namespace", ns)
	in.namespaces = append(in.namespaces, ns)
	kubectl(t, fmt.Sprintf(`apiVersion: app.easyservice.io/v1
kind: EasyService
metadata:
  name: web
  namespace: %s
spec:
  replicas: 1
  image: %s
  serviceType: NodePort
  ports:
  - port: 8080
`, ns, in.webapp), "apply", "-f", "-")

	nodePort := waitEasyService(t, ns, "web", 1)
	url := fmt.Sprintf("http://%s/", net.JoinHostPort(plane.env["NODE_IP"], fmt.Sprint(nodePort)))
	t.Logf("the Service's NodePort: %s", url)
	waitAnswers(t, url, podNames(t, ns, "web"))

	out := kubectl(t, "", "scale", "easyservice", "web", "--namespace", ns, "--replicas=3")
	t.Logf("$ kubectl scale easyservice web --replicas=3\n%s", out)
	waitEasyService(t, ns, "web", 3)
	pods := podNames(t, ns, "web")
	if pods.Len() != 3 {
		t.Fatalf("pods of web: %v, want 3", sets.List(pods))
	}
	waitAnswers(t, url, pods)
	t.Logf("$ kubectl get easyservice web\n%s", kubectl(t, "", "get", "easyservice", "web", "--namespace", ns))
}

// waitEasyService waits until the EasyService reports replicas ready pods of its generation, its
// Deployment has them, and its Service is a NodePort Service; it returns the NodePort.
func waitEasyService(t *testing.T, ns, name string, replicas int32) int32 {
	t.Helper()
	waitFor(t, readyTimeout, fmt.Sprintf("EasyService %s/%s: %d ready", ns, name, replicas), func(ctx context.Context) (bool, string) {
		es, err := plane.es.AppV1().EasyServices(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := es.Status
		ready := false
		for _, c := range s.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == metav1.ConditionTrue && c.ObservedGeneration == es.Generation)
		}
		return s.ObservedGeneration == es.Generation && s.Replicas == replicas && s.ReadyReplicas == replicas &&
				s.AvailableReplicas == replicas && s.UpdatedReplicas == replicas && ready,
			fmt.Sprintf("generation %d, status %+v", es.Generation, s)
	})
	waitDeploymentReady(t, ns, name, replicas)
	ctx := t.Context()
	dep, err := plane.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := plane.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for kind, obj := range map[string]metav1.Object{"Deployment": dep, "Service": svc} {
		if ref := metav1.GetControllerOf(obj); ref == nil || ref.Kind != "EasyService" || ref.Name != name {
			t.Errorf("%s %s/%s: controller %+v, want the EasyService %s", kind, ns, obj.GetName(), ref, name)
		}
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("Service %s/%s: type %s, ports %+v: want one NodePort", ns, name, svc.Spec.Type, svc.Spec.Ports)
	}
	return svc.Spec.Ports[0].NodePort
}

// waitAnswers sends GET url until every pod of pods has answered (the web app answers with its
// host name, the pod's name), each on a new connection so that kube-proxy picks an endpoint anew.
// Every answer must be the web app's, from one of pods.
func waitAnswers(t *testing.T, url string, pods sets.Set[string]) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[string]int{}
	requests := 0
	waitFor(t, 2*time.Minute, fmt.Sprintf("answers on %s from each of %v", url, sets.List(pods)), func(ctx context.Context) (bool, string) {
		requests++
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error()
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return false, err.Error()
		}
		host, ok := strings.CutPrefix(strings.TrimSpace(string(body)), "easyservice webapp\nhostname: ")
		if resp.StatusCode != http.StatusOK || !ok || !pods.Has(host) {
			t.Fatalf("GET %s: %d %q: want 200 from one of the pods %v", url, resp.StatusCode, body, sets.List(pods))
		}
		seen[host]++
		return len(seen) == pods.Len(), fmt.Sprintf("answers by pod: %v", seen)
	})
	t.Logf("GET %s: %d requests answered by %v", url, requests, seen)
}

// undeploy deletes the tests' namespaces (their EasyServices, and the children), runs make undeploy,
// and checks that nothing of the install is left: no object of artifacts/deploy, no pod of it in the
// API or on the node.
func (in *install) undeploy(t *testing.T) {
	kubectl(t, "", slices.Concat([]string{"delete", "namespace", "--ignore-not-found"}, in.namespaces)...)
	in.namespaces = nil
	runUser(t, "make", "undeploy")
	checkUninstalled(t, "artifacts/deploy")
}

// uninstall deletes the tests' namespaces and whichever install is there, as make undeploy does
// (APIServices first), without waiting.
func (in *install) uninstall(t *testing.T) {
	commands := [][]string{
		slices.Concat([]string{"delete", "apiservice", "--ignore-not-found"}, apiServiceNames),
		{"delete", "-k", filepath.Join(in.root, etcdHAOverlay), "--ignore-not-found", "--wait=false"},
	}
	if len(in.namespaces) > 0 {
		commands = slices.Insert(commands, 0, slices.Concat([]string{"delete", "namespace", "--ignore-not-found", "--wait=false"}, in.namespaces))
	}
	for _, args := range commands {
		if out, err := kubectlResult("", args...); err != nil {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// checkUninstalled checks that no object of the kustomization (relative to the repository's root)
// exists any more, and that no pod of the install's namespace exists or runs on the node.
func checkUninstalled(t *testing.T, kustomization string) {
	t.Helper()
	ctx := t.Context()
	if out := kubectl(t, "", "get", "-k", filepath.Join(repoRoot(t), kustomization), "--ignore-not-found", "-o", "name"); out != "" {
		t.Errorf("objects of %s left:\n%s", kustomization, out)
	}
	if _, err := plane.kube.CoreV1().Namespaces().Get(ctx, installNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s: %v, want NotFound", installNamespace, err)
	}
	rc := plane.kube.Discovery().RESTClient()
	for _, name := range apiServiceNames {
		err := rc.Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices/" + name).Do(ctx).Error()
		if !apierrors.IsNotFound(err) {
			t.Errorf("APIService %s: %v, want NotFound", name, err)
		}
	}
	pvcs, err := plane.kube.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pvc := range pvcs.Items {
		if pvc.Namespace == installNamespace {
			t.Errorf("PersistentVolumeClaim %s/%s left", pvc.Namespace, pvc.Name)
		}
	}
	// The local volumes are the plane's (reclaim policy Retain): released, with etcd's data.
	pvs, err := plane.kube.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pv := range pvs.Items {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == installNamespace {
			if pv.Status.Phase == corev1.VolumeBound {
				t.Errorf("PersistentVolume %s still Bound to %s/%s", pv.Name, ref.Namespace, ref.Name)
			}
			t.Logf("PersistentVolume %s (reclaim policy %s): %s, was %s/%s", pv.Name, pv.Spec.PersistentVolumeReclaimPolicy, pv.Status.Phase, ref.Namespace, ref.Name)
		}
	}
	// On the node: the kubelet stopped every container and sandbox of the namespace (their
	// records go with its garbage collection later).
	if out := crictl(t, "ps", "--namespace", "^"+installNamespace+"$", "--quiet"); out != "" {
		t.Errorf("containers of %s still run on the node:\n%s", installNamespace, crictl(t, "ps", "--namespace", "^"+installNamespace+"$"))
	}
	if out := crictl(t, "pods", "--namespace", "^"+installNamespace+"$", "--state", "ready", "--quiet"); out != "" {
		t.Errorf("pod sandboxes of %s still ready on the node:\n%s", installNamespace, crictl(t, "pods", "--namespace", "^"+installNamespace+"$"))
	}
}

// etcdHA installs the etcd-ha overlay anew (for the one node: testdata/etcd-ha-one-node) as the
// README says (hack/gen-certs, then kubectl apply -k), and checks it with three etcd members.
func (in *install) etcdHA(t *testing.T) {
	t.Run("the overlay is etcd-ha's", func(t *testing.T) { checkOneNodeOverlay(t) })
	waitNamespaceGone(t, installNamespace)
	runUser(t, "make", "deploy-certs")
	runUser(t, plane.env["KUBECTL"], "apply", "-k", etcdHAOverlay)
	checkInstall(t, 3)
	t.Run("etcd members", func(t *testing.T) {
		var list struct {
			Members []struct {
				Name       string   `json:"name"`
				ClientURLs []string `json:"clientURLs"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(etcdctl(t, etcdName+"-0", "member", "list", "-w", "json")), &list); err != nil {
			t.Fatal(err)
		}
		var started []string
		for _, m := range list.Members {
			if m.Name != "" && len(m.ClientURLs) > 0 {
				started = append(started, m.Name)
			}
		}
		slices.Sort(started)
		if !slices.Equal(started, etcdPods) {
			t.Errorf("started etcd members %v, want %v", started, etcdPods)
		}
	})
}

// checkOneNodeOverlay: testdata/etcd-ha-one-node renders what artifacts/deploy/overlays/etcd-ha does
// but for the etcd members' anti-affinity, which is preferred instead of required.
func checkOneNodeOverlay(t *testing.T) {
	ha, oneNode := render(t, "artifacts/deploy/overlays/etcd-ha"), render(t, etcdHAOverlay)
	if len(ha) != len(oneNode) {
		t.Fatalf("%d objects from the etcd-ha overlay, %d from %s", len(ha), len(oneNode), etcdHAOverlay)
	}
	path := []string{"spec", "template", "spec", "affinity", "podAntiAffinity"}
	for i := range ha {
		if ha[i].GetKind() != "StatefulSet" {
			continue
		}
		required, _, _ := unstructured.NestedSlice(ha[i].Object, append(path, "requiredDuringSchedulingIgnoredDuringExecution")...)
		preferred, _, _ := unstructured.NestedSlice(oneNode[i].Object, append(path, "preferredDuringSchedulingIgnoredDuringExecution")...)
		if len(required) != 1 || len(preferred) != 1 || !cmp.Equal(required[0], preferred[0].(map[string]any)["podAffinityTerm"]) {
			t.Errorf("the members' anti-affinity: etcd-ha requires %v, %s prefers %v: want the same term", required, etcdHAOverlay, preferred)
		}
		affinity, _, _ := unstructured.NestedMap(oneNode[i].Object, path...)
		if err := unstructured.SetNestedMap(ha[i].Object, affinity, path...); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(ha, oneNode); diff != "" {
		t.Errorf("%s differs from artifacts/deploy/overlays/etcd-ha beyond the anti-affinity (-etcd-ha +one node):\n%s", etcdHAOverlay, diff)
	}
}

// etcdctl runs etcdctl in an etcd pod (kubectl exec), with the member's own client certificate, as
// the README's snapshot command does; a failure fails the test.
func etcdctl(t *testing.T, pod string, args ...string) string {
	t.Helper()
	return kubectl(t, "", etcdctlArgs(pod, args...)...)
}

// etcdctlArgs are kubectl's arguments to run etcdctl with args in an etcd pod.
func etcdctlArgs(pod string, args ...string) []string {
	return slices.Concat([]string{"exec", "--namespace", installNamespace, pod, "--", "etcdctl",
		"--cacert", "/etc/etcd/tls/server/ca.crt", "--cert", "/etc/etcd/tls/server/tls.crt", "--key", "/etc/etcd/tls/server/tls.key",
		"--endpoints", "https://localhost:2379"}, args)
}

// waitDeploymentReady waits until the Deployment has replicas pods, all updated and ready, and no
// other.
func waitDeploymentReady(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	waitFor(t, readyTimeout, fmt.Sprintf("Deployment %s/%s: %d ready", ns, name, replicas), func(ctx context.Context) (bool, string) {
		d, err := plane.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := d.Status
		return *d.Spec.Replicas == replicas && s.ObservedGeneration == d.Generation && s.Replicas == replicas &&
				s.UpdatedReplicas == replicas && s.ReadyReplicas == replicas && s.AvailableReplicas == replicas,
			fmt.Sprintf("spec.replicas %d, status %+v", *d.Spec.Replicas, s)
	})
}

// podsOf lists the install's pods of app.kubernetes.io/name=name that are not being deleted.
func podsOf(t *testing.T, name string) []corev1.Pod {
	t.Helper()
	list, err := plane.kube.CoreV1().Pods(installNamespace).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods
}

// podNames returns the names of the running, ready pods of an EasyService (its status.selector).
func podNames(t *testing.T, ns, name string) sets.Set[string] {
	t.Helper()
	ctx := t.Context()
	es, err := plane.es.AppV1().EasyServices(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := plane.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: es.Status.Selector})
	if err != nil {
		t.Fatal(err)
	}
	names := sets.New[string]()
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && podReady(&p) {
			names.Insert(p.Name)
		}
	}
	return names
}

func podReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitNamespaceGone waits until the namespace does not exist.
func waitNamespaceGone(t *testing.T, ns string) {
	t.Helper()
	waitFor(t, readyTimeout, "namespace "+ns+" gone", func(ctx context.Context) (bool, string) {
		_, err := plane.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprintf("%v", err)
	})
}

// render returns the objects `kubectl kustomize` renders from the kustomization (relative to the
// repository's root), in order.
func render(t *testing.T, kustomization string) []*unstructured.Unstructured {
	t.Helper()
	out := kubectl(t, "", "kustomize", filepath.Join(repoRoot(t), kustomization))
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", kustomization, err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// podSpecOf returns the pod template's spec of a Deployment or StatefulSet, else nil.
func podSpecOf(t *testing.T, obj *unstructured.Unstructured) *corev1.PodSpec {
	t.Helper()
	var typed interface{ podSpec() *corev1.PodSpec }
	switch obj.GetKind() {
	case "Deployment":
		typed = &deployment{}
	case "StatefulSet":
		typed = &statefulSet{}
	default:
		return nil
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, typed); err != nil {
		t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return typed.podSpec()
}

type deployment struct{ appsv1.Deployment }

func (d *deployment) podSpec() *corev1.PodSpec { return &d.Spec.Template.Spec }

type statefulSet struct{ appsv1.StatefulSet }

func (s *statefulSet) podSpec() *corev1.PodSpec { return &s.Spec.Template.Spec }

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// serverImage returns the server image make image built (TestServerImage's, or built now) and its
// tarball.
func serverImage(t *testing.T) (ref, tarball string) {
	t.Helper()
	if builtServer.ref == "" {
		buildServerImage(t, startEngine(t))
	}
	return builtServer.ref, builtServer.tarball
}

// builtServer is the server image once built (hack/images.sh server rebuilds it on every call).
// The tests run one at a time.
var builtServer struct {
	ref, tarball string
}

// buildServerImage builds the server image with hack/images.sh server (make image from the
// Dockerfile on the local stand-ins, offline) on the engine, and returns its reference and tarball.
func buildServerImage(t *testing.T, e *engine) (ref, tarball string) {
	t.Helper()
	root := repoRoot(t)
	out := runScript(t, root, e.env, filepath.Join(root, "hack", "images.sh"), "server")
	fields := strings.Fields(out)
	if len(fields) != 3 || fields[0] != "server" {
		t.Fatalf("hack/images.sh server printed %q, want \"server <reference> <tarball>\"", out)
	}
	builtServer.ref, builtServer.tarball = fields[1], fields[2]
	return fields[1], fields[2]
}
