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

// The install's RBAC: sufficient and minimal.
//
// Judged by what the server did, from kube-apiserver's audit log of the install's ServiceAccount
// (audit_test.go). Sufficient: kube-apiserver refused it nothing while the suite ran
// (checkServerRefusals, after the tests). Minimal: each permission of the install was used by a
// request of the server, and kube-apiserver refuses that request to a user with every other
// permission of the install (TestInstallRBACMinimal).

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// capability is something easyservice-apiserver must not be able to do, as an authorization check.
type capability struct {
	why   string
	attrs authorizationv1.ResourceAttributes
}

func (c capability) String() string { return fmt.Sprintf("%s (%s)", attributesString(c.attrs), c.why) }

func capabilities(why string, verbs []string, group, resource, subresource, namespace, name string) []capability {
	var out []capability
	for _, v := range verbs {
		out = append(out, capability{why, authorizationv1.ResourceAttributes{
			Verb: v, Group: group, Resource: resource, Subresource: subresource, Namespace: namespace, Name: name}})
	}
	return out
}

// serverMustNot are things easyservice-apiserver never does: the install grants none.
func serverMustNot() []capability {
	var c []capability
	for _, x := range [][]capability{
		capabilities("secrets", []string{"get", "list"}, "", "secrets", "", "", ""),
		capabilities("secrets", []string{"get"}, "", "secrets", "", installNamespace, "easyservice-apiserver-tls"),
		capabilities("other ConfigMaps", []string{"get"}, "", "configmaps", "", "kube-system", "kubeadm-config"),
		capabilities("pods", []string{"list", "create"}, "", "pods", "", "", ""),
		capabilities("Deployments' scale", []string{"update"}, "apps", "deployments", "scale", "", ""),
		capabilities("namespaces", []string{"create", "delete"}, "", "namespaces", "", "", ""),
		capabilities("webhooks", []string{"create", "update"}, "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", "", ""),
		capabilities("FlowSchemas", []string{"update", "patch"}, "flowcontrol.apiserver.k8s.io", "flowschemas", "", "", ""),
		capabilities("events", []string{"list", "delete"}, "", "events", "", "", ""),
		capabilities("other Leases", []string{"get", "update"}, "coordination.k8s.io", "leases", "", "kube-system", "kube-controller-manager"),
		capabilities("other Leases", []string{"update", "delete"}, "coordination.k8s.io", "leases", "", installNamespace, "another"),
		capabilities("RBAC", []string{"create", "escalate", "bind"}, "rbac.authorization.k8s.io", "clusterroles", "", "", ""),
		capabilities("EasyServices through RBAC (it reads its own over loopback)", []string{"list", "create"}, "app.easyservice.io", "easyservices", "", "", ""),
		capabilities("nodes", []string{"list"}, "", "nodes", "", "", ""),
	} {
		c = append(c, x...)
	}
	return c
}

// sarClient is plane.kube with a rate limit for hundreds of SubjectAccessReviews.
func sarClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(plane.config)
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func allowed(ctx context.Context, t *testing.T, client kubernetes.Interface, user string, groups []string, a authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &a},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return sar.Status.Allowed
}

// installRBAC is the RBAC of the install's ServiceAccount: its roles with their rules and their
// bindings' namespaces (a ClusterRoleBinding: ""), the install's own roles first.
type roleRef struct {
	kind, name, bindingNamespace string
	ours                         bool
	rules                        []rbacv1.PolicyRule
}

func installRBAC(t *testing.T, r rendering) []roleRef {
	t.Helper()
	subjectIsServer := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Namespace == installNamespace && s.Name == serverName
		})
	}
	var refs []roleRef
	add := func(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespace string) {
		if !subjectIsServer(subjects) {
			return
		}
		rr := roleRef{kind: ref.Kind, name: ref.Name, bindingNamespace: namespace}
		for _, o := range r.objects {
			if o.GetKind() == ref.Kind && o.GetName() == ref.Name && (ref.Kind == "ClusterRole" || o.GetNamespace() == namespace) {
				rr.ours = true
				if ref.Kind == "ClusterRole" {
					rr.rules = typed[rbacv1.ClusterRole](t, o).Rules
				} else {
					rr.rules = typed[rbacv1.Role](t, o).Rules
				}
			}
		}
		if !rr.ours { // a role of Kubernetes itself: its rules from the cluster
			var err error
			if ref.Kind == "ClusterRole" {
				var cr *rbacv1.ClusterRole
				cr, err = plane.kube.RbacV1().ClusterRoles().Get(context.Background(), ref.Name, metav1.GetOptions{})
				if err == nil {
					rr.rules = cr.Rules
				}
			} else {
				var role *rbacv1.Role
				role, err = plane.kube.RbacV1().Roles(namespace).Get(context.Background(), ref.Name, metav1.GetOptions{})
				if err == nil {
					rr.rules = role.Rules
				}
			}
			if err != nil {
				t.Fatalf("%s %s: %v", ref.Kind, ref.Name, err)
			}
		}
		refs = append(refs, rr)
	}
	for _, o := range r.ofKind("ClusterRoleBinding") {
		b := typed[rbacv1.ClusterRoleBinding](t, o)
		add(b.RoleRef, b.Subjects, "")
	}
	for _, o := range r.ofKind("RoleBinding") {
		b := typed[rbacv1.RoleBinding](t, o)
		add(b.RoleRef, b.Subjects, b.Namespace)
	}
	slices.SortStableFunc(refs, func(a, b roleRef) int {
		if a.ours != b.ours {
			if a.ours {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return refs
}

// permission is one verb on one resource (or resource/subresource) of one API group, of one name
// if the rule has resourceNames, that a rule of the install grants: cluster-wide, or in the
// namespace of its RoleBinding.
type permission struct {
	verb, group, resource, name, namespace string
	// rule is where it comes from: "ClusterRole easyservice-controller rule 0".
	rule string
}

func (p permission) attributes() authorizationv1.ResourceAttributes {
	resource, subresource, _ := strings.Cut(p.resource, "/")
	return authorizationv1.ResourceAttributes{Verb: p.verb, Group: p.group, Resource: resource, Subresource: subresource,
		Namespace: p.namespace, Name: p.name}
}

func (p permission) String() string { return attributesString(p.attributes()) + " (" + p.rule + ")" }

// allows tells whether p allows a request, as RBAC matches a rule.
func (p permission) allows(a authorizationv1.ResourceAttributes) bool {
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	return a.Verb == p.verb && a.Group == p.group && resource == p.resource &&
		(p.name == "" || a.Name == p.name) && (p.namespace == "" || a.Namespace == p.namespace)
}

// permissions splits the rules of refs into permissions. A wildcard or a non-resource URL, which
// the install has no use for, fails the test.
func permissions(t *testing.T, refs []roleRef) []permission {
	t.Helper()
	var out []permission
	for _, ref := range refs {
		for i, rule := range ref.rules {
			from := fmt.Sprintf("%s %s rule %d", ref.kind, ref.name, i)
			if len(rule.NonResourceURLs) > 0 {
				t.Fatalf("%s grants non-resource URLs %v", from, rule.NonResourceURLs)
			}
			names := rule.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, verb := range rule.Verbs {
				for _, group := range rule.APIGroups {
					for _, resource := range rule.Resources {
						if verb == "*" || group == "*" || resource == "*" || strings.HasSuffix(resource, "/*") {
							t.Fatalf("%s has a wildcard: %+v", from, rule)
						}
						for _, name := range names {
							out = append(out, permission{verb: verb, group: group, resource: resource, name: name,
								namespace: ref.bindingNamespace, rule: from})
						}
					}
				}
			}
		}
	}
	return out
}

// serverUse is an authorization kube-apiserver granted the server: a request of the audit log,
// or one made inside it (implied says which).
type serverUse struct {
	attrs   authorizationv1.ResourceAttributes
	request serverRequest
	implied string
}

func (u serverUse) String() string {
	if u.implied == "" {
		return u.request.String()
	}
	return fmt.Sprintf("%s, %s, in %s", attributesString(u.attrs), u.implied, u.request)
}

// serverUses are the authorizations kube-apiserver granted the server's requests: each request
// its authorizer allowed, and the authorizations made inside one, which the audit log does not
// show as requests of their own:
//   - an apply (a patch) that created its object (201 Created) was also authorized as a create
//     (k8s.io/apiserver's patch handler);
//   - the create of the controller's Deployment or Service was also authorized as an update of
//     the finalizers of its owner, the EasyService of the same name: the child's controller
//     reference has blockOwnerDeletion, which OwnerReferencesPermissionEnforcement (run by the
//     plane's kube-apiserver, as by many clusters) checks that way.
//     TestInstallRBACRemoveRuleBreaksController shows the refusal without that permission.
func serverUses(requests []serverRequest) []serverUse {
	var uses []serverUse
	for _, r := range requests {
		a, ok := r.attributes()
		if !ok || !r.authorized() {
			continue
		}
		uses = append(uses, serverUse{attrs: a, request: r})
		if r.Verb != "patch" || r.code() != http.StatusCreated {
			continue
		}
		create := a
		create.Verb = "create"
		uses = append(uses, serverUse{attrs: create, request: r, implied: "the create of an apply that made the object"})
		if (a.Group == "apps" && a.Resource == "deployments" || a.Group == "" && a.Resource == "services") && a.Subresource == "" {
			uses = append(uses, serverUse{request: r, implied: "blockOwnerDeletion of the child's controller reference (OwnerReferencesPermissionEnforcement)",
				attrs: authorizationv1.ResourceAttributes{Verb: "update", Group: "app.easyservice.io", Resource: "easyservices",
					Subresource: "finalizers", Namespace: a.Namespace, Name: a.Name}})
		}
	}
	return uses
}

// unprovokable are the permissions of the install that the server needs but no request of the
// suite may use, each with the reason.
var unprovokable = []struct {
	why     string
	applies func(p permission, uses []serverUse) bool
}{{
	why: "the list of an informer that lists by a watch: client-go's informers list by a watch with sendInitialEvents " +
		"(WatchListClient, on by default since Kubernetes 1.35), which kube-apiserver authorizes as a watch alone, and list " +
		"with a list request where the API server does not serve such a watch or it fails",
	applies: func(p permission, uses []serverUse) bool {
		watch := p
		watch.verb = "watch"
		return p.verb == "list" && slices.ContainsFunc(uses, func(u serverUse) bool {
			return watch.allows(u.attrs) && strings.Contains(u.request.RequestURI, "sendInitialEvents=true")
		})
	},
}}

// unprovokableWhy is why p is needed although no request used it, if unprovokable says so.
func unprovokableWhy(p permission, uses []serverUse) (string, bool) {
	for _, u := range unprovokable {
		if u.applies(p, uses) {
			return u.why, true
		}
	}
	return "", false
}

// provokeServerRequests makes the server use, now, the permissions that the tests -run selected
// may not have made it use:
//   - the controller applies a Deployment and a Service, which creates them, and records Events;
//     scaled twice, it updates the Deployment twice, and the event recorder writes the second
//     "Updated Deployment" as a patch of the first's Event;
//   - creates in a namespace with a ResourceQuota of EasyServices: the ResourceQuota plugin charges
//     them to it (update resourcequotas/status);
//   - a create in a missing namespace: NamespaceLifecycle looks the namespace up (get namespaces);
//   - a request straight to the server with a ServiceAccount's bearer token: a TokenReview;
//   - a FlowSchema whose priority level does not exist: API Priority and Fairness, in every API
//     server, sets its Dangling condition (patch flowschemas/status).
//
// The rest the server does from its start on: the informers of its admission plugins, of API
// Priority and Fairness, of the authentication ConfigMap and of the controller, the Lease of the
// leader election, and a SubjectAccessReview for every request kube-apiserver proxies.
func provokeServerRequests(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	ns := createNamespace(t, "install-rbac-use")
	n := "--namespace=" + ns
	kubectl(t, installManifest, "apply", n, "-f", "-")
	waitReady(t, ns, "web")
	for _, replicas := range []int32{2, 3} {
		kubectl(t, "", "scale", n, "esvc", "web", fmt.Sprintf("--replicas=%d", replicas))
		waitDeployment(t, ns, "web", fmt.Sprintf("%d replicas", replicas), func(d *appsv1.Deployment) bool {
			return *d.Spec.Replicas == replicas
		})
	}

	provokeQuotaCharge(t, ns)

	missing := fmt.Sprintf("install-rbac-missing-%d", time.Now().UnixNano()%1_000_000)
	es := &v1.EasyService{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1.EasyServiceSpec{Image: "nginx:1.27", Ports: []v1.EasyServicePort{{Port: 80}}}}
	if _, err := plane.es.AppV1().EasyServices(missing).Create(ctx, es, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("create in the missing namespace %s: %v, want NotFound", missing, err)
	}

	kubectl(t, "", "create", "serviceaccount", "reader", n)
	kubectl(t, "", "create", "rolebinding", "reader", "--clusterrole=view", "--serviceaccount="+ns+":reader", n)
	token := strings.TrimSpace(kubectl(t, "", "create", "token", "reader", n, "--duration=10m"))
	eventually(t, 30*time.Second, "RBAC to let the reader list EasyServices", func(context.Context) (bool, string) {
		out, _ := kubectlResult(t, "", "auth", "can-i", "list", "easyservices.app.easyservice.io", "--as=system:serviceaccount:"+ns+":reader", n)
		return strings.TrimSpace(out) == "yes", out
	})
	url := "https://127.0.0.1:" + plane.env["ES_PORT"] + "/apis/app.easyservice.io/v1/namespaces/" + ns + "/easyservices"
	code, body := call(t, httpsClient(t, "easyservice-ca"), http.MethodGet, url, "", map[string]string{"Authorization": "Bearer " + token})
	if code != http.StatusOK || !strings.Contains(body, `"name":"web"`) {
		t.Errorf("GET %s with the reader's bearer token = %d, want 200 with web: %.300s", url, code, body)
	}

	name := "easyservice-e2e-" + ns
	kubectl(t, fmt.Sprintf(`apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: %[1]s}
spec:
  priorityLevelConfiguration: {name: %[1]s-missing}
  matchingPrecedence: 9000
  rules:
  - subjects: [{kind: User, user: {name: %[1]s-nobody}}]
    nonResourceRules: [{verbs: [get], nonResourceURLs: [/%[1]s]}]
`, name), "create", "-f", "-")
	t.Cleanup(func() { _, _ = kubectlResult(t, "", "delete", "flowschema", name, "--wait=false") })
	// kube-apiserver sets the condition too, and whichever server sees the change first may be the
	// only one to write it. Turned dangling and back, up to 10 times: kube-apiserver writes the
	// condition of one FlowSchema at most 6 times a minute and then leaves it for 30 s or more, so
	// by the 7th change ours writes it, if not before.
	for i := 0; ; i++ {
		if serverMade(t, func(_ serverRequest, a authorizationv1.ResourceAttributes) bool {
			return a.Verb == "patch" && a.Resource == "flowschemas" && a.Subresource == "status" && a.Name == name
		}) {
			t.Logf("the server set the Dangling condition of FlowSchema %s after %d change(s) of its priority level", name, i)
			return
		}
		if i == 10 {
			t.Errorf("the server never set the Dangling condition of FlowSchema %s", name)
			return
		}
		level, dangling := name+"-missing", flowcontrolv1.ConditionTrue
		if i%2 == 0 {
			level, dangling = "global-default", flowcontrolv1.ConditionFalse
		}
		kubectl(t, "", "patch", "flowschema", name, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"priorityLevelConfiguration":{"name":%q}}}`, level))
		eventually(t, time.Minute, fmt.Sprintf("FlowSchema %s Dangling=%s", name, dangling), func(ctx context.Context) (bool, string) {
			fs, err := plane.kube.FlowcontrolV1().FlowSchemas().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, c := range fs.Status.Conditions {
				if c.Type == flowcontrolv1.FlowSchemaConditionDangling && c.Status == dangling && fs.Spec.PriorityLevelConfiguration.Name == level {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", fs.Status.Conditions)
		})
	}
}

// provokeQuotaCharge makes the server charge a create to a ResourceQuota of namespace. The quota
// counts the EasyServices there (kube-controller-manager's count in its status) before the
// creates; a create the server admits before its informer has that status is not charged, so
// they go on, one a second, until kube-apiserver's audit log shows the charge.
func provokeQuotaCharge(t *testing.T, namespace string) {
	t.Helper()
	ctx := t.Context()
	n := "--namespace=" + namespace
	kubectl(t, "", "create", "quota", "easyservices", "--hard="+string(easyServiceCount)+"=100", n)
	list, err := plane.es.AppV1().EasyServices(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitQuotaUsed(t, namespace, "easyservices", 100, int64(len(list.Items)), "the EasyServices there")
	for i := 0; ; i++ {
		if serverMade(t, func(_ serverRequest, a authorizationv1.ResourceAttributes) bool {
			return a.Verb == "update" && a.Resource == "resourcequotas" && a.Subresource == "status" && a.Namespace == namespace
		}) {
			t.Logf("the server charged ResourceQuota %s/easyservices after %d create(s)", namespace, i)
			return
		}
		if i == 10 {
			t.Errorf("the server never charged ResourceQuota %s/easyservices", namespace)
			return
		}
		if _, err := plane.es.AppV1().EasyServices(namespace).Create(ctx, easyService(fmt.Sprintf("quota-%d", i), 1), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create in the namespace of ResourceQuota easyservices: %v", err)
		}
		time.Sleep(time.Second)
	}
}

// TestInstallRBACMinimal: every permission the install grants its ServiceAccount was used by a
// request of the server that kube-apiserver's audit log shows (or is one unprovokable explains),
// and kube-apiserver refuses that request to a probe user with every other
// permission of the install (copies of the roles, one rule per permission): no permission is
// superfluous. kube-apiserver also refuses the ServiceAccount what serverMustNot lists.
func TestInstallRBACMinimal(t *testing.T) {
	ctx := t.Context()
	client := sarClient(t)
	r := kustomize(t, filepath.Join(plane.root, "artifacts", "deploy", "base", "rbac"))
	perms := permissions(t, installRBAC(t, r))
	saGroups := []string{"system:serviceaccounts", "system:serviceaccounts:" + installNamespace, "system:authenticated"}
	for _, c := range serverMustNot() {
		if allowed(ctx, t, client, serverUser, saGroups, c.attrs) {
			t.Errorf("the install's ServiceAccount may: %s", c)
		}
	}

	provokeServerRequests(t)
	// witness[k] is the first use of perms[k]. The audit log is read whole: it holds what the
	// server did since the plane started, and the requests just provoked come in within seconds.
	witness := map[int]serverUse{}
	var missing []string
	var excused map[int]string
	err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(context.Context) (bool, error) {
		requests, err := serverRequests(0)
		if err != nil {
			return false, err
		}
		uses := serverUses(requests)
		missing, excused = nil, map[int]string{}
		for k, p := range perms {
			if _, ok := witness[k]; ok {
				continue
			}
			if i := slices.IndexFunc(uses, func(u serverUse) bool { return p.allows(u.attrs) }); i >= 0 {
				witness[k] = uses[i]
			} else if why, ok := unprovokableWhy(p, uses); ok {
				excused[k] = why
			} else {
				missing = append(missing, p.String())
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil && len(missing) == 0 {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("unused: no request of the server in kube-apiserver's audit log used %s", m)
	}
	for k, p := range perms {
		if w, ok := witness[k]; ok {
			t.Logf("%s: used by %s", p, w)
		} else if why, ok := excused[k]; ok {
			t.Logf("%s: not used in this run, but needed for %s", p, why)
		}
	}

	// kube-apiserver's verdict: a probe user k with every permission but perms[k].
	id := fmt.Sprintf("install-test-%d", time.Now().UnixNano()%1_000_000)
	label := map[string]string{"easyservice-install-test": id}
	t.Cleanup(func() {
		for _, kind := range []string{"clusterrolebindings", "clusterroles"} {
			_, _ = kubectlResult(t, "", "delete", kind, "-l", "easyservice-install-test="+id, "--wait=false")
		}
		for _, ns := range []string{installNamespace, "kube-system"} {
			_, _ = kubectlResult(t, "", "delete", "rolebindings,roles", "-n", ns, "-l", "easyservice-install-test="+id, "--wait=false")
		}
	})
	probe := func(k int) string { return fmt.Sprintf("%s-probe-%d", id, k) }
	var objects []any
	for k := range perms {
		objects = append(objects, probeRBAC(id, k, probe(k), label, slices.Delete(slices.Clone(perms), k, k+1))...)
	}
	kubectl(t, yamlOf(t, objects...), "create", "-f", "-")
	for k, p := range perms {
		w, ok := witness[k]
		if !ok {
			continue
		}
		// Every other witness stays allowed: the probe's RBAC is in kube-apiserver's caches.
		var diff []string
		// (The test's context for the reviews: the poll's ends with a review under way.)
		_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			diff = nil
			for j := range perms {
				wj, ok := witness[j]
				if !ok {
					continue
				}
				if got, want := allowed(ctx, t, client, probe(k), []string{"system:authenticated"}, wj.attrs), j != k; got != want {
					diff = append(diff, fmt.Sprintf("%s: allowed=%v, want %v", attributesString(wj.attrs), got, want))
				}
			}
			return len(diff) == 0, nil
		})
		if len(diff) > 0 {
			t.Errorf("without %s, kube-apiserver's verdicts on the requests that used the permissions:\n\t%s", p, strings.Join(diff, "\n\t"))
			continue
		}
		t.Logf("without %s, kube-apiserver refuses %s", p, attributesString(w.attrs))
	}
}

// probeRBAC is the RBAC of a probe user with the permissions perms: one rule each, in a
// ClusterRole for the cluster-wide ones and a Role in each namespace for the others.
func probeRBAC(id string, k int, user string, label map[string]string, perms []permission) []any {
	name := fmt.Sprintf("%s-%d", id, k)
	subjects := []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}
	rules := map[string][]rbacv1.PolicyRule{}
	for _, p := range perms {
		rule := rbacv1.PolicyRule{Verbs: []string{p.verb}, APIGroups: []string{p.group}, Resources: []string{p.resource}}
		if p.name != "" {
			rule.ResourceNames = []string{p.name}
		}
		rules[p.namespace] = append(rules[p.namespace], rule)
	}
	var objects []any
	for _, ns := range slices.Sorted(maps.Keys(rules)) {
		roleRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name}
		if ns == "" {
			roleRef.Kind = "ClusterRole"
			objects = append(objects,
				&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: label}, Rules: rules[ns]},
				&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: label}, RoleRef: roleRef, Subjects: subjects})
			continue
		}
		meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: label}
		objects = append(objects,
			&rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: meta, Rules: rules[ns]},
			&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, ObjectMeta: meta,
				RoleRef: roleRef, Subjects: subjects})
	}
	return objects
}

// TestInstallRBACRemoveRuleBreaksController removes one rule from the live install, the
// controller's update of easyservices/finalizers, and shows what breaks: kube-apiserver (with
// OwnerReferencesPermissionEnforcement, as local-up runs it) refuses the controller's Deployment
// and Service, whose controller reference blocks the owner's deletion, the EasyService's status
// says so, and kube-apiserver's audit log shows the refusals. With the rule back, the controller
// makes them.
func TestInstallRBACRemoveRuleBreaksController(t *testing.T) {
	ctx := t.Context()
	client := sarClient(t)
	r := kustomize(t, filepath.Join(plane.root, "artifacts", "deploy", "base", "rbac"))
	original := typed[rbacv1.ClusterRole](t, r.find(t, "ClusterRole", "", "easyservice-controller"))
	reduced := original.DeepCopy()
	reduced.Rules = slices.DeleteFunc(reduced.Rules, func(rule rbacv1.PolicyRule) bool {
		return slices.Contains(rule.Resources, "easyservices/finalizers")
	})
	if len(reduced.Rules) != len(original.Rules)-1 {
		t.Fatalf("the ClusterRole easyservice-controller has no rule for easyservices/finalizers: %+v", original.Rules)
	}
	finalizers := authorizationv1.ResourceAttributes{Verb: "update", Group: "app.easyservice.io", Resource: "easyservices", Subresource: "finalizers"}
	saGroups := []string{"system:serviceaccounts", "system:serviceaccounts:" + installNamespace, "system:authenticated"}
	restore := func() {
		kubectl(t, yamlOf(t, original), "apply", "-f", "-")
		eventually(t, 30*time.Second, "the rule back", func(ctx context.Context) (bool, string) {
			return allowed(ctx, t, client, serverUser, saGroups, finalizers), ""
		})
	}
	t.Cleanup(func() {
		if !allowed(context.Background(), t, client, serverUser, saGroups, finalizers) {
			restore()
		}
	})

	kubectl(t, yamlOf(t, reduced), "apply", "-f", "-")
	eventually(t, 30*time.Second, "the rule gone", func(ctx context.Context) (bool, string) {
		return !allowed(ctx, t, client, serverUser, saGroups, finalizers), ""
	})
	ns := createNamespace(t, "install-rbac")
	expectRefusals(ns, "TestInstallRBACRemoveRuleBreaksController removed the permission for easyservices/finalizers")
	kubectl(t, installManifest, "apply", "--namespace="+ns, "-f", "-")
	eventually(t, 90*time.Second, "the status to report the refusal", func(ctx context.Context) (bool, string) {
		es, err := plane.es.AppV1().EasyServices(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range es.Status.Conditions {
			if strings.Contains(c.Message, "blockOwnerDeletion") && strings.Contains(c.Message, "forbidden") {
				t.Logf("without the rule: condition %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", es.Status.Conditions)
	})
	if _, err := plane.kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Deployment was made without the rule: %v", err)
	}
	// The scan of the audit log that judges the suite (checkServerRefusals) sees these refusals.
	eventually(t, 30*time.Second, "the audit log to show the refusals", func(context.Context) (bool, string) {
		requests, err := serverRequests(0)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range requests {
			if a, ok := r.attributes(); ok && r.refused() && a.Namespace == ns && a.Group == "apps" && a.Resource == "deployments" {
				t.Logf("the audit log shows: %s", r)
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d requests of the server, no refused Deployment in %s", len(requests), ns)
	})

	restore()
	// A change to the EasyService queues it at once (rather than at its next retry).
	kubectl(t, "", "annotate", "--namespace="+ns, "esvc", "web", "install-test/requeue=1")
	eventually(t, 90*time.Second, "the controller's Deployment and Service with the rule back", func(ctx context.Context) (bool, string) {
		_, derr := plane.kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		_, serr := plane.kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		return derr == nil && serr == nil, fmt.Sprintf("Deployment: %v, Service: %v", derr, serr)
	})
}

// TestInstallUserRoles: the install's user ClusterRoles join view, edit and admin: a RoleBinding to
// them gives users access to EasyServices through the aggregated API the way it does for built-in
// kinds; view reads (also status and scale), edit and admin write and scale but not status.
func TestInstallUserRoles(t *testing.T) {
	ns := createNamespace(t, "install-users")
	for _, role := range []string{"view", "edit", "admin"} {
		kubectl(t, "", "create", "rolebinding", role, "--clusterrole="+role, "--user=install-test-"+role, "-n", ns)
	}
	eventually(t, 30*time.Second, "the aggregated roles", func(context.Context) (bool, string) {
		out, _ := kubectlResult(t, "", "auth", "can-i", "patch", "easyservices.app.easyservice.io", "--subresource=scale", "--as=install-test-edit", "-n", ns)
		return strings.TrimSpace(out) == "yes", out
	})
	kubectl(t, installManifest, "apply", "--namespace="+ns, "-f", "-")
	other := strings.Replace(installManifest, "name: web", "name: other", 1)
	as := func(user string, args ...string) (string, error) {
		return kubectlResult(t, other, append([]string{"--as=install-test-" + user, "--namespace=" + ns}, args...)...)
	}
	mustWork := func(user string, args ...string) {
		if out, err := as(user, args...); err != nil {
			t.Errorf("%s: kubectl %s: %v\n%s", user, strings.Join(args, " "), err, out)
		}
	}
	mustBeForbidden := func(user string, args ...string) {
		if out, err := as(user, args...); err == nil || !strings.Contains(out, "forbidden") {
			t.Errorf("%s: kubectl %s was not forbidden: %v\n%s", user, strings.Join(args, " "), err, out)
		}
	}
	for _, user := range []string{"view", "edit", "admin"} {
		mustWork(user, "get", "easyservices")
		mustWork(user, "get", "esvc", "web", "--subresource=status")
		mustWork(user, "get", "esvc", "web", "--subresource=scale")
		mustBeForbidden(user, "patch", "esvc", "web", "--subresource=status", "--type=merge", "-p", `{"status":{"replicas":7}}`)
	}
	mustBeForbidden("view", "scale", "esvc", "web", "--replicas=2")
	mustBeForbidden("view", "delete", "esvc", "web")
	mustBeForbidden("view", "create", "-f", "-")
	for _, user := range []string{"edit", "admin"} {
		mustWork(user, "scale", "esvc", "web", "--replicas=2")
		mustWork(user, "annotate", "esvc", "web", "by="+user, "--overwrite")
	}
	mustWork("edit", "create", "-f", "-")
	mustWork("admin", "delete", "esvc", "other")
}
