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
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/storage/etcd3/testserver"

	"github.com/easyservice/easyservice/pkg/cmd/server"
)

// TestEncryptionAtRest runs the server with --encryption-provider-config and reads the stored value
// straight from etcd: it must be the AES-GCM envelope, with no plaintext of the object in it, and the
// API must still read it back.
func TestEncryptionAtRest(t *testing.T) {
	etcdClient := testserver.RunEtcd(t, nil)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	config := `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [easyservices.app.easyservice.io]
  providers:
  - aesgcm:
      keys:
      - name: key1
        secret: ` + base64.StdEncoding.EncodeToString(key) + `
  - identity: {}
`
	configFile := filepath.Join(t.TempDir(), "encryption.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s := StartServer(t, etcdClient.Endpoints(), "--encryption-provider-config="+configFile)

	es := newEasyService("secret-web")
	es.Spec.Image = "registry.example/very-secret-image:1.0"
	if _, err := s.Client.AppV1().EasyServices("enc").Create(t.Context(), es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The generic store keys objects <prefix>/<group>/<resource>/<namespace>/<name>.
	objectKey := server.DefaultEtcdPathPrefix + "/app.easyservice.io/easyservices/enc/secret-web"
	resp, err := etcdClient.KV.Get(t.Context(), objectKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("found %d values at %s, want 1", len(resp.Kvs), objectKey)
	}
	value := resp.Kvs[0].Value
	if !bytes.HasPrefix(value, []byte("k8s:enc:aesgcm:v1:key1:")) {
		t.Errorf("the stored value does not start with the aesgcm envelope: %.40q", value)
	}
	for _, plain := range []string{"very-secret-image", "secret-web", "EasyService"} {
		if strings.Contains(string(value), plain) {
			t.Errorf("the stored value contains %q in plaintext", plain)
		}
	}
	got, err := s.Client.AppV1().EasyServices("enc").Get(t.Context(), "secret-web", metav1.GetOptions{})
	if err != nil || got.Spec.Image != es.Spec.Image {
		t.Errorf("reading the encrypted object back: %v, %v", got, err)
	}
}
