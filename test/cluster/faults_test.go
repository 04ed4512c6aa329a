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
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/easyservice/easyservice/test/harness"
)

// Faults under the fault harness's load through kube-apiserver's aggregation layer (test/harness:
// three writers, a reader and a watcher, every request judged), on the real node: the kubelet's
// probes, the EndpointSlice controller and kube-apiserver's endpoint routing are what drain a
// replica, not a test's stand-in.

// newHarness is a fault harness on a new namespace, which the install's uninstall deletes first.
func (in *install) newHarness(t *testing.T, prefix string) *harness.Harness {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000)
	kubectl(t, "", "create", "namespace", ns)
	in.namespaces = append(in.namespaces, ns)
	return harness.New(t, plane.config, ns)
}

// deleteServerPod: kubectl delete of one server pod under load. The pod is taken out of the
// Service's endpoints as it starts terminating, serves its requests in flight through its
// --shutdown-delay-duration, and the Deployment replaces it: no request through kube-apiserver
// fails, and the history holds.
func (in *install) deleteServerPod(t *testing.T) {
	waitDeploymentReady(t, installNamespace, serverName, 2)
	h := in.newHarness(t, "fault-delete")
	h.Run()
	victim := podsOf(t, serverName)[0]
	// Both replicas serve the harness's writes (kube-apiserver spreads them over the endpoints):
	// the one deleted is one that serves.
	waitServing(t, podsOf(t, serverName), 10)

	from := h.Now()
	out := kubectl(t, "", "delete", "pod", "--namespace", installNamespace, victim.Name)
	t.Logf("$ kubectl delete pod %s   # %v\n%s", victim.Name, (h.Now() - from).Round(100*time.Millisecond), out)
	waitDeploymentReady(t, installNamespace, serverName, 2)
	to := h.Now()
	if pod, err := plane.kube.CoreV1().Pods(installNamespace).Get(t.Context(), victim.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod %s: %v (phase %s), want it deleted", victim.Name, err, pod.Status.Phase)
	}
	pods := podsOf(t, serverName)
	waitServing(t, pods, 5)
	h.WaitProgress(20, harness.RecoverTimeout)
	h.StopAndCheck()

	definite, _ := h.Answered(from, to, false)
	t.Logf("from the delete to two replicas ready again (%v): %d requests answered; now %s", (to - from).Round(time.Millisecond),
		definite, podNamesOf(pods))
	if definite == 0 {
		t.Errorf("no request was answered while the pod was deleted and replaced")
	}
	checkNoFailures(t, h)
}

// rolloutRestart: kubectl rollout restart of the server's Deployment under load: a new pod comes
// up and becomes Ready before an old one is deleted (maxSurge 1, maxUnavailable 0), twice. No
// request through kube-apiserver fails, the watch ends cleanly when its replica stops and resumes,
// and the history holds.
func (in *install) rolloutRestart(t *testing.T) {
	waitDeploymentReady(t, installNamespace, serverName, 2)
	old := podsOf(t, serverName)
	h := in.newHarness(t, "fault-rollout")
	h.Run()
	waitServing(t, old, 10)

	from := h.Now()
	t.Logf("$ kubectl rollout restart deployment/%s\n%s", serverName,
		kubectl(t, "", "rollout", "restart", "--namespace", installNamespace, "deployment/"+serverName))
	t.Logf("$ kubectl rollout status deployment/%s\n%s", serverName,
		kubectl(t, "", "rollout", "status", "--namespace", installNamespace, "deployment/"+serverName, "--timeout=10m"))
	waitDeploymentReady(t, installNamespace, serverName, 2)
	// The old pods are gone: they served their shutdown delay under the load.
	for _, pod := range old {
		waitFor(t, readyTimeout, "pod "+pod.Name+" gone", func(ctx context.Context) (bool, string) {
			p, err := plane.kube.CoreV1().Pods(installNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return apierrors.IsNotFound(err), err.Error()
			}
			return false, fmt.Sprintf("phase %s, deletionTimestamp %v", p.Status.Phase, p.DeletionTimestamp)
		})
	}
	to := h.Now()
	pods := podsOf(t, serverName)
	oldNames, newNames := podNamesOf(old), podNamesOf(pods)
	if oldNames.HasAny(sets.List(newNames)...) {
		t.Errorf("after the rollout restart the pods are %v, and were %v: want all new", sets.List(newNames), sets.List(oldNames))
	}
	waitServing(t, pods, 5)
	h.WaitProgress(20, harness.RecoverTimeout)
	h.StopAndCheck()

	t.Logf("rollout restart (%v): pods %v replaced by %v; %d requests sent meanwhile; %d watches ended by the server",
		(to - from).Round(time.Millisecond), sets.List(oldNames), sets.List(newNames), h.Sent(from, to), h.WatchEnds())
	// The watch ran on one of the old replicas, both of which stopped: the stopping one ended it.
	if h.WatchEnds() == 0 {
		t.Errorf("no replica ended the watch when it stopped")
	}
	checkNoFailures(t, h)
}

// deleteEtcdMember: kubectl delete of the etcd leader's pod under load, on the three-member etcd of
// the etcd-ha overlay. The StatefulSet makes the pod again on its volume, the member rejoins, and
// no acknowledged write is lost: the history holds (requests may fail while the server's etcd
// connection moves to another member).
func (in *install) deleteEtcdMember(t *testing.T) {
	before := etcdStatus(t)
	leader := before.leaderPod()
	if leader == "" {
		t.Fatalf("no etcd leader: %+v", before)
	}
	pod, err := plane.kube.CoreV1().Pods(installNamespace).Get(t.Context(), leader, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := in.newHarness(t, "fault-etcd")
	h.Run()
	h.WaitProgress(20, harness.RecoverTimeout)

	from := h.Now()
	out := kubectl(t, "", "delete", "pod", "--namespace", installNamespace, leader)
	t.Logf("$ kubectl delete pod %s   # the etcd leader; %v\n%s", leader, (h.Now() - from).Round(100*time.Millisecond), out)
	waitFor(t, readyTimeout, "pod "+leader+" made again and Ready", func(ctx context.Context) (bool, string) {
		p, err := plane.kube.CoreV1().Pods(installNamespace).Get(ctx, leader, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.UID != pod.UID && p.DeletionTimestamp == nil && podReady(p), fmt.Sprintf("uid %s, phase %s", p.UID, p.Status.Phase)
	})
	checkEtcd(t, 3)
	to := h.Now()
	after := etcdStatus(t)
	h.WaitProgress(20, harness.RecoverTimeout)
	h.StopAndCheck()

	_, failed := h.Answered(from, to, false)
	t.Logf("etcd member %s deleted and back (%v): raft term %d → %d, leader %s → %s; %d requests failed meanwhile (allowed: the history judges them)",
		leader, (to - from).Round(time.Millisecond), before.term(), after.term(), leader, after.leaderPod(), len(failed))
	for _, f := range failed[:min(len(failed), 5)] {
		t.Logf("  e.g. %s", f)
	}
	// The fault had its effect: the leader went, so there was an election.
	if after.term() <= before.term() {
		t.Errorf("raft term %d after the leader's pod was deleted, %d before: no election", after.term(), before.term())
	}
}

// checkNoFailures fails the test for every request through kube-apiserver that failed.
func checkNoFailures(t *testing.T, h *harness.Harness) {
	t.Helper()
	failures := h.Failures()
	for i, f := range failures {
		if i == 20 {
			t.Errorf("... and %d more", len(failures)-i)
			break
		}
		t.Errorf("failed request: %s", f)
	}
}

// waitServing waits until each of the server pods has served n more of the writes kube-apiserver
// proxies (its own metrics, fetched from its pod IP as the admin, over TLS verified for the
// Service's name with the install's CA).
func waitServing(t *testing.T, pods []corev1.Pod, n int) {
	t.Helper()
	client := serverClient(t)
	start := map[types.UID]int{}
	for _, pod := range pods {
		w, err := servedWrites(client, &pod)
		if err != nil {
			t.Fatal(err)
		}
		start[pod.UID] = w
	}
	waitFor(t, harness.RecoverTimeout, fmt.Sprintf("%d proxied writes served by each of %s", n, podNamesOf(pods)), func(context.Context) (bool, string) {
		served := map[string]int{}
		all := true
		for _, pod := range pods {
			w, err := servedWrites(client, &pod)
			if err != nil {
				return false, err.Error()
			}
			served[pod.Name] = w - start[pod.UID]
			all = all && w-start[pod.UID] >= n
		}
		return all, fmt.Sprintf("served %v", served)
	})
}

// serverClient is an HTTPS client of the server pods: the plane's admin certificate, and the
// install's CA (hack/gen-certs, artifacts/deploy/generated) for the Service's name.
func serverClient(t *testing.T) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(plane.dir, "pki", "admin.crt"), filepath.Join(plane.dir, "pki", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(repoRoot(t), "artifacts", "deploy", "generated", "pki", "easyservice-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("easyservice-ca.crt holds no certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		ServerName: serverName + "." + installNamespace + ".svc",
	}}}
}

// servedWrites is the number of proxied writes a server pod has served (harness.ServedWrites).
func servedWrites(client *http.Client, pod *corev1.Pod) (int, error) {
	url := fmt.Sprintf("https://%s/metrics", net.JoinHostPort(pod.Status.PodIP, "8443"))
	resp, err := client.Get(url)
	if err != nil {
		return 0, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("pod %s: GET %s: %d", pod.Name, url, resp.StatusCode)
	}
	n, err := harness.ServedWrites(string(body))
	if err != nil {
		return 0, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	return n, nil
}

func podNamesOf(pods []corev1.Pod) sets.Set[string] {
	names := sets.New[string]()
	for _, p := range pods {
		names.Insert(p.Name)
	}
	return names
}

// etcdEndpoints is `etcdctl endpoint status --cluster -w json`: each member's status.
type etcdEndpoints []struct {
	Endpoint string `json:"Endpoint"`
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		} `json:"header"`
		Leader    uint64 `json:"leader"`
		RaftTerm  uint64 `json:"raftTerm"`
		RaftIndex uint64 `json:"raftIndex"`
	} `json:"Status"`
}

// etcdStatus asks the members (through easyservice-etcd-0, or another member if that one is the
// one away) for their status.
func etcdStatus(t *testing.T) etcdEndpoints {
	t.Helper()
	var status etcdEndpoints
	waitFor(t, readyTimeout, "the status of the three etcd members", func(context.Context) (bool, string) {
		for _, pod := range etcdPods {
			out, err := kubectlResult("", etcdctlArgs(pod, "endpoint", "status", "--cluster", "-w", "json")...)
			if err != nil {
				continue
			}
			status = nil
			if err := json.Unmarshal([]byte(out), &status); err != nil {
				return false, err.Error()
			}
			return len(status) == 3, fmt.Sprintf("%+v", status)
		}
		return false, "no member answered"
	})
	return status
}

// term is the highest raft term a member reports.
func (e etcdEndpoints) term() uint64 {
	var term uint64
	for _, m := range e {
		term = max(term, m.Status.RaftTerm)
	}
	return term
}

// etcdPods are the pods of the etcd-ha overlay's members.
var etcdPods = []string{etcdName + "-0", etcdName + "-1", etcdName + "-2"}

// leaderPod is the pod of the member that is its own leader (its client URL names its pod).
func (e etcdEndpoints) leaderPod() string {
	for _, m := range e {
		if m.Status.Header.MemberID == m.Status.Leader {
			for _, pod := range etcdPods {
				if m.Endpoint == "https://"+pod+"."+etcdName+"."+installNamespace+".svc:2379" {
					return pod
				}
			}
		}
	}
	return ""
}
