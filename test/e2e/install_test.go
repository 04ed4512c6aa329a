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

// The in-cluster install (artifacts/deploy) against the local plane's real kube-apiserver: every
// rendering is accepted by it, the pods meet the restricted Pod Security Standard, the certificates
// fit the names and flags, etcd runs as a 3-member mutual-TLS cluster from the manifests' own
// flags, the plane's easyservice-apiserver runs with the Deployment's flags under the install's
// ServiceAccount, and the RBAC is sufficient (kube-apiserver's audit log shows that it refused the
// ServiceAccount nothing while the suite ran) and minimal (every permission was used by a request
// of the server, which kube-apiserver refuses without it).
//
// By concern: this file renders the install and checks its manifests (and holds the rendering
// helpers the others use); install_certs_test.go its certificates, install_etcd_test.go its etcd-ha
// overlay, install_server_test.go the plane's server as the install's, install_rbac_test.go its RBAC.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	installNamespace = "easyservice-system"
	serverName       = "easyservice-apiserver"
	// The install's ServiceAccount as an RBAC subject.
	serverUser = "system:serviceaccount:" + installNamespace + ":" + serverName
	// The cert-manager release whose CRDs the cert-manager overlay is checked against; they are kept
	// in testdata/cert-manager/<version> (see its README), so that no test downloads anything.
	certManagerVersion = "v1.21.2"
)

// installManifest is an EasyService for the install's tests.
const installManifest = `apiVersion: app.easyservice.io/v1
kind: EasyService
metadata:
  name: web
spec:
  replicas: 1
  image: nginx:1.27
  ports:
  - port: 80
`

// ---------------------------------------------------------------------------------------------
// Rendering

// installTree copies artifacts/deploy into a temporary directory and makes its generated/
// Component there with hack/gen-certs, as a user does before `kubectl apply -k artifacts/deploy`.
// The repository's tree (and a generated/ of its own) is never touched.
func installTree(t *testing.T) string {
	t.Helper()
	root := plane.root
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "artifacts", "deploy"))); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "generated")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./hack/gen-certs", "-out", filepath.Join(dir, "generated"), "-quiet")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./hack/gen-certs: %v\n%s", err, out)
	}
	return dir
}

// rendering is the output of `kubectl kustomize` and its objects.
type rendering struct {
	yaml    string
	objects []*unstructured.Unstructured
}

func kustomize(t *testing.T, dir string) rendering {
	t.Helper()
	r := decodeObjects(t, kubectl(t, "", "kustomize", dir))
	if len(r.objects) == 0 {
		t.Fatalf("kubectl kustomize %s rendered nothing", dir)
	}
	return r
}

// decodeObjects decodes a YAML stream.
func decodeObjects(t *testing.T, data string) rendering {
	t.Helper()
	r := rendering{yaml: data}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(data), 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding YAML: %v", err)
		}
		if m != nil {
			r.objects = append(r.objects, &unstructured.Unstructured{Object: m})
		}
	}
	return r
}

// find returns the object of that kind, namespace and name, failing the test if there is none.
func (r rendering) find(t *testing.T, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r.objects {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the rendering has no %s %s/%s", kind, namespace, name)
	return nil
}

func (r rendering) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// yamlOf renders objects as a YAML stream, for kubectl's stdin.
func yamlOf(t *testing.T, objects ...any) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objects {
		data, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.String()
}

// typed converts an object of a rendering to its Go type.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	data, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// installRenderings: every kustomization of artifacts/deploy, by its path in artifacts/deploy.
var installRenderings = []string{".", "base", "base/rbac", "overlays/etcd-ha", "overlays/cert-manager"}

func renderAll(t *testing.T) map[string]rendering {
	t.Helper()
	dir := installTree(t)
	out := map[string]rendering{}
	for _, k := range installRenderings {
		out[k] = kustomize(t, filepath.Join(dir, k))
	}
	return out
}

// container returns the named container of a pod spec.
func container(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

// flagValue returns the value of --name=value in args.
func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s in %q", name, args)
	return ""
}

// secretData returns the decoded data of the Secret name in objects.
func secretData(t *testing.T, r rendering, name string) map[string][]byte {
	t.Helper()
	s := typed[corev1.Secret](t, r.find(t, "Secret", installNamespace, name))
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret %s has type %q, want %q", name, s.Type, corev1.SecretTypeTLS)
	}
	return s.Data
}

// podFile resolves a file path in a container to the Secret and key mounted there.
func podFile(t *testing.T, spec *corev1.PodSpec, c *corev1.Container, path string) (secret, key string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				return v.Secret.SecretName, rel
			}
		}
	}
	t.Fatalf("%s is not in a Secret volume of container %s", path, c.Name)
	return "", ""
}

// ---------------------------------------------------------------------------------------------
// The manifests

// TestInstallManifestsRender: every kustomization renders, with what the issue asks of each, and no
// file of the install (nor hack/local) skips TLS verification.
func TestInstallManifestsRender(t *testing.T) {
	root := plane.root
	for _, dir := range []string{filepath.Join(root, "artifacts"), filepath.Join(root, "hack", "local")} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err == nil && bytes.Contains(bytes.ToLower(data), []byte("insecureskiptlsverify")) {
				t.Errorf("%s mentions insecureSkipTLSVerify", path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	all := renderAll(t)
	for name, r := range all {
		if strings.Contains(strings.ToLower(r.yaml), "insecureskiptlsverify") {
			t.Errorf("the rendering of %s has insecureSkipTLSVerify", name)
		}
		t.Logf("kubectl kustomize artifacts/deploy/%s: %d objects", name, len(r.objects))
	}

	def := all["."]
	caPEM := secretData(t, def, "easyservice-apiserver-tls")["ca.crt"]
	for _, v := range []string{"v1", "v1beta1"} {
		for name, r := range map[string]rendering{".": def, "overlays/etcd-ha": all["overlays/etcd-ha"]} {
			as := r.find(t, "APIService", "", v+".app.easyservice.io")
			bundle, _, _ := unstructured.NestedString(as.Object, "spec", "caBundle")
			if got, _ := base64.StdEncoding.DecodeString(bundle); !bytes.Equal(got, caPEM) {
				t.Errorf("%s: APIService %s: caBundle is not the serving CA of the Secret easyservice-apiserver-tls", name, as.GetName())
			}
		}
		cm := all["overlays/cert-manager"].find(t, "APIService", "", v+".app.easyservice.io")
		if got := cm.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != installNamespace+"/easyservice-apiserver-tls" {
			t.Errorf("overlays/cert-manager: APIService %s: inject-ca-from = %q", cm.GetName(), got)
		}
		if _, found, _ := unstructured.NestedString(cm.Object, "spec", "caBundle"); found {
			t.Errorf("overlays/cert-manager: APIService %s has a caBundle of its own", cm.GetName())
		}
	}
	// The base has no certificates; both ways of making them make the same four Secrets.
	if n := len(all["base"].ofKind("Secret")); n != 0 {
		t.Errorf("the base has %d Secrets, want none", n)
	}
	var fromCertManager []string
	for _, c := range all["overlays/cert-manager"].ofKind("Certificate") {
		if name, _, _ := unstructured.NestedString(c.Object, "spec", "secretName"); !strings.HasSuffix(name, "-ca") {
			fromCertManager = append(fromCertManager, name)
		}
	}
	var generated []string
	for _, s := range def.ofKind("Secret") {
		generated = append(generated, s.GetName())
	}
	slices.Sort(fromCertManager)
	slices.Sort(generated)
	if !slices.Equal(fromCertManager, generated) {
		t.Errorf("cert-manager makes the Secrets %q, hack/gen-certs %q", fromCertManager, generated)
	}

	sts := typed[appsv1.StatefulSet](t, all["overlays/etcd-ha"].find(t, "StatefulSet", installNamespace, "easyservice-etcd"))
	if *sts.Spec.Replicas != 3 {
		t.Errorf("overlays/etcd-ha: %d etcd replicas, want 3", *sts.Spec.Replicas)
	}
	for _, e := range container(t, &sts.Spec.Template.Spec, "etcd").Env {
		if e.Name == "ETCD_INITIAL_CLUSTER" && strings.Count(e.Value, "=https://") != 3 {
			t.Errorf("overlays/etcd-ha: ETCD_INITIAL_CLUSTER=%s, want 3 members", e.Value)
		}
	}
	pdb := typed[policyv1.PodDisruptionBudget](t, all["overlays/etcd-ha"].find(t, "PodDisruptionBudget", installNamespace, "easyservice-etcd"))
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("overlays/etcd-ha: etcd PodDisruptionBudget minAvailable %v, want 2 (the quorum)", pdb.Spec.MinAvailable)
	}
}

// TestInstallManifestsHardened: the workloads are what the issue asks for: two API server replicas
// with a PodDisruptionBudget and anti-affinity, HTTPS probes, hardened containers, requests, a
// shutdown delay within the grace period, certificates from Secrets, etcd over TLS with a volume.
func TestInstallManifestsHardened(t *testing.T) {
	r := kustomize(t, filepath.Join(plane.root, "artifacts", "deploy", "base"))
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", installNamespace, serverName))
	sts := typed[appsv1.StatefulSet](t, r.find(t, "StatefulSet", installNamespace, "easyservice-etcd"))

	if *d.Spec.Replicas != 2 {
		t.Errorf("Deployment: %d replicas, want 2", *d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("Deployment: a rolling update may take a replica away: %+v", d.Spec.Strategy)
	}
	pdb := typed[policyv1.PodDisruptionBudget](t, r.find(t, "PodDisruptionBudget", installNamespace, serverName))
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
		t.Errorf("PodDisruptionBudget: minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	if !maps.Equal(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget selects %v, the Deployment %v", pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	svc := typed[corev1.Service](t, r.find(t, "Service", installNamespace, serverName))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.String() != "https" ||
		!maps.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service: %+v, want 443 to the pods' https port", svc.Spec)
	}

	for _, w := range []struct {
		kind, container string
		spec            *corev1.PodSpec
	}{{"Deployment", serverName, &d.Spec.Template.Spec}, {"StatefulSet", "etcd", &sts.Spec.Template.Spec}} {
		spec, c := w.spec, container(t, w.spec, w.container)
		what := w.kind + " " + w.container
		aa := spec.Affinity
		if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 ||
			aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
			t.Errorf("%s: no pod anti-affinity across nodes", what)
		}
		psc, sc := spec.SecurityContext, c.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext %+v", what, psc)
		}
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
			!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
			sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: container securityContext %+v", what, sc)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: no cpu and memory requests: %v", what, c.Resources.Requests)
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet == nil {
			t.Fatalf("%s: no HTTP readiness and liveness probes", what)
		}
		if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/livez" {
			t.Errorf("%s: probes %s and %s, want /readyz and /livez", what, c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
		}
	}

	c := container(t, &d.Spec.Template.Spec, serverName)
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS || p.HTTPGet.Port.String() != "https" {
			t.Errorf("Deployment: a probe is not HTTPS on the https port: %+v", p)
		}
	}
	if len(c.Command) != 0 {
		t.Errorf("Deployment: command %q replaces the image's entrypoint", c.Command)
	}
	if i := strings.LastIndex(c.Image, ":"); i < 0 || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("Deployment: image %q has no pinned tag", c.Image)
	}
	delay, err := time.ParseDuration(flagValue(t, c.Args, "--shutdown-delay-duration"))
	if err != nil || delay <= 0 {
		t.Errorf("Deployment: --shutdown-delay-duration %v, %v", delay, err)
	}
	// Without a watch termination grace period the server never ends its watches when it stops: it
	// waits for them until the kubelet kills it, and they break (test/cluster sees it happen).
	watchGrace, err := time.ParseDuration(flagValue(t, c.Args, "--shutdown-watch-termination-grace-period"))
	if err != nil || watchGrace <= 0 {
		t.Errorf("Deployment: --shutdown-watch-termination-grace-period %v, %v", watchGrace, err)
	}
	if grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second <= delay+watchGrace {
		t.Errorf("Deployment: terminationGracePeriodSeconds %v is not above --shutdown-delay-duration %s plus --shutdown-watch-termination-grace-period %s",
			grace, delay, watchGrace)
	}
	// The readiness probe must notice the not-ready /readyz of a stopping server while it still
	// serves, with time to spare for the endpoints to follow.
	if p := c.ReadinessProbe; p != nil && time.Duration(p.PeriodSeconds*p.FailureThreshold)*time.Second > delay/2 {
		t.Errorf("Deployment: the readiness probe takes up to %ds to notice a failing /readyz, more than half of --shutdown-delay-duration %s",
			p.PeriodSeconds*p.FailureThreshold, delay)
	}
	for flag, want := range map[string]string{
		"--tls-cert-file":        "easyservice-apiserver-tls/tls.crt",
		"--tls-private-key-file": "easyservice-apiserver-tls/tls.key",
		"--etcd-cafile":          "easyservice-etcd-client-tls/ca.crt",
		"--etcd-certfile":        "easyservice-etcd-client-tls/tls.crt",
		"--etcd-keyfile":         "easyservice-etcd-client-tls/tls.key",
	} {
		secret, key := podFile(t, &d.Spec.Template.Spec, c, flagValue(t, c.Args, flag))
		if secret+"/"+key != want {
			t.Errorf("Deployment: %s is %s/%s, want %s", flag, secret, key, want)
		}
	}
	etcdURL, err := url.Parse(flagValue(t, c.Args, "--etcd-servers"))
	if err != nil || etcdURL.Scheme != "https" {
		t.Errorf("Deployment: --etcd-servers %v is not https", etcdURL)
	}
	etcd := container(t, &sts.Spec.Template.Spec, "etcd")
	if flagValue(t, etcd.Args, "--client-cert-auth") != "true" || flagValue(t, etcd.Args, "--peer-client-cert-auth") != "true" {
		t.Errorf("etcd: clients and peers are not authenticated by certificate: %q", etcd.Args)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || !slices.ContainsFunc(etcd.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == sts.Spec.VolumeClaimTemplates[0].Name && strings.HasPrefix(flagValue(t, etcd.Args, "--data-dir"), m.MountPath+"/")
	}) {
		t.Errorf("etcd: the data directory is not on the PersistentVolumeClaim")
	}
}

// TestInstallServerDryRun: the real kube-apiserver accepts every object of every rendering
// (kubectl apply --dry-run=server). The cert-manager overlay is checked against cert-manager's own
// CRDs, with their schemas in force: a misspelled field of a Certificate is refused.
func TestInstallServerDryRun(t *testing.T) {
	all := renderAll(t)
	for _, name := range []string{".", "base", "base/rbac", "overlays/etcd-ha"} {
		out := kubectl(t, all[name].yaml, "apply", "--dry-run=server", "-f", "-")
		if n := strings.Count(out, "(server dry run)"); n != len(all[name].objects) {
			t.Errorf("artifacts/deploy/%s: %d of %d objects accepted:\n%s", name, n, len(all[name].objects), out)
		}
	}

	cm := all["overlays/cert-manager"]
	installCRDs(t, filepath.Join("testdata", "cert-manager", certManagerVersion), "cert-manager.io_certificates.yaml", "cert-manager.io_issuers.yaml")
	out := kubectl(t, cm.yaml, "apply", "--dry-run=server", "-f", "-")
	if n := strings.Count(out, "(server dry run)"); n != len(cm.objects) {
		t.Errorf("overlays/cert-manager: %d of %d objects accepted:\n%s", n, len(cm.objects), out)
	}
	certs := cm.ofKind("Certificate")
	if len(certs) == 0 {
		t.Fatal("overlays/cert-manager has no Certificate")
	}
	bad := certs[0].DeepCopy()
	if err := unstructured.SetNestedStringSlice(bad.Object, []string{"example.com"}, "spec", "dnsName"); err != nil {
		t.Fatal(err)
	}
	out, err := kubectlResult(t, yamlOf(t, bad.Object), "apply", "--dry-run=server", "-f", "-")
	if err == nil || !strings.Contains(out, `unknown field "spec.dnsName"`) {
		t.Errorf("a Certificate with the misspelled field spec.dnsName: want it refused as an unknown field by cert-manager's schema, got %v:\n%s", err, out)
	}
}

// installCRDs creates CRDs the plane does not have yet and deletes them when the test ends.
func installCRDs(t *testing.T, dir string, files ...string) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var crd struct{ Metadata struct{ Name string } }
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		name := crd.Metadata.Name
		if _, err := kubectlResult(t, "", "get", "crd", name); err == nil {
			continue
		}
		kubectl(t, string(data), "create", "-f", "-")
		t.Cleanup(func() { _, _ = kubectlResult(t, "", "delete", "crd", name, "--wait=false") })
		eventually(t, 60*time.Second, "CRD "+name+" established", func(context.Context) (bool, string) {
			out, err := kubectlResult(t, "", "get", "crd", name, "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
			return err == nil && out == "True", out
		})
	}
	// kubectl's discovery of the new kinds.
	eventually(t, 30*time.Second, "cert-manager's kinds in discovery", func(context.Context) (bool, string) {
		out, err := kubectlResult(t, "", "api-resources", "--api-group=cert-manager.io", "-o", "name")
		return err == nil && strings.Contains(out, "certificates.cert-manager.io") && strings.Contains(out, "issuers.cert-manager.io"), out
	})
}

// TestInstallPodSecurityRestricted: the pods of the Deployment and of the StatefulSet are admitted
// in a namespace that enforces the restricted Pod Security Standard (as easyservice-system does),
// and the enforcement is real: a pod without the hardening is refused there.
func TestInstallPodSecurityRestricted(t *testing.T) {
	r := kustomize(t, filepath.Join(plane.root, "artifacts", "deploy", "base"))
	if got := r.find(t, "Namespace", "", installNamespace).GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace %s enforces %q, want restricted", installNamespace, got)
	}
	ns := createNamespace(t, "install-pss")
	kubectl(t, "", "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest")

	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", installNamespace, serverName))
	sts := typed[appsv1.StatefulSet](t, r.find(t, "StatefulSet", installNamespace, "easyservice-etcd"))
	stsSpec := sts.Spec.Template.Spec.DeepCopy()
	// A StatefulSet's pod has a PVC volume per claim template (an emptyDir stands in).
	for _, pvc := range sts.Spec.VolumeClaimTemplates {
		stsSpec.Volumes = append(stsSpec.Volumes, corev1.Volume{Name: pvc.Name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	pod := func(name string, spec *corev1.PodSpec) *corev1.Pod {
		return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: *spec}
	}
	for _, sa := range []string{d.Spec.Template.Spec.ServiceAccountName, sts.Spec.Template.Spec.ServiceAccountName} {
		kubectl(t, "", "create", "serviceaccount", sa, "-n", ns)
	}
	out := kubectl(t, yamlOf(t, pod("apiserver", &d.Spec.Template.Spec), pod("etcd", stsSpec)), "create", "--dry-run=server", "-f", "-")
	t.Logf("admitted under the restricted Pod Security Standard:\n%s", out)

	weak := d.Spec.Template.Spec.DeepCopy()
	weak.SecurityContext, weak.Containers[0].SecurityContext = nil, nil
	out, err := kubectlResult(t, yamlOf(t, pod("weak", weak)), "create", "--dry-run=server", "-f", "-")
	if err == nil || !strings.Contains(out, "violates PodSecurity") {
		t.Errorf("a pod without securityContext was not refused by the namespace: %v\n%s", err, out)
	}
}
