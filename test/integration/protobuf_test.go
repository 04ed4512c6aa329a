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

package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"
	"k8s.io/client-go/rest"

	esv1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apiserver"
	"github.com/easyservice/easyservice/pkg/cmd/server"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
)

// protobufMagic starts every protobuf-encoded Kubernetes object (runtime.Unknown behind "k8s\0").
var protobufMagic = []byte{'k', '8', 's', 0}

// decodeProtobuf decodes a protobuf-encoded object of the server's scheme.
func decodeProtobuf(t *testing.T, data []byte, into runtime.Object) {
	t.Helper()
	s := protobuf.NewSerializer(apiserver.Scheme, apiserver.Scheme)
	if _, _, err := s.Decode(data, nil, into); err != nil {
		t.Fatalf("decoding %T from protobuf %.60q: %v", into, data, err)
	}
}

// getProtobuf GETs path accepting accept, wants code and a protobuf body, and decodes it into into.
func getProtobuf(t *testing.T, s *TestServer, path, accept string, code int, into runtime.Object) {
	t.Helper()
	r := s.do(t, http.MethodGet, path, "", nil, map[string]string{"Accept": accept})
	if r.code != code || r.header.Get("Content-Type") != runtime.ContentTypeProtobuf || !bytes.HasPrefix(r.body, protobufMagic) {
		t.Fatalf("GET %s = %d %q %.40q, want %d in protobuf", path, r.code, r.header.Get("Content-Type"), r.body, code)
	}
	decodeProtobuf(t, r.body, into)
}

// storedValue returns the value of the EasyService ns/name in etcd.
func storedValue(t *testing.T, kv clientv3.KV, ns, name string) []byte {
	t.Helper()
	// The generic store keys objects <prefix>/<group>/<resource>/<namespace>/<name>.
	key := server.DefaultEtcdPathPrefix + "/app.easyservice.io/easyservices/" + ns + "/" + name
	resp, err := kv.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("found %d values at %s, want 1", len(resp.Kvs), key)
	}
	return resp.Kvs[0].Value
}

// TestProtobufStorage checks that objects are stored as v1 protobuf by default.
func TestProtobufStorage(t *testing.T) {
	etcdClient := testserver.RunEtcd(t, nil)
	s := StartServer(t, etcdClient.Endpoints())
	es := newEasyService("proto")
	if _, err := s.Client.AppV1().EasyServices("storage").Create(t.Context(), es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	value := storedValue(t, etcdClient.KV, "storage", "proto")
	if !bytes.HasPrefix(value, protobufMagic) {
		t.Fatalf("the stored value is not protobuf: %.60q", value)
	}
	var got esv1.EasyService
	decodeProtobuf(t, value, &got)
	if got.APIVersion != "app.easyservice.io/v1" || got.Kind != "EasyService" || got.Name != "proto" ||
		got.Spec.Image != es.Spec.Image || *got.Spec.Replicas != *es.Spec.Replicas || len(got.Spec.Ports) != 1 {
		t.Errorf("the stored object = %+v", got)
	}
}

// storageMediaTypes are the values of --storage-media-type.
var storageMediaTypes = []struct {
	name, mediaType string
	// encoded tells whether a value in etcd is in this media type.
	encoded func(value []byte) bool
}{
	{"json", runtime.ContentTypeJSON, func(v []byte) bool { return bytes.HasPrefix(v, []byte("{")) && json.Valid(v) }},
	// sigs.k8s.io/yaml sorts the keys: apiVersion comes first. (JSON is YAML too: not JSON.)
	{"yaml", runtime.ContentTypeYAML, func(v []byte) bool { return bytes.HasPrefix(v, []byte("apiVersion: app.easyservice.io/v1\n")) }},
	{"protobuf", runtime.ContentTypeProtobuf, func(v []byte) bool { return bytes.HasPrefix(v, protobufMagic) }},
}

// TestStorageMediaTypes checks what the README says of --storage-media-type: whatever the setting,
// the server reads values stored in any of JSON, YAML and protobuf (written by an older version or
// under another setting), from etcd and in its watch cache, and rewrites a value in its own media
// type on the value's next update. Each setting in turn writes one object into the namespace of
// every reader; then each setting in turn reads and updates the three objects of its namespace.
func TestStorageMediaTypes(t *testing.T) {
	etcdClient := testserver.RunEtcd(t, nil)
	ctx := t.Context()
	readerNS := func(mediaType string) string { return "read-by-" + mediaType }
	// written[namespace][name] is the object as its writer created it.
	written := map[string]map[string]*esv1.EasyService{}
	for _, w := range storageMediaTypes {
		s := StartServer(t, etcdClient.Endpoints(), "--storage-media-type="+w.mediaType)
		for _, r := range storageMediaTypes {
			ns, es := readerNS(r.name), newEasyService("from-"+w.name)
			es.Spec.Image = "registry.example/written-as-" + w.name + ":1.0"
			created, err := s.Client.AppV1().EasyServices(ns).Create(ctx, es, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if written[ns] == nil {
				written[ns] = map[string]*esv1.EasyService{}
			}
			written[ns][created.Name] = created
			value := storedValue(t, etcdClient.KV, ns, created.Name)
			if !w.encoded(value) {
				t.Fatalf("--storage-media-type=%s stored %.80q", w.mediaType, value)
			}
			checkStored(t, value, created)
		}
		if err := s.Stop(); err != nil {
			t.Fatalf("stopping the server: %v", err)
		}
	}

	for _, r := range storageMediaTypes {
		t.Run("read by "+r.name, func(t *testing.T) {
			ns := readerNS(r.name)
			s := StartServer(t, etcdClient.Endpoints(), "--storage-media-type="+r.mediaType)
			defer func() {
				if err := s.Stop(); err != nil {
					t.Errorf("stopping the server: %v", err)
				}
			}()
			c := s.Client.AppV1().EasyServices(ns)
			for name, want := range written[ns] {
				got, err := c.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("GET %s/%s: %v", ns, name, err)
				}
				if got.UID != want.UID || got.ResourceVersion != want.ResourceVersion || got.Spec.Image != want.Spec.Image {
					t.Errorf("GET %s/%s = uid %s, resourceVersion %s, image %s; want %s, %s, %s", ns, name,
						got.UID, got.ResourceVersion, got.Spec.Image, want.UID, want.ResourceVersion, want.Spec.Image)
				}
			}
			// The watch cache decodes them too; it serves a LIST at resourceVersion 0 once it is synced.
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				list, err := c.List(ctx, metav1.ListOptions{ResourceVersion: "0"})
				if err != nil {
					return false, err
				}
				found := 0
				for _, item := range list.Items {
					if want := written[ns][item.Name]; want != nil && item.UID == want.UID && item.Spec.Image == want.Spec.Image {
						found++
					}
				}
				return found == len(written[ns]) && len(list.Items) == found, nil
			})
			if err != nil {
				t.Errorf("the cached LIST does not hold the %d objects as written: %v", len(written[ns]), err)
			}
			// An update rewrites each in the reader's media type.
			for name := range written[ns] {
				got, err := c.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				got.Spec.Image = "registry.example/rewritten-as-" + r.name + ":1.0"
				updated, err := c.Update(ctx, got, metav1.UpdateOptions{})
				if err != nil {
					t.Fatalf("updating %s/%s: %v", ns, name, err)
				}
				value := storedValue(t, etcdClient.KV, ns, name)
				if !r.encoded(value) {
					t.Errorf("after an update by --storage-media-type=%s, %s/%s is stored as %.80q", r.mediaType, ns, name, value)
				}
				checkStored(t, value, updated)
			}
		})
	}
}

// checkStored decodes a value from etcd, in whatever media type, and compares it with the object
// the API returned when it stored the value.
func checkStored(t *testing.T, value []byte, want *esv1.EasyService) {
	t.Helper()
	var got esv1.EasyService
	if _, _, err := apiserver.Codecs.UniversalDeserializer().Decode(value, nil, &got); err != nil {
		t.Fatalf("decoding the stored value %.80q: %v", value, err)
	}
	// The resourceVersion is etcd's revision, which the value does not hold.
	if got.APIVersion != "app.easyservice.io/v1" || got.Kind != "EasyService" || got.UID != want.UID ||
		got.Generation != want.Generation || got.Spec.Image != want.Spec.Image || *got.Spec.Replicas != *want.Spec.Replicas {
		t.Errorf("the stored value of %s/%s = %+v, want %+v", want.Namespace, want.Name, got, want)
	}
}

// TestProtobufServed checks that clients that ask for protobuf get it: GET, LIST and WATCH of
// EasyServices, the scale subresource, errors, and create and update bodies; and that client-go
// works in protobuf alone.
func TestProtobufServed(t *testing.T) {
	s := StartServer(t, StartEtcd(t))
	ctx := t.Context()
	if _, err := s.Client.AppV1().EasyServices("pb").Create(ctx, newEasyService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const pb = runtime.ContentTypeProtobuf
	path := nsPath("pb")
	for _, accept := range []string{pb, pb + ", application/json"} {
		t.Run("GET, Accept "+accept, func(t *testing.T) {
			var es esv1.EasyService
			getProtobuf(t, s, path+"/web", accept, http.StatusOK, &es)
			if es.Name != "web" || es.Spec.Image != "nginx:1.27" {
				t.Errorf("GET = %+v", es)
			}
		})
		t.Run("LIST, Accept "+accept, func(t *testing.T) {
			var list esv1.EasyServiceList
			getProtobuf(t, s, path, accept, http.StatusOK, &list)
			if len(list.Items) != 1 || list.Items[0].Name != "web" || list.ResourceVersion == "" {
				t.Errorf("LIST = %+v", list)
			}
		})
	}

	t.Run("WATCH", func(t *testing.T) {
		r := s.do(t, http.MethodGet, path+"?watch=true&timeoutSeconds=1", "", nil, map[string]string{"Accept": pb})
		if r.code != http.StatusOK || r.header.Get("Content-Type") != pb+";stream=watch" {
			t.Fatalf("WATCH = %d %q, want 200 %s;stream=watch", r.code, r.header.Get("Content-Type"), pb)
		}
		// Length-prefixed frames, each a bare protobuf WatchEvent holding the object in protobuf.
		if len(r.body) < 4 {
			t.Fatalf("WATCH body %q has no frame", r.body)
		}
		n := binary.BigEndian.Uint32(r.body)
		frame := r.body[4:]
		if uint32(len(frame)) < n {
			t.Fatalf("WATCH frame of %d bytes, %d read", n, len(frame))
		}
		var event metav1.WatchEvent
		if err := event.Unmarshal(frame[:n]); err != nil {
			t.Fatalf("decoding the first watch frame %.40q: %v", frame[:n], err)
		}
		var es esv1.EasyService
		if event.Type != string(watch.Added) || !bytes.HasPrefix(event.Object.Raw, protobufMagic) {
			t.Fatalf("first watch event %s with object %.40q, want ADDED in protobuf", event.Type, event.Object.Raw)
		}
		decodeProtobuf(t, event.Object.Raw, &es)
		if es.Name != "web" {
			t.Errorf("watch event object = %+v", es)
		}
	})

	t.Run("scale subresource", func(t *testing.T) {
		var scale autoscalingv1.Scale
		getProtobuf(t, s, path+"/web/scale", pb, http.StatusOK, &scale)
		if scale.Spec.Replicas != 2 || scale.Name != "web" {
			t.Errorf("scale = %+v", scale)
		}
	})

	t.Run("errors are protobuf Status", func(t *testing.T) {
		var st metav1.Status
		getProtobuf(t, s, path+"/missing", pb, http.StatusNotFound, &st)
		if st.Reason != metav1.StatusReasonNotFound {
			t.Errorf("Status = %+v", st)
		}
	})

	t.Run("tables stay JSON", func(t *testing.T) {
		// What kubectl get asks for; a protobuf Table is not offered, as in kube-apiserver.
		for _, accept := range []string{
			"application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
			pb + ";as=Table;v=v1;g=meta.k8s.io, application/json;as=Table;v=v1;g=meta.k8s.io",
		} {
			r := s.do(t, http.MethodGet, path, "", nil, map[string]string{"Accept": accept})
			var table metav1.Table
			if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("GET %q = %d %q, want a JSON Table", accept, r.code, r.header.Get("Content-Type"))
			} else if err := json.Unmarshal(r.body, &table); err != nil || table.Kind != "Table" || len(table.Rows) != 1 {
				t.Errorf("GET %q = %s (%v), want a Table of one row", accept, r.body, err)
			}
		}
	})

	t.Run("client-go in protobuf", func(t *testing.T) {
		config := rest.CopyConfig(s.ClientConfig)
		config.ContentType = pb
		config.AcceptContentTypes = pb
		client, err := clientset.NewForConfig(config)
		if err != nil {
			t.Fatal(err)
		}
		c := client.AppV1().EasyServices("pb")
		w, err := c.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		es := newEasyService("from-protobuf")
		created, err := c.Create(ctx, es, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Spec.Image = "nginx:1.28"
		if _, err := c.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		scale, err := c.GetScale(ctx, "from-protobuf", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		scale.Spec.Replicas = 4
		if _, err := c.UpdateScale(ctx, "from-protobuf", scale, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, "from-protobuf", metav1.GetOptions{})
		if err != nil || got.Spec.Image != "nginx:1.28" || *got.Spec.Replicas != 4 {
			t.Fatalf("GET after the updates = %+v, %v", got, err)
		}
		list, err := c.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 2 {
			t.Fatalf("LIST = %+v, %v", list, err)
		}
		timeout := time.After(30 * time.Second)
		for seen := map[watch.EventType]bool{}; !seen[watch.Modified]; {
			select {
			case ev := <-w.ResultChan():
				if es, ok := ev.Object.(*esv1.EasyService); !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
					t.Fatalf("watch event %s %T", ev.Type, ev.Object)
				} else if es.Name == "from-protobuf" {
					seen[ev.Type] = true
				}
			case <-timeout:
				t.Fatal("no MODIFIED event of from-protobuf within 30s")
			}
		}
	})
}
