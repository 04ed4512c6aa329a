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

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
)

// TableConvertor prints EasyServices for kubectl get, like a Deployment and its Service together.
type TableConvertor struct{}

var _ rest.TableConvertor = TableConvertor{}

// columns are the table's columns; priority 1 columns show with -o wide.
var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Ready", Type: "string", Description: "Ready pods out of the desired replicas."},
	{Name: "Up-to-date", Type: "integer", Description: "Pods running the current pod template."},
	{Name: "Available", Type: "integer", Description: "Pods available to serve."},
	{Name: "Image", Type: "string", Description: "The container image."},
	{Name: "Ports", Type: "string", Description: "Service ports: port[:nodePort]/protocol."},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	{Name: "Type", Type: "string", Priority: 1, Description: "The type of the Service."},
	{Name: "Selector", Type: "string", Priority: 1, Description: "The label selector of the pods."},
}

// ConvertToTable converts an EasyService or a list of them to a table.
func (TableConvertor) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: slices.Clone(columns)}
	if opts, ok := tableOptions.(*metav1.TableOptions); ok && opts.NoHeaders {
		table.ColumnDefinitions = nil
	}

	switch obj := object.(type) {
	case *easyservice.EasyService:
		table.ResourceVersion = obj.ResourceVersion
		table.Rows = []metav1.TableRow{printEasyService(obj)}
	case *easyservice.EasyServiceList:
		table.ResourceVersion = obj.ResourceVersion
		table.Continue = obj.Continue
		table.RemainingItemCount = obj.RemainingItemCount
		table.Rows = make([]metav1.TableRow, 0, len(obj.Items))
		for i := range obj.Items {
			table.Rows = append(table.Rows, printEasyService(&obj.Items[i]))
		}
	default:
		return nil, fmt.Errorf("cannot print %T as an EasyService table", object)
	}
	return table, nil
}

func printEasyService(es *easyservice.EasyService) metav1.TableRow {
	selector := es.Status.Selector
	if selector == "" {
		selector = "<none>"
	}
	return metav1.TableRow{
		Object: runtime.RawExtension{Object: es},
		Cells: []interface{}{
			es.Name,
			fmt.Sprintf("%d/%d", es.Status.ReadyReplicas, es.Spec.Replicas),
			int64(es.Status.UpdatedReplicas),
			int64(es.Status.AvailableReplicas),
			es.Spec.Image,
			formatPorts(es.Spec.Ports),
			translateTimestampSince(es.CreationTimestamp),
			string(es.Spec.ServiceType),
			selector,
		},
	}
}

// formatPorts prints ports the way kubectl prints a Service's: "80:31002/TCP,443/TCP".
func formatPorts(ports []easyservice.EasyServicePort) string {
	if len(ports) == 0 {
		return "<none>"
	}
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		s := strconv.Itoa(int(p.Port))
		if p.NodePort != 0 {
			s += ":" + strconv.Itoa(int(p.NodePort))
		}
		parts = append(parts, s+"/"+string(p.Protocol))
	}
	return strings.Join(parts, ",")
}

func translateTimestampSince(ts metav1.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(metav1.Now().Sub(ts.Time))
}
