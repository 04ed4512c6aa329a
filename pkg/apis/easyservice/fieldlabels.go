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

package easyservice

import "fmt"

// Field selector labels an EasyService supports, beyond metadata.name and metadata.namespace. They are
// named the same in every served version.
const (
	// FieldImage selects on spec.image.
	FieldImage = "spec.image"
	// FieldServiceType selects on spec.serviceType.
	FieldServiceType = "spec.serviceType"
)

// ConvertFieldLabel is the field label conversion function of every served version: it accepts
// the supported labels unchanged and rejects all others.
func ConvertFieldLabel(label, value string) (string, string, error) {
	switch label {
	case "metadata.name", "metadata.namespace", FieldImage, FieldServiceType:
		return label, value, nil
	default:
		return "", "", fmt.Errorf("field label not supported: %s", label)
	}
}
