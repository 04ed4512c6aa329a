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
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"

	esv1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
)

// encryptionNamespace holds the objects of TestEncryptionAtRest.
const encryptionNamespace = "enc"

// aesKey is a named key of the aesgcm provider.
type aesKey struct {
	name   string
	secret []byte
}

func newAESKey(t *testing.T, name string) aesKey {
	t.Helper()
	k := aesKey{name: name, secret: make([]byte, 32)}
	if _, err := rand.Read(k.secret); err != nil {
		t.Fatal(err)
	}
	return k
}

// writeEncryptionConfig writes an EncryptionConfiguration for EasyServices: an aesgcm provider with
// keys (the first encrypts, all decrypt), then the identity provider if identity is set, which
// reads values written before encryption was on.
func writeEncryptionConfig(t *testing.T, dir, name string, keys []aesKey, identity bool) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [easyservices.app.easyservice.io]
  providers:
  - aesgcm:
      keys:
`)
	for _, k := range keys {
		fmt.Fprintf(&b, "      - name: %s\n        secret: %s\n", k.name, base64.StdEncoding.EncodeToString(k.secret))
	}
	if identity {
		b.WriteString("  - identity: {}\n")
	}
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEncryptionAtRest runs the server with --encryption-provider-config over the life of a
// cluster's data, always on the same etcd, and reads every stored value straight from etcd: objects
// written before encryption was on stay readable once it is; new ones are stored in the AES-GCM
// envelope with no plaintext of the object in it; everything reads back after a restart; and a key
// rotation as the Kubernetes documentation describes it (add the new key second, restart; move it
// first, restart; rewrite every object; drop the old key, restart) leaves every value under the new
// key and readable with the old key and the identity provider gone.
func TestEncryptionAtRest(t *testing.T) {
	etcdClient := testserver.RunEtcd(t, nil)
	dir := t.TempDir()
	oldKey, newKey := newAESKey(t, "key1"), newAESKey(t, "key2")
	ctx := t.Context()
	// objects are the EasyServices as the API last returned them, by name.
	objects := map[string]*esv1.EasyService{}
	create := func(t *testing.T, s *TestServer, name string) {
		t.Helper()
		es := newEasyService(name)
		es.Spec.Image = "registry.example/very-secret-image-" + name + ":1.0"
		created, err := s.Client.AppV1().EasyServices(encryptionNamespace).Create(ctx, es, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		objects[name] = created
	}
	// start starts a server with the encryption configuration (none when "") and checks that it
	// reads every object written so far.
	start := func(t *testing.T, config string) *TestServer {
		t.Helper()
		var args []string
		if config != "" {
			args = append(args, "--encryption-provider-config="+config)
		}
		s := StartServer(t, etcdClient.Endpoints(), args...)
		checkReadable(t, s, objects)
		return s
	}
	stop := func(t *testing.T, s *TestServer) {
		t.Helper()
		if err := s.Stop(); err != nil {
			t.Fatalf("stopping the server: %v", err)
		}
	}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("before encryption", func(t *testing.T) {
		s := start(t, "")
		create(t, s, "plain")
		if value := storedValue(t, etcdClient.KV, encryptionNamespace, "plain"); !bytes.Contains(value, []byte(objects["plain"].Spec.Image)) {
			t.Fatalf("without encryption the stored value is %.60q, want the object in plaintext", value)
		}
		stop(t, s)
	})

	step("encryption on", func(t *testing.T) {
		s := start(t, writeEncryptionConfig(t, dir, "on", []aesKey{oldKey}, true))
		create(t, s, "secret-web")
		checkEncrypted(t, etcdClient.KV, objects["secret-web"], oldKey.name)
		stop(t, s)
	})

	step("restart", func(t *testing.T) {
		s := start(t, writeEncryptionConfig(t, dir, "restart", []aesKey{oldKey}, true))
		stop(t, s)
	})

	step("rotation: the new key second", func(t *testing.T) {
		s := start(t, writeEncryptionConfig(t, dir, "rotation-second", []aesKey{oldKey, newKey}, true))
		// The first key still encrypts, so that a server not yet restarted reads what this one writes.
		create(t, s, "during-rotation")
		checkEncrypted(t, etcdClient.KV, objects["during-rotation"], oldKey.name)
		stop(t, s)
	})

	step("rotation: the new key first, every object rewritten", func(t *testing.T) {
		s := start(t, writeEncryptionConfig(t, dir, "rotation-first", []aesKey{newKey, oldKey}, true))
		create(t, s, "after-rotation")
		checkEncrypted(t, etcdClient.KV, objects["after-rotation"], newKey.name)
		// kubectl get easyservices -A -o json | kubectl replace -f -: an update that changes nothing
		// still writes a value that was read with another than the first provider.
		list, err := s.Client.AppV1().EasyServices("").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != len(objects) {
			t.Fatalf("LIST returned %d objects, want %d", len(list.Items), len(objects))
		}
		for i := range list.Items {
			updated, err := s.Client.AppV1().EasyServices(encryptionNamespace).Update(ctx, &list.Items[i], metav1.UpdateOptions{})
			if err != nil {
				t.Fatalf("rewriting %s: %v", list.Items[i].Name, err)
			}
			objects[updated.Name] = updated
		}
		for _, es := range objects {
			checkEncrypted(t, etcdClient.KV, es, newKey.name)
		}
		stop(t, s)
	})

	step("rotation: the old key and identity dropped", func(t *testing.T) {
		s := start(t, writeEncryptionConfig(t, dir, "rotated", []aesKey{newKey}, false))
		for _, es := range objects {
			checkEncrypted(t, etcdClient.KV, es, newKey.name)
		}
		stop(t, s)
	})
}

// checkEncrypted checks that the stored value of es is the aesgcm envelope of key keyName, with no
// plaintext of es in it.
func checkEncrypted(t *testing.T, kv clientv3.KV, es *esv1.EasyService, keyName string) {
	t.Helper()
	value := storedValue(t, kv, encryptionNamespace, es.Name)
	if prefix := "k8s:enc:aesgcm:v1:" + keyName + ":"; !bytes.HasPrefix(value, []byte(prefix)) {
		t.Errorf("the stored value of %s starts with %.40q, want %q", es.Name, value, prefix)
	}
	for _, plain := range []string{es.Spec.Image, es.Name, "EasyService", string(es.UID)} {
		if bytes.Contains(value, []byte(plain)) {
			t.Errorf("the stored value of %s contains %q in plaintext", es.Name, plain)
		}
	}
}

// checkReadable checks that the server returns every object in want as the API last returned it:
// by GET (from etcd) and in a LIST from its watch cache.
func checkReadable(t *testing.T, s *TestServer, want map[string]*esv1.EasyService) {
	t.Helper()
	c := s.Client.AppV1().EasyServices(encryptionNamespace)
	same := func(got, want *esv1.EasyService) bool {
		return got.UID == want.UID && got.ResourceVersion == want.ResourceVersion && got.Spec.Image == want.Spec.Image
	}
	for name, es := range want {
		got, err := c.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("GET %s: %v", name, err)
		}
		if !same(got, es) {
			t.Errorf("GET %s = uid %s, resourceVersion %s, image %s; want %s, %s, %s", name,
				got.UID, got.ResourceVersion, got.Spec.Image, es.UID, es.ResourceVersion, es.Spec.Image)
		}
	}
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := c.List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		found := 0
		for i := range list.Items {
			if es := want[list.Items[i].Name]; es != nil && same(&list.Items[i], es) {
				found++
			}
		}
		last = fmt.Sprintf("%d of %d objects as written, %d in all", found, len(want), len(list.Items))
		return found == len(want) && len(list.Items) == found, nil
	})
	if err != nil {
		t.Errorf("the cached LIST: %s: %v", last, err)
	}
}
