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

package main

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/generated/openapi"
)

// The CRD twin of EasyService v1: same kind, same schema, another group.
const (
	crdGroup    = "bench.easyservice.io"
	crdVersion  = "v1"
	crdResource = "easyservices"
	crdName     = crdResource + "." + crdGroup
)

// quantityPattern is the pattern controller-gen gives a resource.Quantity.
const quantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

// crdManifest is the CustomResourceDefinition of EasyService v1 under crdGroup, its structural
// openAPIV3Schema generated from our own OpenAPI definitions (pkg/generated/openapi) with every
// $ref inlined, with the status and scale subresources like ours.
func crdManifest() (map[string]any, error) {
	schema, err := easyServiceSchema()
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": crdName},
		"spec": map[string]any{
			"group": crdGroup,
			"scope": "Namespaced",
			"names": map[string]any{
				"plural": crdResource, "singular": "easyservice", "kind": "EasyService", "listKind": "EasyServiceList",
			},
			"versions": []any{map[string]any{
				"name": crdVersion, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": schema},
				"subresources": map[string]any{
					"status": map[string]any{},
					"scale": map[string]any{
						"specReplicasPath":   ".spec.replicas",
						"statusReplicasPath": ".status.replicas",
						"labelSelectorPath":  ".status.selector",
					},
				},
			}},
		},
	}, nil
}

// easyServiceSchema converts the OpenAPI definition of EasyService v1 into a structural schema.
func easyServiceSchema() (map[string]any, error) {
	const prefix = "#/definitions/"
	defs := openapi.GetOpenAPIDefinitions(func(name string) spec.Ref { return spec.MustCreateRef(prefix + name) })
	c := &schemaConverter{defs: defs, prefix: prefix}
	root, err := c.definition(v1.EasyService{}.OpenAPIModelName(), nil)
	if err != nil {
		return nil, err
	}
	props, _ := root["properties"].(map[string]any)
	if props == nil {
		return nil, fmt.Errorf("EasyService has no properties")
	}
	// A CRD's metadata may only be {type: object}: the API server validates ObjectMeta itself.
	props["metadata"] = map[string]any{"type": "object"}
	return root, nil
}

type schemaConverter struct {
	defs   map[string]common.OpenAPIDefinition
	prefix string
}

// intOrString is the structural form of intstr.IntOrString and resource.Quantity.
func intOrString(description string, pattern string) map[string]any {
	s := map[string]any{
		"anyOf":                      []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}},
		"x-kubernetes-int-or-string": true,
	}
	if description != "" {
		s["description"] = description
	}
	if pattern != "" {
		s["pattern"] = pattern
	}
	return s
}

// definition converts the named definition; stack holds the definitions being converted (a cycle
// cannot be inlined).
func (c *schemaConverter) definition(name string, stack []string) (map[string]any, error) {
	switch name {
	case intstr.IntOrString{}.OpenAPIModelName():
		return intOrString("", ""), nil
	case resource.Quantity{}.OpenAPIModelName():
		return intOrString("", quantityPattern), nil
	}
	if slices.Contains(stack, name) {
		return nil, fmt.Errorf("recursive definition %s cannot be inlined", name)
	}
	def, ok := c.defs[name]
	if !ok {
		return nil, fmt.Errorf("no OpenAPI definition %s", name)
	}
	return c.schema(def.Schema, append(stack, name))
}

// keepDefault: scalar defaults are kept; the {} that Go's non-pointer structs get is not, as a CRD
// validates it against the object's required fields.
func keepDefault(d any) bool {
	if d == nil {
		return false
	}
	m, isMap := d.(map[string]any)
	return !isMap || len(m) > 0
}

// keptExtensions are the vendor extensions a CRD schema has.
var keptExtensions = []string{
	"x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
	"x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
}

func (c *schemaConverter) schema(s spec.Schema, stack []string) (map[string]any, error) {
	ref := s.Ref.String()
	if ref == "" && len(s.AllOf) == 1 {
		ref = s.AllOf[0].Ref.String()
	}
	if ref != "" {
		name, ok := strings.CutPrefix(ref, c.prefix)
		if !ok {
			return nil, fmt.Errorf("unexpected $ref %q", ref)
		}
		out, err := c.definition(name, stack)
		if err != nil {
			return nil, err
		}
		// The referring property's description and default win over the definition's.
		if s.Description != "" {
			out["description"] = s.Description
		}
		if keepDefault(s.Default) {
			out["default"] = s.Default
		}
		return out, nil
	}
	if s.Format == "int-or-string" {
		return intOrString(s.Description, ""), nil
	}
	out := map[string]any{}
	if s.Description != "" {
		out["description"] = s.Description
	}
	if len(s.Type) > 0 {
		out["type"] = s.Type[0]
	}
	switch s.Format {
	case "int32", "int64", "double", "float", "byte", "date-time", "date":
		out["format"] = s.Format
	}
	if keepDefault(s.Default) {
		out["default"] = s.Default
	}
	if len(s.Enum) > 0 {
		out["enum"] = s.Enum
	}
	if len(s.Required) > 0 {
		out["required"] = s.Required
	}
	if len(s.Properties) > 0 {
		props := map[string]any{}
		for name, p := range s.Properties {
			ps, err := c.schema(p, stack)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			props[name] = ps
		}
		out["properties"] = props
		if out["type"] == nil {
			out["type"] = "object"
		}
	}
	if s.Items != nil {
		if s.Items.Schema == nil {
			return nil, fmt.Errorf("tuple items are not structural")
		}
		items, err := c.schema(*s.Items.Schema, stack)
		if err != nil {
			return nil, err
		}
		out["items"] = items
	}
	if ap := s.AdditionalProperties; ap != nil {
		if ap.Schema != nil {
			as, err := c.schema(*ap.Schema, stack)
			if err != nil {
				return nil, err
			}
			out["additionalProperties"] = as
		} else if ap.Allows {
			out["x-kubernetes-preserve-unknown-fields"] = true
		}
	}
	for _, k := range keptExtensions {
		if v, ok := s.Extensions[k]; ok {
			out[k] = v
		}
	}
	if out["type"] == nil && out["x-kubernetes-int-or-string"] == nil && out["x-kubernetes-preserve-unknown-fields"] == nil {
		return nil, fmt.Errorf("a schema without a type is not structural: %v", s.Description)
	}
	return out, nil
}
