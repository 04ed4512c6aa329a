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

package easyservice_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	registry "github.com/easyservice/easyservice/pkg/registry/easyservice"
)

// tableEasyService returns an EasyService created ten days ago with two ports.
func tableEasyService() *easyservice.EasyService {
	return &easyservice.EasyService{
		ObjectMeta: metav1.ObjectMeta{
			Name:              "web",
			Namespace:         metav1.NamespaceDefault,
			ResourceVersion:   "42",
			CreationTimestamp: metav1.NewTime(time.Now().Add(-10*24*time.Hour - time.Minute)),
		},
		Spec: easyservice.EasyServiceSpec{
			Replicas: 3,
			Image:    "nginx:1.27",
			Ports: []easyservice.EasyServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 31002},
				{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(8443)},
			},
			ServiceType: corev1.ServiceTypeNodePort,
		},
		Status: easyservice.EasyServiceStatus{
			Replicas:          3,
			UpdatedReplicas:   2,
			ReadyReplicas:     1,
			AvailableReplicas: 1,
			Selector:          "app.easyservice.io/name=web",
		},
	}
}

func TestConvertToTableColumns(t *testing.T) {
	table, err := registry.TableConvertor{}.ConvertToTable(context.Background(), tableEasyService(), nil)
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	want := []struct {
		name     string
		typ      string
		priority int32
	}{
		{"Name", "string", 0},
		{"Ready", "string", 0},
		{"Up-to-date", "integer", 0},
		{"Available", "integer", 0},
		{"Image", "string", 0},
		{"Ports", "string", 0},
		{"Age", "string", 0},
		{"Type", "string", 1},
		{"Selector", "string", 1},
	}
	if len(table.ColumnDefinitions) != len(want) {
		t.Fatalf("got %d columns %v, want %d", len(table.ColumnDefinitions), table.ColumnDefinitions, len(want))
	}
	for i, w := range want {
		c := table.ColumnDefinitions[i]
		if c.Name != w.name || c.Type != w.typ || c.Priority != w.priority {
			t.Errorf("column %d = %s (type %s, priority %d), want %s (type %s, priority %d)", i, c.Name, c.Type, c.Priority, w.name, w.typ, w.priority)
		}
		if c.Description == "" {
			t.Errorf("column %s has no description", c.Name)
		}
	}
	if table.ColumnDefinitions[0].Format != "name" {
		t.Errorf("the Name column format = %q, want %q", table.ColumnDefinitions[0].Format, "name")
	}
}

func TestConvertToTableSingle(t *testing.T) {
	es := tableEasyService()
	table, err := registry.TableConvertor{}.ConvertToTable(context.Background(), es, &metav1.TableOptions{})
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	if table.ResourceVersion != "42" {
		t.Errorf("resourceVersion = %q, want %q", table.ResourceVersion, "42")
	}
	if len(table.Rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(table.Rows))
	}
	row := table.Rows[0]
	want := []interface{}{"web", "1/3", int64(2), int64(1), "nginx:1.27", "80:31002/TCP,443/TCP", "10d", "NodePort", "app.easyservice.io/name=web"}
	if !reflect.DeepEqual(row.Cells, want) {
		t.Errorf("cells = %#v, want %#v", row.Cells, want)
	}
	if len(row.Cells) != len(table.ColumnDefinitions) {
		t.Errorf("%d cells for %d columns", len(row.Cells), len(table.ColumnDefinitions))
	}
	if row.Object.Object != es {
		t.Errorf("row object = %#v, want the EasyService", row.Object.Object)
	}
}

func TestConvertToTableEmptyFields(t *testing.T) {
	es := &easyservice.EasyService{
		ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: metav1.NamespaceDefault},
		Spec: easyservice.EasyServiceSpec{
			Image:       "busybox",
			ServiceType: corev1.ServiceTypeClusterIP,
		},
	}
	table, err := registry.TableConvertor{}.ConvertToTable(context.Background(), es, nil)
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	want := []interface{}{"bare", "0/0", int64(0), int64(0), "busybox", "<none>", "<unknown>", "ClusterIP", "<none>"}
	if !reflect.DeepEqual(table.Rows[0].Cells, want) {
		t.Errorf("cells = %#v, want %#v", table.Rows[0].Cells, want)
	}
}

func TestConvertToTablePorts(t *testing.T) {
	tests := []struct {
		name  string
		ports []easyservice.EasyServicePort
		want  string
	}{
		{name: "none", want: "<none>"},
		{name: "one", ports: []easyservice.EasyServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}, want: "80/TCP"},
		{name: "node port", ports: []easyservice.EasyServicePort{{Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}}, want: "53:30053/UDP"},
		{
			name: "several",
			ports: []easyservice.EasyServicePort{
				{Port: 80, NodePort: 31002, Protocol: corev1.ProtocolTCP},
				{Port: 443, Protocol: corev1.ProtocolTCP},
				{Port: 9000, Protocol: corev1.ProtocolSCTP},
			},
			want: "80:31002/TCP,443/TCP,9000/SCTP",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := tableEasyService()
			es.Spec.Ports = tc.ports
			table, err := registry.TableConvertor{}.ConvertToTable(context.Background(), es, nil)
			if err != nil {
				t.Fatalf("ConvertToTable: %v", err)
			}
			if got := table.Rows[0].Cells[5]; got != tc.want {
				t.Errorf("ports = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConvertToTableList(t *testing.T) {
	first := tableEasyService()
	second := tableEasyService()
	second.Name = "api"
	second.Spec.Replicas = 1
	second.Spec.Ports = nil
	second.Spec.ServiceType = corev1.ServiceTypeClusterIP
	second.Status = easyservice.EasyServiceStatus{}
	remaining := int64(7)
	list := &easyservice.EasyServiceList{
		ListMeta: metav1.ListMeta{ResourceVersion: "100", Continue: "token", RemainingItemCount: &remaining},
		Items:    []easyservice.EasyService{*first, *second},
	}

	table, err := registry.TableConvertor{}.ConvertToTable(context.Background(), list, nil)
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	if table.ResourceVersion != "100" || table.Continue != "token" {
		t.Errorf("list metadata = resourceVersion %q continue %q, want %q and %q", table.ResourceVersion, table.Continue, "100", "token")
	}
	if table.RemainingItemCount == nil || *table.RemainingItemCount != remaining {
		t.Errorf("remainingItemCount = %v, want %d", table.RemainingItemCount, remaining)
	}
	if len(table.ColumnDefinitions) != 9 {
		t.Errorf("got %d columns, want 9", len(table.ColumnDefinitions))
	}
	if len(table.Rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(table.Rows))
	}
	wantFirst := []interface{}{"web", "1/3", int64(2), int64(1), "nginx:1.27", "80:31002/TCP,443/TCP", "10d", "NodePort", "app.easyservice.io/name=web"}
	wantSecond := []interface{}{"api", "0/1", int64(0), int64(0), "nginx:1.27", "<none>", "10d", "ClusterIP", "<none>"}
	if !reflect.DeepEqual(table.Rows[0].Cells, wantFirst) {
		t.Errorf("row 0 = %#v, want %#v", table.Rows[0].Cells, wantFirst)
	}
	if !reflect.DeepEqual(table.Rows[1].Cells, wantSecond) {
		t.Errorf("row 1 = %#v, want %#v", table.Rows[1].Cells, wantSecond)
	}
	for i := range table.Rows {
		if table.Rows[i].Object.Object != &list.Items[i] {
			t.Errorf("row %d does not refer to item %d", i, i)
		}
	}
}

func TestConvertToTableEmptyList(t *testing.T) {
	table, err := registry.TableConvertor{}.ConvertToTable(context.Background(), &easyservice.EasyServiceList{}, nil)
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	if table.Rows == nil || len(table.Rows) != 0 {
		t.Errorf("rows = %#v, want an empty, non-nil slice", table.Rows)
	}
}

func TestConvertToTableNoHeaders(t *testing.T) {
	for _, obj := range []runtime.Object{tableEasyService(), &easyservice.EasyServiceList{Items: []easyservice.EasyService{*tableEasyService()}}} {
		table, err := registry.TableConvertor{}.ConvertToTable(context.Background(), obj, &metav1.TableOptions{NoHeaders: true})
		if err != nil {
			t.Fatalf("ConvertToTable(%T): %v", obj, err)
		}
		if table.ColumnDefinitions != nil {
			t.Errorf("%T: NoHeaders must drop the column definitions, got %v", obj, table.ColumnDefinitions)
		}
		if len(table.Rows) != 1 || len(table.Rows[0].Cells) != 9 {
			t.Errorf("%T: rows = %#v, want one row of 9 cells", obj, table.Rows)
		}
	}
}

func TestConvertToTableUnknownType(t *testing.T) {
	for _, obj := range []runtime.Object{&corev1.Pod{}, &metav1.Status{}} {
		if _, err := (registry.TableConvertor{}).ConvertToTable(context.Background(), obj, nil); err == nil {
			t.Errorf("%T: expected an error", obj)
		}
	}
}
