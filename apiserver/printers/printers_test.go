package printers

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// testNow is the clock every test table is built at.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(testNow.Add(-d)) }

func convert(t *testing.T, gr schema.GroupResource, obj runtime.Object, opts runtime.Object) *metav1.Table {
	t.Helper()
	table, err := convertorFor(gr, func() time.Time { return testNow }).ConvertToTable(context.Background(), obj, opts)
	if err != nil {
		t.Fatalf("ConvertToTable(%s, %T): %v", gr, obj, err)
	}
	return table
}

// columnSpec writes columns as name:type, wide ones (priority 1) prefixed with +.
func columnSpec(cols []metav1.TableColumnDefinition) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		prefix := ""
		if c.Priority == 1 {
			prefix = "+"
		}
		parts[i] = prefix + c.Name + ":" + c.Type
	}
	return strings.Join(parts, " ")
}

func gr(group, resource string) schema.GroupResource {
	return schema.GroupResource{Group: group, Resource: resource}
}

func TestColumnsAreThoseOfKubeAPIServer(t *testing.T) {
	tests := []struct {
		resource schema.GroupResource
		want     string
	}{
		{gr("", "pods"), "Name:string Ready:string Status:string Restarts:string Age:string +IP:string +Node:string +Nominated Node:string +Readiness Gates:string"},
		{gr("", "podtemplates"), "Name:string Containers:string Images:string Pod Labels:string"},
		{gr("", "replicationcontrollers"), "Name:string Desired:integer Current:integer Ready:integer Age:string +Containers:string +Images:string +Selector:string"},
		{gr("", "services"), "Name:string Type:string Cluster-IP:string External-IP:string Port(s):string Age:string +Selector:string"},
		{gr("", "endpoints"), "Name:string Endpoints:string Age:string"},
		{gr("", "nodes"), "Name:string Status:string Roles:string Age:string Version:string +Internal-IP:string +External-IP:string +OS-Image:string +Kernel-Version:string +Container-Runtime:string"},
		{gr("", "events"), "Last Seen:string Type:string Reason:string Object:string +Subobject:string +Source:string Message:string +First Seen:string +Count:string +Name:string"},
		{gr("events.k8s.io", "events"), "Last Seen:string Type:string Reason:string Object:string +Subobject:string +Source:string Message:string +First Seen:string +Count:string +Name:string"},
		{gr("", "namespaces"), "Name:string Status:string Age:string"},
		{gr("", "secrets"), "Name:string Type:string Data:string Age:string"},
		{gr("", "serviceaccounts"), "Name:string Secrets:string Age:string"},
		{gr("", "persistentvolumes"), "Name:string Capacity:string Access Modes:string Reclaim Policy:string Status:string Claim:string StorageClass:string VolumeAttributesClass:string Reason:string Age:string +VolumeMode:string"},
		{gr("", "persistentvolumeclaims"), "Name:string Status:string Volume:string Capacity:string Access Modes:string StorageClass:string VolumeAttributesClass:string Age:string +VolumeMode:string"},
		{gr("", "configmaps"), "Name:string Data:string Age:string"},
		{gr("", "resourcequotas"), "Name:string Request:string Limit:string Age:string"},
		{gr("apps", "deployments"), "Name:string Ready:string Up-to-date:string Available:string Age:string +Containers:string +Images:string +Selector:string"},
		{gr("apps", "replicasets"), "Name:string Desired:integer Current:integer Ready:integer Age:string +Containers:string +Images:string +Selector:string"},
		{gr("apps", "statefulsets"), "Name:string Ready:string Age:string +Containers:string +Images:string"},
		{gr("apps", "daemonsets"), "Name:string Desired:integer Current:integer Ready:integer Up-to-date:integer Available:integer Node Selector:string Age:string +Containers:string +Images:string +Selector:string"},
		{gr("apps", "controllerrevisions"), "Name:string Controller:string Revision:string Age:string"},
		{gr("batch", "jobs"), "Name:string Status:string Completions:string Duration:string Age:string +Containers:string +Images:string +Selector:string"},
		{gr("batch", "cronjobs"), "Name:string Schedule:string Timezone:string Suspend:boolean Active:integer Last Schedule:string Age:string +Containers:string +Images:string +Selector:string"},
		{gr("autoscaling", "horizontalpodautoscalers"), "Name:string Reference:string Targets:string MinPods:string MaxPods:string Replicas:string Age:string"},
		{gr("policy", "poddisruptionbudgets"), "Name:string Min Available:string Max Unavailable:string Allowed Disruptions:integer Age:string"},
		{gr("coordination.k8s.io", "leases"), "Name:string Holder:string Age:string"},
		{gr("discovery.k8s.io", "endpointslices"), "Name:string AddressType:string Ports:string Endpoints:string Age:string"},
		{gr("networking.k8s.io", "ingresses"), "Name:string Class:string Hosts:string Address:string Ports:string Age:string"},
		{gr("networking.k8s.io", "ingressclasses"), "Name:string Controller:string Parameters:string Age:string"},
		{gr("networking.k8s.io", "networkpolicies"), "Name:string Pod-Selector:string Age:string"},
		{gr("storage.k8s.io", "storageclasses"), "Name:string Provisioner:string ReclaimPolicy:string VolumeBindingMode:string AllowVolumeExpansion:string Age:string"},
		{gr("scheduling.k8s.io", "priorityclasses"), "Name:string Value:integer Global-Default:boolean Age:string PreemptionPolicy:string"},
		{gr("rbac.authorization.k8s.io", "rolebindings"), "Name:string Role:string Age:string +Users:string +Groups:string +ServiceAccounts:string"},
		{gr("rbac.authorization.k8s.io", "clusterrolebindings"), "Name:string Role:string Age:string +Users:string +Groups:string +ServiceAccounts:string"},
	}
	for _, tt := range tests {
		t.Run(tt.resource.String(), func(t *testing.T) {
			builder := tableOf(tt.resource)
			if builder == nil {
				t.Fatalf("no table for %s", tt.resource)
			}
			cols := builder.columnDefinitions()
			if got := columnSpec(cols); got != tt.want {
				t.Errorf("columns\n got %s\nwant %s", got, tt.want)
			}
			for _, c := range cols {
				if c.Description == "" {
					t.Errorf("column %q has no description", c.Name)
				}
				if (c.Format == "name") != (c.Name == "Name") {
					t.Errorf("column %q has format %q; only Name columns are formatted as names", c.Name, c.Format)
				}
			}
		})
	}
}

func TestColumnDescriptionsComeFromTheAPIDocumentation(t *testing.T) {
	cols := tableOf(gr("", "pods")).columnDefinitions()
	want := map[string]string{
		"Name": metav1.ObjectMeta{}.SwaggerDoc()["name"],
		"Age":  metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"],
		"IP":   corev1.PodStatus{}.SwaggerDoc()["podIP"],
		"Node": corev1.PodSpec{}.SwaggerDoc()["nodeName"],
	}
	for _, c := range cols {
		if w, ok := want[c.Name]; ok && c.Description != w {
			t.Errorf("column %q: description %q, want %q", c.Name, c.Description, w)
		}
	}
}

func TestEveryRowHoldsItsObjectAndOneCellPerColumn(t *testing.T) {
	for _, tt := range cellTests() {
		t.Run(tt.name, func(t *testing.T) {
			table := convert(t, tt.resource, tt.obj, nil)
			if len(table.Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(table.Rows))
			}
			row := table.Rows[0]
			if row.Object.Object != tt.obj {
				t.Errorf("row object is %v, want the object converted", row.Object.Object)
			}
			if len(row.Cells) != len(table.ColumnDefinitions) {
				t.Errorf("%d cells for %d columns", len(row.Cells), len(table.ColumnDefinitions))
			}
		})
	}
}

func TestCellsAreThoseKubectlPrints(t *testing.T) {
	for _, tt := range cellTests() {
		t.Run(tt.name, func(t *testing.T) {
			table := convert(t, tt.resource, tt.obj, nil)
			if got := table.Rows[0].Cells; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestListHasARowPerItemAndTheListsMetadata(t *testing.T) {
	remaining := int64(7)
	list := &corev1.ConfigMapList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: &remaining},
		Items: []corev1.ConfigMap{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: ago(10 * time.Minute), ResourceVersion: "40"}, Data: map[string]string{"k": "v"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", CreationTimestamp: ago(5 * 24 * time.Hour), ResourceVersion: "41"}, BinaryData: map[string][]byte{"x": nil, "y": nil}},
		},
	}
	table := convert(t, gr("", "configmaps"), list, &metav1.TableOptions{})
	if table.ResourceVersion != "42" || table.Continue != "next-page" || table.RemainingItemCount == nil || *table.RemainingItemCount != 7 {
		t.Errorf("list metadata %+v, want resourceVersion 42, continue next-page, 7 remaining", table.ListMeta)
	}
	want := [][]any{{"a", int64(1), "10m"}, {"b", int64(2), "5d"}}
	if len(table.Rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(table.Rows), len(want))
	}
	for i, row := range table.Rows {
		if !reflect.DeepEqual(row.Cells, want[i]) {
			t.Errorf("row %d: cells %#v, want %#v", i, row.Cells, want[i])
		}
		if row.Object.Object != &list.Items[i] {
			t.Errorf("row %d does not hold item %d of the list", i, i)
		}
	}
	if got := columnSpec(table.ColumnDefinitions); got != "Name:string Data:string Age:string" {
		t.Errorf("columns %s", got)
	}
}

func TestEmptyListHasNoRowsButItsColumns(t *testing.T) {
	table := convert(t, gr("", "pods"), &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}}, nil)
	if table.Rows == nil || len(table.Rows) != 0 {
		t.Errorf("rows %#v, want an empty list", table.Rows)
	}
	if len(table.ColumnDefinitions) != 9 || table.ResourceVersion != "9" {
		t.Errorf("got %d columns, resourceVersion %q", len(table.ColumnDefinitions), table.ResourceVersion)
	}
}

func TestSingleObjectGetsItsOwnResourceVersion(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", ResourceVersion: "17", CreationTimestamp: ago(3 * time.Hour)},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	table := convert(t, gr("", "namespaces"), ns, nil)
	if table.ResourceVersion != "17" || table.Continue != "" || table.RemainingItemCount != nil {
		t.Errorf("list metadata %+v, want only resourceVersion 17", table.ListMeta)
	}
	if want := []any{"default", "Active", "3h"}; !reflect.DeepEqual(table.Rows[0].Cells, want) {
		t.Errorf("cells %#v, want %#v", table.Rows[0].Cells, want)
	}
}

func TestNoHeadersLeavesOutTheColumnDefinitions(t *testing.T) {
	for _, resource := range []schema.GroupResource{gr("", "secrets"), gr("rbac.authorization.k8s.io", "roles")} {
		t.Run(resource.String(), func(t *testing.T) {
			obj := runtime.Object(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}})
			if resource.Resource == "roles" {
				obj = &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r"}}
			}
			table := convert(t, resource, obj, &metav1.TableOptions{NoHeaders: true})
			if table.ColumnDefinitions != nil {
				t.Errorf("column definitions %v, want none", table.ColumnDefinitions)
			}
			if len(table.Rows) != 1 || len(table.Rows[0].Cells) == 0 {
				t.Errorf("rows %v, want one row with cells", table.Rows)
			}
			if headers := convert(t, resource, obj, &metav1.TableOptions{}); len(headers.ColumnDefinitions) == 0 {
				t.Error("without noHeaders the columns are missing")
			}
		})
	}
}

func TestResourcesWithoutColumnsGetTheDefaultTable(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 4, 30, 8, 15, 0, 0, time.UTC))
	tests := []struct {
		resource schema.GroupResource
		obj      runtime.Object
	}{
		{gr("rbac.authorization.k8s.io", "roles"), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: created}}},
		{gr("rbac.authorization.k8s.io", "clusterroles"), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: created}}},
		{gr("", "limitranges"), &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: created}}},
	}
	for _, tt := range tests {
		t.Run(tt.resource.String(), func(t *testing.T) {
			if tableOf(tt.resource) != nil {
				t.Fatalf("%s has columns of its own", tt.resource)
			}
			table := convert(t, tt.resource, tt.obj, nil)
			if got := columnSpec(table.ColumnDefinitions); got != "Name:string Created At:date" {
				t.Errorf("columns %s, want NAME and CREATED AT", got)
			}
			if want := []any{"x", "2026-04-30T08:15:00Z"}; !reflect.DeepEqual(table.Rows[0].Cells, want) {
				t.Errorf("cells %#v, want %#v", table.Rows[0].Cells, want)
			}
		})
	}
}

func TestObjectsOfAnotherTypeAreRefused(t *testing.T) {
	c := convertorFor(gr("", "pods"), func() time.Time { return testNow })
	for _, obj := range []runtime.Object{&corev1.Service{}, &corev1.ServiceList{Items: []corev1.Service{{}}}} {
		if _, err := c.ConvertToTable(context.Background(), obj, nil); err == nil || !strings.Contains(err.Error(), "no table handler registered") {
			t.Errorf("%T: err %v, want no table handler", obj, err)
		}
	}
}

func TestTableOptionsOfAnotherTypeAreRefused(t *testing.T) {
	c := convertorFor(gr("", "pods"), func() time.Time { return testNow })
	_, err := c.ConvertToTable(context.Background(), &corev1.Pod{}, &metav1.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "unrecognized type *v1.ListOptions for table options") {
		t.Errorf("err %v, want unrecognized table options", err)
	}
	var nilOptions *metav1.TableOptions
	if _, err := c.ConvertToTable(context.Background(), &corev1.Pod{}, nilOptions); err != nil {
		t.Errorf("nil table options: %v", err)
	}
}

func TestStatusGetsStatusColumns(t *testing.T) {
	status := &metav1.Status{Status: metav1.StatusSuccess, Reason: "Deleted", Message: "gone", ListMeta: metav1.ListMeta{ResourceVersion: "5"}}
	table := convert(t, gr("apps", "deployments"), status, nil)
	if got := columnSpec(table.ColumnDefinitions); got != "Status:string Reason:string Message:string" {
		t.Errorf("columns %s", got)
	}
	if want := []any{"Success", "Deleted", "gone"}; !reflect.DeepEqual(table.Rows[0].Cells, want) {
		t.Errorf("cells %#v, want %#v", table.Rows[0].Cells, want)
	}
}

func TestOnlyTheEffectiveDefaultStorageClassIsMarkedInAList(t *testing.T) {
	annotated := func(name string, created time.Duration, annotation string) storagev1.StorageClass {
		sc := storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: ago(created)}, Provisioner: "p"}
		if annotation != "" {
			sc.Annotations = map[string]string{annotation: "true"}
		}
		return sc
	}
	tests := []struct {
		name  string
		items []storagev1.StorageClass
		want  []string
	}{
		{"one default", []storagev1.StorageClass{annotated("fast", time.Hour, ""), annotated("local", time.Hour, defaultStorageClassAnnotation)},
			[]string{"fast", "local (default)"}},
		{"beta annotation", []storagev1.StorageClass{annotated("old", time.Hour, betaDefaultStorageClassAnnotation)},
			[]string{"old (default)"}},
		{"newest default wins", []storagev1.StorageClass{annotated("a", 2*time.Hour, defaultStorageClassAnnotation), annotated("b", time.Hour, defaultStorageClassAnnotation)},
			[]string{"a", "b (default)"}},
		{"first name among equals", []storagev1.StorageClass{annotated("z", time.Hour, defaultStorageClassAnnotation), annotated("m", time.Hour, defaultStorageClassAnnotation)},
			[]string{"z", "m (default)"}},
		{"no default", []storagev1.StorageClass{annotated("a", time.Hour, "")}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := convert(t, gr("storage.k8s.io", "storageclasses"), &storagev1.StorageClassList{Items: tt.items}, nil)
			var names []string
			for _, row := range table.Rows {
				names = append(names, row.Cells[0].(string))
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("names %v, want %v", names, tt.want)
			}
		})
	}
	single := annotated("local", time.Hour, defaultStorageClassAnnotation)
	if got := convert(t, gr("storage.k8s.io", "storageclasses"), &single, nil).Rows[0].Cells[0]; got != "local" {
		t.Errorf("a class read alone is named %q, want it unmarked", got)
	}
}
