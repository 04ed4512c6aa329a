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

package install

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/easyservice/easyservice/pkg/generated/openapi"
)

// TestOpenAPIDefaultsArePlainValues: every default in our OpenAPI schemas is a plain JSON value (a
// string, a number, ...), never a value of a named Go type such as corev1.Protocol, which a
// +default=ref(...) marker generates. Server-side apply reads the defaults of list-map keys from
// these schemas, and a default it does not take for a string leaves the key unset: an apply of a
// port without a protocol then adds a second port instead of merging with the stored TCP one.
func TestOpenAPIDefaultsArePlainValues(t *testing.T) {
	defs := openapi.GetOpenAPIDefinitions(func(path string) spec.Ref { return spec.MustCreateRef(path) })
	checked := 0
	for name, def := range defs {
		if !strings.Contains(name, "easyservice") {
			continue
		}
		walkSchema(&def.Schema, name, func(path string, s *spec.Schema) {
			if s.Default == nil {
				return
			}
			checked++
			if typ := reflect.TypeOf(s.Default); typ.PkgPath() != "" {
				t.Errorf("%s: default %v is a %s, not a plain JSON value", path, s.Default, typ)
			}
		})
	}
	if checked == 0 {
		t.Fatal("no default found in the EasyService schemas: the check checks nothing")
	}
}

// walkSchema calls f on s and on every schema below it.
func walkSchema(s *spec.Schema, path string, f func(string, *spec.Schema)) {
	f(path, s)
	for name, p := range s.Properties {
		walkSchema(&p, path+"."+name, f)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walkSchema(s.Items.Schema, path+"[]", f)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walkSchema(s.AdditionalProperties.Schema, path+"{}", f)
	}
	for i := range s.AllOf {
		walkSchema(&s.AllOf[i], path, f)
	}
}
