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

// What easyservice-apiserver asked of the cluster, from kube-apiserver's audit log of the local
// plane: hack/local-up.sh logs every request of the install's ServiceAccount (serverUser), at
// Metadata level (hack/local/audit-policy.yaml). The install's RBAC is judged by it:
//   - sufficient: kube-apiserver refused the ServiceAccount nothing while the tests ran
//     (checkServerRefusals, which TestMain runs after the tests, whatever -run selected);
//   - minimal: every permission the install grants was used by one of its requests
//     (TestInstallRBACMinimal).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// decisionAnnotation is the audit annotation in which kube-apiserver records its authorizer's
// verdict on a request ("allow" or "forbid").
const decisionAnnotation = "authorization.k8s.io/decision"

// serverRequest is one request of serverUser: the last audit event of its audit ID (a watch has
// one when its response starts and one when it ends).
type serverRequest struct{ auditv1.Event }

func (r serverRequest) code() int32 {
	if r.ResponseStatus == nil {
		return 0
	}
	return r.ResponseStatus.Code
}

// refused: kube-apiserver's authorizer refused the request, or something refused it with 403
// Forbidden after the authorizer allowed it: an authorization check of its own inside the request
// (the create of an apply that makes the object, OwnerReferencesPermissionEnforcement), or an
// admission plugin.
func (r serverRequest) refused() bool {
	return r.code() == http.StatusForbidden || r.Annotations[decisionAnnotation] == "forbid"
}

// authorized: kube-apiserver's authorizer allowed the request (whatever came of it later).
func (r serverRequest) authorized() bool { return r.Annotations[decisionAnnotation] == "allow" }

// attributes are the request's authorization attributes; false for a non-resource request.
func (r serverRequest) attributes() (authorizationv1.ResourceAttributes, bool) {
	o := r.ObjectRef
	if o == nil {
		return authorizationv1.ResourceAttributes{}, false
	}
	return authorizationv1.ResourceAttributes{Verb: r.Verb, Group: o.APIGroup, Resource: o.Resource, Subresource: o.Subresource,
		Namespace: o.Namespace, Name: o.Name}, true
}

func (r serverRequest) String() string {
	what := r.RequestURI
	if a, ok := r.attributes(); ok {
		what = attributesString(a)
	}
	s := fmt.Sprintf("%s at %s: %d", what, r.RequestReceivedTimestamp.Format("15:04:05.000000"), r.code())
	if d := r.Annotations[decisionAnnotation]; d != "" {
		s += " (authorization: " + d + ")"
	}
	if r.ResponseStatus != nil && r.ResponseStatus.Message != "" {
		s += ": " + r.ResponseStatus.Message
	}
	return s + " [" + r.UserAgent + "]"
}

// kind is what RBAC grants the request by, but for the name (the objects the install's rules
// name are the only ones of their resource the server asks for): "patch deployments.apps in ns",
// or "get /openapi/v3" for a non-resource URL.
func (r serverRequest) kind() string {
	a, ok := r.attributes()
	if !ok {
		path, _, _ := strings.Cut(r.RequestURI, "?")
		return r.Verb + " " + path
	}
	a.Name = ""
	return attributesString(a)
}

// attributesString: "patch deployments.apps in ns name".
func attributesString(a authorizationv1.ResourceAttributes) string {
	res := a.Resource
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	s := a.Verb + " " + res
	if a.Namespace != "" {
		s += " in " + a.Namespace
	}
	if a.Name != "" {
		s += " " + a.Name
	}
	return s
}

// auditLogPath is the plane's audit log, from its env file.
func auditLogPath() (string, error) {
	path := plane.env["KUBE_APISERVER_AUDIT_LOG"]
	if path == "" {
		return "", fmt.Errorf("%s/env sets no KUBE_APISERVER_AUDIT_LOG: the plane was started by a hack/local-up.sh without kube-apiserver's audit log; start it anew", plane.dir)
	}
	return path, nil
}

// auditLogSize is the size of the plane's audit log: where the requests of later tests begin.
func auditLogSize() (int64, error) {
	path, err := auditLogPath()
	if err != nil {
		return 0, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// serverRequests reads the plane's audit log from offset on and returns the requests of
// serverUser in the order of their first event. A line still being written is left out.
func serverRequests(offset int64) ([]serverRequest, error) {
	path, err := auditLogPath()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	var requests []serverRequest
	index := map[types.UID]int{}
	reader := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := reader.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return requests, nil // what is left has no newline yet
		}
		if err != nil {
			return nil, err
		}
		var ev auditv1.Event
		if err := json.Unmarshal(bytes.TrimSpace(line), &ev); err != nil {
			return nil, fmt.Errorf("%s: %w: %.200s", path, err, line)
		}
		// Impersonation of the ServiceAccount by someone else is not the server's doing.
		if ev.User.Username != serverUser || ev.ImpersonatedUser != nil {
			continue
		}
		if i, ok := index[ev.AuditID]; ok {
			requests[i].Event = ev
			continue
		}
		index[ev.AuditID] = len(requests)
		requests = append(requests, serverRequest{ev})
	}
}

// serverMade tells whether kube-apiserver's audit log holds an authorized request of the server that
// match accepts.
func serverMade(t *testing.T, match func(r serverRequest, a authorizationv1.ResourceAttributes) bool) bool {
	t.Helper()
	requests, err := serverRequests(0)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(requests, func(r serverRequest) bool {
		a, ok := r.attributes()
		return ok && r.authorized() && match(r, a)
	})
}

// expectedRefusals are the namespaces in which a test made kube-apiserver refuse the server on
// purpose, with the reason.
var expectedRefusals = struct {
	sync.Mutex
	namespaces map[string]string
}{namespaces: map[string]string{}}

// expectRefusals tells checkServerRefusals that kube-apiserver refuses the server in namespace, a
// namespace of the calling test's own, on purpose.
func expectRefusals(namespace, why string) {
	expectedRefusals.Lock()
	defer expectedRefusals.Unlock()
	expectedRefusals.namespaces[namespace] = why
}

// admissionRESTMapperLag is how long after kube-apiserver restarted (is ready again) its
// OwnerReferencesPermissionEnforcement may not know the kind EasyService, and so refuses an owner
// reference to one with blockOwnerDeletion: k8s.io/apiserver's admission RESTMapper reads discovery
// anew every 30 s, and discovery has EasyService only once the APIService is Available again.
// Seen: 25 s.
const admissionRESTMapperLag = time.Minute

// afterKubeAPIServerRestart tells whether at falls in one of kubeAPIServerRestarts or within lag of
// its end.
func afterKubeAPIServerRestart(at time.Time, lag time.Duration) bool {
	for _, w := range kubeAPIServerRestarts {
		if !at.Before(w.from) && !at.After(w.to.Add(lag)) {
			return true
		}
	}
	return false
}

// refusalControlName is the Secret the refusal control asks for (the install grants no access
// to Secrets).
const refusalControlName = "easyservice-e2e-refusal-control"

// refusalControl makes one request as the server's ServiceAccount that RBAC refuses, with the
// server's own kubeconfig: a GET of a Secret in kube-system. It returns the request's audit ID.
func refusalControl(ctx context.Context) (types.UID, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(plane.dir, "easyservice-apiserver.kubeconfig"))
	if err != nil {
		return "", err
	}
	cfg.UserAgent = "easyservice-e2e/refusal-control"
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/api/v1/namespaces/kube-system/secrets/"+refusalControlName, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden {
		return "", fmt.Errorf("the refusal control: GET a Secret as %s = %d, want 403: %.300s", serverUser, resp.StatusCode, body)
	}
	id := resp.Header.Get("Audit-Id")
	if id == "" {
		return "", errors.New("the refusal control: kube-apiserver's answer has no Audit-Id header")
	}
	return types.UID(id), nil
}

// checkServerRefusals is the verdict "the install's RBAC is sufficient" over every request of the
// server's ServiceAccount in the audit log from offset on: none was refused, but
//   - those in a namespace of expectRefusals;
//   - its authorizer's while kube-apiserver restarted (kubeAPIServerRestarts: it refuses everyone
//     until its RBAC caches have synced), if a request of the same kind was authorized at another
//     time: the rules, which did not change, grant it;
//   - the controller's applies of a child in a namespace being deleted, which RBAC allowed and
//     kube-apiserver's NamespaceLifecycle refused (cause NamespaceTerminating): the namespace
//     controller deleted the child before the EasyService, and the controller, like Kubernetes'
//     own, leaves it at that;
//   - the controller's applies of a child, which RBAC allowed, refused by
//     OwnerReferencesPermissionEnforcement for want of a RESTMapping of EasyService, within
//     admissionRESTMapperLag of a kube-apiserver restart.
//
// First a positive control: the ServiceAccount makes a request RBAC refuses, and the same scan
// must find it. It returns what it found wrong, and a summary.
func checkServerRefusals(ctx context.Context, offset int64) (problems []string, summary string, err error) {
	if id := plane.env["ES_IDENTITY"]; id != "serviceaccount" {
		return nil, "", fmt.Errorf("the plane runs easyservice-apiserver with ES_IDENTITY=%q, not as the install's ServiceAccount", id)
	}
	control, err := refusalControl(ctx)
	if err != nil {
		return nil, "", err
	}
	// The event is written when the response is, not before the client reads it.
	var requests []serverRequest
	var controlRequest *serverRequest
	for deadline := time.Now().Add(30 * time.Second); controlRequest == nil; {
		if requests, err = serverRequests(offset); err != nil {
			return nil, "", err
		}
		for i := range requests {
			if requests[i].AuditID == control {
				controlRequest = &requests[i]
			}
		}
		if controlRequest == nil {
			if time.Now().After(deadline) {
				return nil, "", fmt.Errorf("the refusal control: the audit log has no request %s of %s", control, serverUser)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !controlRequest.refused() {
		problems = append(problems, "the refusal control: the scan does not take for a refusal: "+controlRequest.String())
	}

	authorized := map[string]bool{}
	for _, r := range requests {
		if r.authorized() && !r.refused() {
			authorized[r.kind()] = true
		}
	}
	expectedRefusals.Lock()
	expected := expectedRefusals.namespaces
	expectedRefusals.Unlock()
	// Why refusals are excused, in this order, and the refusals each excused.
	reasons := []string{"a test's own", "NamespaceLifecycle, namespace being deleted",
		"OwnerReferencesPermissionEnforcement without a RESTMapping of EasyService after a kube-apiserver restart",
		"kube-apiserver's authorizer while it restarted, authorized at another time"}
	excused := map[string][]serverRequest{}
	refused := 0
	for _, r := range requests {
		if r.AuditID == control || !r.refused() {
			continue
		}
		refused++
		a, _ := r.attributes()
		switch {
		case expected[a.Namespace] != "" && a.Namespace != "":
			excused[reasons[0]] = append(excused[reasons[0]], r)
		case r.authorized() && r.ResponseStatus != nil && r.ResponseStatus.Details != nil && (a.Verb == "create" || a.Verb == "patch") &&
			slices.ContainsFunc(r.ResponseStatus.Details.Causes, func(c metav1.StatusCause) bool { return c.Type == corev1.NamespaceTerminatingCause }):
			excused[reasons[1]] = append(excused[reasons[1]], r)
		case r.authorized() && r.code() == http.StatusForbidden && afterKubeAPIServerRestart(r.RequestReceivedTimestamp.Time, admissionRESTMapperLag) &&
			strings.Contains(r.ResponseStatus.Message, "cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion app.easyservice.io/"):
			excused[reasons[2]] = append(excused[reasons[2]], r)
		case !r.authorized() && duringKubeAPIServerRestart(r.RequestReceivedTimestamp.Time) && authorized[r.kind()]:
			excused[reasons[3]] = append(excused[reasons[3]], r)
		default:
			problems = append(problems, "refused: "+r.String())
		}
	}
	summary = fmt.Sprintf("%d requests of %s in kube-apiserver's audit log, %d refused (the refusal control not counted)",
		len(requests)-1, serverUser, refused)
	for _, reason := range reasons {
		if rs := excused[reason]; len(rs) > 0 {
			summary += fmt.Sprintf("\n\texcused, %s: %d, the first: %s", reason, len(rs), rs[0])
		}
	}
	summary += "\n\tthe refusal control, found by the same scan: " + controlRequest.String()
	return problems, summary, nil
}
