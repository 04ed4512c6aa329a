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
	"math/rand"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	esfuzzer "github.com/easyservice/easyservice/pkg/apis/easyservice/fuzzer"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
)

// TestConvertBetweenExternalVersions: a typed EasyService converts straight from one served version
// to the other (as the MutatingAdmissionPolicy dispatcher asks) and gives what converting through
// the internal version gives, for fuzzed objects.
func TestConvertBetweenExternalVersions(t *testing.T) {
	scheme := runtime.NewScheme()
	Install(scheme)
	f := fuzzer.FuzzerFor(esfuzzer.Funcs, rand.NewSource(rand.Int63()), serializer.NewCodecFactory(scheme))
	for range 200 {
		internal := &easyservice.EasyService{}
		f.Fill(internal)
		internal.Kind, internal.APIVersion = "", ""
		for _, pair := range []struct{ from, to runtime.GroupVersioner }{
			{v1.SchemeGroupVersion, v1beta1.SchemeGroupVersion},
			{v1beta1.SchemeGroupVersion, v1.SchemeGroupVersion},
		} {
			from, err := scheme.ConvertToVersion(internal.DeepCopy(), pair.from)
			if err != nil {
				t.Fatalf("internal to %v: %v", pair.from, err)
			}
			want, err := scheme.ConvertToVersion(internal.DeepCopy(), pair.to)
			if err != nil {
				t.Fatalf("internal to %v: %v", pair.to, err)
			}
			got, err := scheme.ConvertToVersion(from, pair.to)
			if err != nil {
				t.Fatalf("%v to %v: %v", pair.from, pair.to, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%v to %v differs from the conversion through the internal version (-want +got):\n%s", pair.from, pair.to, diff)
			}
		}
	}
}
