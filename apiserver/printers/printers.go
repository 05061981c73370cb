package printers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apiserver/pkg/registry/rest"
)

// For returns the table convertor of a resource, named by its storage's group and resource
// ({Group: "apps", Resource: "deployments"}). Resources without columns of their own get
// k8s.io/apiserver's default table: NAME and CREATED AT.
func For(gr schema.GroupResource) rest.TableConvertor {
	return convertorFor(gr, time.Now)
}

// convertorFor is For with the clock ages are measured against.
func convertorFor(gr schema.GroupResource, now func() time.Time) rest.TableConvertor {
	rows := tableOf(gr)
	if rows == nil {
		return rest.NewDefaultTableConvertor(gr)
	}
	return &convertor{rows: rows, now: now}
}

// rowBuilder is one resource's table: its columns, and the rows of an object or of a list of them.
type rowBuilder interface {
	columnDefinitions() []metav1.TableColumnDefinition
	rows(obj runtime.Object, now time.Time) ([]metav1.TableRow, error)
}

// convertor is the plumbing every resource shares: table options, headers and list metadata, as
// kube-apiserver's printer storage does it.
type convertor struct {
	rows rowBuilder
	now  func() time.Time
}

func (c *convertor) ConvertToTable(_ context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	noHeaders := false
	if tableOptions != nil {
		opts, ok := tableOptions.(*metav1.TableOptions)
		if !ok {
			return nil, fmt.Errorf("unrecognized type %T for table options, can't display tabular output", tableOptions)
		}
		if opts != nil {
			noHeaders = opts.NoHeaders
		}
	}
	builder := c.rows
	if _, ok := obj.(*metav1.Status); ok {
		builder = statusTable() // what a delete may answer with
	}
	rows, err := builder.rows(obj, c.now())
	if err != nil {
		return nil, err
	}
	table := &metav1.Table{Rows: rows}
	if !noHeaders {
		table.ColumnDefinitions = builder.columnDefinitions()
	}
	if m, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	return table, nil
}

// printer is the table of one stored type T (a pointer type such as *corev1.Pod).
type printer[T runtime.Object] struct {
	columns []metav1.TableColumnDefinition
	// cells are the cells of one object's row, one per column, wide ones included.
	cells func(obj T, now time.Time) []any
	// conditions, when set, gives a row its conditions (a pod that has run to its end).
	conditions func(obj T) []metav1.TableRowCondition
	// inList, when set, amends the rows of a list once all are built, for cells that depend on
	// the other items.
	inList func(items []T, rows []metav1.TableRow)
}

func (p *printer[T]) columnDefinitions() []metav1.TableColumnDefinition { return p.columns }

func (p *printer[T]) row(obj T, now time.Time) metav1.TableRow {
	row := metav1.TableRow{Cells: p.cells(obj, now), Object: runtime.RawExtension{Object: obj}}
	if p.conditions != nil {
		row.Conditions = p.conditions(obj)
	}
	return row
}

func (p *printer[T]) rows(obj runtime.Object, now time.Time) ([]metav1.TableRow, error) {
	if item, ok := obj.(T); ok {
		return []metav1.TableRow{p.row(item, now)}, nil
	}
	if !meta.IsListType(obj) {
		return nil, fmt.Errorf("no table handler registered for this type %T", obj)
	}
	rows := []metav1.TableRow{}
	var items []T
	err := meta.EachListItem(obj, func(o runtime.Object) error {
		item, ok := o.(T)
		if !ok {
			return fmt.Errorf("no table handler registered for this type %T", o)
		}
		items = append(items, item)
		rows = append(rows, p.row(item, now))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.inList != nil {
		p.inList(items, rows)
	}
	return rows, nil
}

func statusTable() rowBuilder {
	status := metav1.Status{}.SwaggerDoc()
	return &printer[*metav1.Status]{
		columns: []metav1.TableColumnDefinition{
			col("Status", "string", status["status"]),
			col("Reason", "string", status["reason"]),
			col("Message", "string", status["message"]),
		},
		cells: func(s *metav1.Status, _ time.Time) []any {
			return []any{s.Status, string(s.Reason), s.Message}
		},
	}
}

// tableOf returns the table of a resource, or nil for one that has none of its own.
func tableOf(gr schema.GroupResource) rowBuilder {
	switch gr.Group {
	case "":
		return coreTable(gr.Resource)
	case "events.k8s.io":
		if gr.Resource == "events" {
			return eventTable() // stored as core events
		}
	case "apps":
		return appsTable(gr.Resource)
	case "batch":
		switch gr.Resource {
		case "jobs":
			return jobTable()
		case "cronjobs":
			return cronJobTable()
		}
	case "autoscaling":
		if gr.Resource == "horizontalpodautoscalers" {
			return hpaTable()
		}
	case "policy":
		if gr.Resource == "poddisruptionbudgets" {
			return pdbTable()
		}
	case "coordination.k8s.io":
		if gr.Resource == "leases" {
			return leaseTable()
		}
	case "discovery.k8s.io":
		if gr.Resource == "endpointslices" {
			return endpointSliceTable()
		}
	case "networking.k8s.io":
		switch gr.Resource {
		case "ingresses":
			return ingressTable()
		case "ingressclasses":
			return ingressClassTable()
		case "networkpolicies":
			return networkPolicyTable()
		}
	case "storage.k8s.io":
		if gr.Resource == "storageclasses" {
			return storageClassTable()
		}
	case "scheduling.k8s.io":
		if gr.Resource == "priorityclasses" {
			return priorityClassTable()
		}
	case "rbac.authorization.k8s.io":
		switch gr.Resource {
		case "rolebindings":
			return roleBindingTable()
		case "clusterrolebindings":
			return clusterRoleBindingTable()
		}
	}
	return nil
}

func coreTable(resource string) rowBuilder {
	switch resource {
	case "pods":
		return podTable()
	case "podtemplates":
		return podTemplateTable()
	case "replicationcontrollers":
		return replicationControllerTable()
	case "services":
		return serviceTable()
	case "endpoints":
		return endpointsTable()
	case "nodes":
		return nodeTable()
	case "events":
		return eventTable()
	case "namespaces":
		return namespaceTable()
	case "secrets":
		return secretTable()
	case "serviceaccounts":
		return serviceAccountTable()
	case "persistentvolumes":
		return persistentVolumeTable()
	case "persistentvolumeclaims":
		return persistentVolumeClaimTable()
	case "configmaps":
		return configMapTable()
	case "resourcequotas":
		return resourceQuotaTable()
	}
	return nil
}

func appsTable(resource string) rowBuilder {
	switch resource {
	case "deployments":
		return deploymentTable()
	case "replicasets":
		return replicaSetTable()
	case "statefulsets":
		return statefulSetTable()
	case "daemonsets":
		return daemonSetTable()
	case "controllerrevisions":
		return controllerRevisionTable()
	}
	return nil
}

// columns makes the Name and Age columns nearly every table has.
type columns struct {
	meta map[string]string // ObjectMeta's field descriptions
}

func newColumns() columns { return columns{meta: metav1.ObjectMeta{}.SwaggerDoc()} }

func (c columns) name() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: c.meta["name"]}
}

func (c columns) age() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: c.meta["creationTimestamp"]}
}

// col is a column shown by `kubectl get`.
func col(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide is a column shown only by `kubectl get -o wide`.
func wide(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Priority: 1, Description: description}
}

// Descriptions of the columns that list a pod template's containers.
const (
	containersDescription = "Names of each container in the template."
	imagesDescription     = "Images referenced by each container in the template."
)

// since is how long ago t was, as kubectl prints ages; <unknown> when t is not set.
func since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func sinceMicro(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
