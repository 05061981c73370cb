package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Node role labels: node-role.kubernetes.io/<role>="" and kubernetes.io/role=<role>.
const (
	nodeRoleLabelPrefix = "node-role.kubernetes.io/"
	nodeRoleLabel       = "kubernetes.io/role"
)

// betaStorageClassAnnotation names a volume's or claim's class before spec.storageClassName did,
// and still wins over it.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

func podTemplateTable() rowBuilder {
	c := newColumns()
	return &printer[*corev1.PodTemplate]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Containers", "string", containersDescription),
			col("Images", "string", imagesDescription),
			col("Pod Labels", "string", "The labels for the pod template."),
		},
		cells: func(t *corev1.PodTemplate, _ time.Time) []any {
			names, images := containerCells(t.Template.Spec.Containers)
			return []any{t.Name, names, images, labels.FormatLabels(t.Template.Labels)}
		},
	}
}

func replicationControllerTable() rowBuilder {
	c := newColumns()
	spec, status := corev1.ReplicationControllerSpec{}.SwaggerDoc(), corev1.ReplicationControllerStatus{}.SwaggerDoc()
	return &printer[*corev1.ReplicationController]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Desired", "integer", spec["replicas"]),
			col("Current", "integer", status["replicas"]),
			col("Ready", "integer", status["readyReplicas"]),
			c.age(),
			wide("Containers", "string", containersDescription),
			wide("Images", "string", imagesDescription),
			wide("Selector", "string", spec["selector"]),
		},
		cells: func(rc *corev1.ReplicationController, now time.Time) []any {
			var containers []corev1.Container
			if rc.Spec.Template != nil {
				containers = rc.Spec.Template.Spec.Containers
			}
			names, images := containerCells(containers)
			return []any{rc.Name, int64(int32Value(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
				since(rc.CreationTimestamp, now), names, images, labels.FormatLabels(rc.Spec.Selector)}
		},
	}
}

func serviceTable() rowBuilder {
	c := newColumns()
	spec := corev1.ServiceSpec{}.SwaggerDoc()
	return &printer[*corev1.Service]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Type", "string", spec["type"]),
			col("Cluster-IP", "string", spec["clusterIP"]),
			col("External-IP", "string", spec["externalIPs"]),
			col("Port(s)", "string", spec["ports"]),
			c.age(),
			wide("Selector", "string", spec["selector"]),
		},
		cells: func(svc *corev1.Service, now time.Time) []any {
			clusterIP := "<none>"
			if len(svc.Spec.ClusterIPs) > 0 {
				clusterIP = svc.Spec.ClusterIPs[0]
			}
			return []any{svc.Name, string(svc.Spec.Type), clusterIP, serviceExternalIP(svc), orNone(servicePorts(svc.Spec.Ports)),
				since(svc.CreationTimestamp, now), labels.FormatLabels(svc.Spec.Selector)}
		},
	}
}

// serviceExternalIP is where a service is reached from outside: its external IPs and, for a load
// balancer, the addresses of its ingress points (<pending> until it has one).
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(svc.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		var ingress []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			ingress = append(ingress, firstNonEmpty(in.IP, in.Hostname))
		}
		all := append(ingressAddresses(ingress), svc.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// ingressAddresses is a load balancer's addresses, each once and sorted. The server never
// shortens them: it answers as for `-o wide`.
func ingressAddresses(addresses []string) []string {
	set := sets.New[string]()
	for _, a := range addresses {
		if a != "" {
			set.Insert(a)
		}
	}
	return sets.List(set)
}

func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

func endpointsTable() rowBuilder {
	c := newColumns()
	return &printer[*corev1.Endpoints]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
			c.age(),
		},
		cells: func(ep *corev1.Endpoints, now time.Time) []any {
			return []any{ep.Name, formatEndpoints(ep), since(ep.CreationTimestamp, now)}
		},
	}
}

// formatEndpoints lists the first three address:port pairs (bare addresses for a subset without
// ports, as a headless service may have) and how many more there are.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var list []string
	count := 0
	add := func(s string) {
		if count++; len(list) < 3 {
			list = append(list, s)
		}
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	if count > 3 {
		return fmt.Sprintf("%s + %d more...", strings.Join(list, ","), count-3)
	}
	return strings.Join(list, ",")
}

func nodeTable() rowBuilder {
	c := newColumns()
	info, status := corev1.NodeSystemInfo{}.SwaggerDoc(), corev1.NodeStatus{}.SwaggerDoc()
	return &printer[*corev1.Node]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Status", "string", "The status of the node"),
			col("Roles", "string", "The roles of the node"),
			c.age(),
			col("Version", "string", info["kubeletVersion"]),
			wide("Internal-IP", "string", status["addresses"]),
			wide("External-IP", "string", status["addresses"]),
			wide("OS-Image", "string", info["osImage"]),
			wide("Kernel-Version", "string", info["kernelVersion"]),
			wide("Container-Runtime", "string", info["containerRuntimeVersion"]),
		},
		cells: func(node *corev1.Node, now time.Time) []any {
			info := node.Status.NodeInfo
			// v1.37 prints the architecture beside the kernel.
			kernel := unknown(info.KernelVersion)
			if info.Architecture != "" {
				kernel += " (" + info.Architecture + ")"
			}
			return []any{node.Name, nodeStatus(node), orNone(strings.Join(nodeRoles(node), ",")), since(node.CreationTimestamp, now), info.KubeletVersion,
				nodeAddress(node, corev1.NodeInternalIP), nodeAddress(node, corev1.NodeExternalIP), unknown(info.OSImage), kernel, unknown(info.ContainerRuntimeVersion)}
		},
	}
}

// nodeStatus is Ready or NotReady from the node's Ready condition (Unknown without one), and
// SchedulingDisabled for a cordoned node.
func nodeStatus(node *corev1.Node) string {
	var status []string
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = []string{string(c.Type)}
			} else {
				status = []string{"Not" + string(c.Type)}
			}
		}
	}
	if len(status) == 0 {
		status = []string{"Unknown"}
	}
	if node.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	return strings.Join(status, ",")
}

// nodeRoles are the roles a node's labels give it, sorted.
func nodeRoles(node *corev1.Node) []string {
	roles := sets.New[string]()
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, nodeRoleLabelPrefix):
			if role := strings.TrimPrefix(k, nodeRoleLabelPrefix); role != "" {
				roles.Insert(role)
			}
		case k == nodeRoleLabel && v != "":
			roles.Insert(v)
		}
	}
	return sets.List(roles)
}

// nodeAddress is the node's first address of that type.
func nodeAddress(node *corev1.Node, kind corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == kind {
			return a.Address
		}
	}
	return "<none>"
}

func eventTable() rowBuilder {
	event := corev1.Event{}.SwaggerDoc()
	return &printer[*corev1.Event]{
		columns: []metav1.TableColumnDefinition{
			col("Last Seen", "string", event["lastTimestamp"]),
			col("Type", "string", event["type"]),
			col("Reason", "string", event["reason"]),
			col("Object", "string", event["involvedObject"]),
			wide("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
			wide("Source", "string", event["source"]),
			col("Message", "string", event["message"]),
			wide("First Seen", "string", event["firstTimestamp"]),
			wide("Count", "string", event["count"]),
			{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		},
		cells: eventCells,
	}
}

// eventCells reads both event APIs' fields: events.k8s.io events are stored as core events with
// eventTime, series and reporting* set instead of the timestamps, count and source.
func eventCells(e *corev1.Event, now time.Time) []any {
	first := since(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = sinceMicro(e.EventTime, now)
	}
	last := since(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = sinceMicro(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // a singleton event of the new API has no count
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	source := firstNonEmpty(e.Source.Component, e.ReportingController)
	if instance := firstNonEmpty(e.Source.Host, e.ReportingInstance); instance != "" {
		source += ", " + instance
	}
	return []any{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source, strings.TrimSpace(e.Message), first, int64(count), e.Name}
}

func namespaceTable() rowBuilder {
	c := newColumns()
	return &printer[*corev1.Namespace]{
		columns: []metav1.TableColumnDefinition{c.name(), col("Status", "string", "The status of the namespace"), c.age()},
		cells: func(ns *corev1.Namespace, now time.Time) []any {
			return []any{ns.Name, string(ns.Status.Phase), since(ns.CreationTimestamp, now)}
		},
	}
}

func secretTable() rowBuilder {
	c := newColumns()
	secret := corev1.Secret{}.SwaggerDoc()
	return &printer[*corev1.Secret]{
		columns: []metav1.TableColumnDefinition{c.name(), col("Type", "string", secret["type"]), col("Data", "string", secret["data"]), c.age()},
		cells: func(s *corev1.Secret, now time.Time) []any {
			return []any{s.Name, string(s.Type), int64(len(s.Data)), since(s.CreationTimestamp, now)}
		},
	}
}

func serviceAccountTable() rowBuilder {
	c := newColumns()
	return &printer[*corev1.ServiceAccount]{
		columns: []metav1.TableColumnDefinition{c.name(), col("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]), c.age()},
		cells: func(sa *corev1.ServiceAccount, now time.Time) []any {
			return []any{sa.Name, int64(len(sa.Secrets)), since(sa.CreationTimestamp, now)}
		},
	}
}

func configMapTable() rowBuilder {
	c := newColumns()
	return &printer[*corev1.ConfigMap]{
		columns: []metav1.TableColumnDefinition{c.name(), col("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]), c.age()},
		cells: func(cm *corev1.ConfigMap, now time.Time) []any {
			return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), since(cm.CreationTimestamp, now)}
		},
	}
}

func persistentVolumeTable() rowBuilder {
	c := newColumns()
	spec, status := corev1.PersistentVolumeSpec{}.SwaggerDoc(), corev1.PersistentVolumeStatus{}.SwaggerDoc()
	return &printer[*corev1.PersistentVolume]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Capacity", "string", spec["capacity"]),
			col("Access Modes", "string", spec["accessModes"]),
			col("Reclaim Policy", "string", spec["persistentVolumeReclaimPolicy"]),
			col("Status", "string", status["phase"]),
			col("Claim", "string", spec["claimRef"]),
			col("StorageClass", "string", "StorageClass of the pv"),
			col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
			col("Reason", "string", status["reason"]),
			c.age(),
			wide("VolumeMode", "string", spec["volumeMode"]),
		},
		cells: func(pv *corev1.PersistentVolume, now time.Time) []any {
			claim := ""
			if ref := pv.Spec.ClaimRef; ref != nil {
				claim = ref.Namespace + "/" + ref.Name
			}
			phase := string(pv.Status.Phase)
			if pv.DeletionTimestamp != nil {
				phase = "Terminating"
			}
			class := pv.Spec.StorageClassName
			if annotated, ok := pv.Annotations[betaStorageClassAnnotation]; ok {
				class = annotated
			}
			capacity := pv.Spec.Capacity[corev1.ResourceStorage]
			return []any{pv.Name, capacity.String(), accessModes(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy), phase, claim,
				class, unset(pv.Spec.VolumeAttributesClassName), pv.Status.Reason, since(pv.CreationTimestamp, now), unsetMode(pv.Spec.VolumeMode)}
		},
	}
}

func persistentVolumeClaimTable() rowBuilder {
	c := newColumns()
	spec, status := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc(), corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	return &printer[*corev1.PersistentVolumeClaim]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Status", "string", status["phase"]),
			col("Volume", "string", spec["volumeName"]),
			col("Capacity", "string", status["capacity"]),
			col("Access Modes", "string", status["accessModes"]),
			col("StorageClass", "string", "StorageClass of the pvc"),
			col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
			c.age(),
			wide("VolumeMode", "string", spec["volumeMode"]),
		},
		cells: func(pvc *corev1.PersistentVolumeClaim, now time.Time) []any {
			phase := string(pvc.Status.Phase)
			if pvc.DeletionTimestamp != nil {
				phase = "Terminating"
			}
			// What the claim got, once it is bound to a volume.
			capacity, modes := "", ""
			if pvc.Spec.VolumeName != "" {
				modes = accessModes(pvc.Status.AccessModes)
				q := pvc.Status.Capacity[corev1.ResourceStorage]
				capacity = q.String()
			}
			class := ""
			if pvc.Spec.StorageClassName != nil {
				class = *pvc.Spec.StorageClassName
			}
			if annotated, ok := pvc.Annotations[betaStorageClassAnnotation]; ok {
				class = annotated
			}
			return []any{pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class, unset(pvc.Spec.VolumeAttributesClassName),
				since(pvc.CreationTimestamp, now), unsetMode(pvc.Spec.VolumeMode)}
		},
	}
}

// accessModes abbreviates access modes (RWO, ROX, RWX, RWOP), always in that order.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode corev1.PersistentVolumeAccessMode
		abbr string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		for _, have := range modes {
			if have == m.mode {
				out = append(out, m.abbr)
				break
			}
		}
	}
	return strings.Join(out, ",")
}

func resourceQuotaTable() rowBuilder {
	c := newColumns()
	return &printer[*corev1.ResourceQuota]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
			col("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
			c.age(),
		},
		cells: func(q *corev1.ResourceQuota, now time.Time) []any {
			names := make([]string, 0, len(q.Status.Hard))
			for name := range q.Status.Hard {
				names = append(names, string(name))
			}
			sort.Strings(names)
			var requests, limits []string
			for _, name := range names {
				used, hard := q.Status.Used[corev1.ResourceName(name)], q.Status.Hard[corev1.ResourceName(name)]
				entry := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
				if prefix, _, found := strings.Cut(name, "."); found && prefix == "limits" {
					limits = append(limits, entry)
				} else {
					requests = append(requests, entry)
				}
			}
			return []any{q.Name, strings.Join(requests, ", "), strings.Join(limits, ", "), since(q.CreationTimestamp, now)}
		},
	}
}

// containerCells are the names and the images of containers, each joined by commas.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	i := make([]string, len(containers))
	for k, c := range containers {
		n[k], i[k] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

func int32Value(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func unknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func unset(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

func unsetMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}
