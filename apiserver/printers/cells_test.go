package printers

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type cellTest struct {
	name     string
	resource schema.GroupResource
	obj      runtime.Object
	want     []any
}

func ptr[T any](v T) *T { return &v }

func objectMeta(name string, age time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(age)}
}

func podSpec(containers ...string) corev1.PodSpec {
	var spec corev1.PodSpec
	for i := 0; i < len(containers); i += 2 {
		spec.Containers = append(spec.Containers, corev1.Container{Name: containers[i], Image: containers[i+1]})
	}
	return spec
}

func qty(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

// cellTests is a representative object of every resource with a table, and the cells kubectl
// prints for it against a cluster, wide ones included.
func cellTests() []cellTest {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: podSpec("nginx", "nginx:1.27", "log", "busybox")}
	return []cellTest{
		{"running pod", gr("", "pods"), &corev1.Pod{
			ObjectMeta: objectMeta("web-1", 10*time.Minute),
			Spec:       corev1.PodSpec{NodeName: "node-a", Containers: podSpec("nginx", "nginx", "log", "busybox").Containers},
			Status: corev1.PodStatus{
				Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "nginx", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
					{Name: "log", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				},
			},
		}, []any{"web-1", "2/2", "Running", "0", "10m", "10.42.0.7", "node-a", "<none>", "<none>"}},
		{"pending pod", gr("", "pods"), &corev1.Pod{
			ObjectMeta: objectMeta("web-2", 90*time.Second),
			Spec:       corev1.PodSpec{Containers: podSpec("nginx", "nginx").Containers, ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, NominatedNodeName: "node-b",
				Conditions: []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}, {Type: "example.com/dns", Status: corev1.ConditionFalse}}},
		}, []any{"web-2", "0/1", "Pending", "0", "90s", "<none>", "<none>", "node-b", "1/2"}},
		{"pod template", gr("", "podtemplates"), &corev1.PodTemplate{ObjectMeta: objectMeta("tpl", time.Hour), Template: template},
			[]any{"tpl", "nginx,log", "nginx:1.27,busybox", "app=web,tier=front"}},
		{"replication controller", gr("", "replicationcontrollers"), &corev1.ReplicationController{
			ObjectMeta: objectMeta("rc", 5*24*time.Hour),
			Spec:       corev1.ReplicationControllerSpec{Replicas: ptr[int32](3), Selector: map[string]string{"app": "web"}, Template: &template},
			Status:     corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 2},
		}, []any{"rc", int64(3), int64(3), int64(2), "5d", "nginx,log", "nginx:1.27,busybox", "app=web"}},
		{"cluster IP service", gr("", "services"), &corev1.Service{
			ObjectMeta: objectMeta("web", 3*time.Hour),
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.43.0.15"}, Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}},
		}, []any{"web", "ClusterIP", "10.43.0.15", "<none>", "80/TCP,53/UDP", "3h", "app=web"}},
		{"load balancer service", gr("", "services"), &corev1.Service{
			ObjectMeta: objectMeta("lb", 3*time.Hour),
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.0.16"}, ExternalIPs: []string{"203.0.113.9"},
				Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: corev1.ProtocolTCP}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "192.168.1.20"}, {Hostname: "lb.example.com"}, {IP: "192.168.1.10"}, {IP: "192.168.1.20"}}}},
		}, []any{"lb", "LoadBalancer", "10.43.0.16", "192.168.1.10,192.168.1.20,lb.example.com,203.0.113.9", "443:31443/TCP", "3h", "<none>"}},
		{"pending load balancer", gr("", "services"), &corev1.Service{
			ObjectMeta: objectMeta("lb", time.Hour),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.0.17"}},
		}, []any{"lb", "LoadBalancer", "10.43.0.17", "<pending>", "<none>", "60m", "<none>"}},
		{"external name service", gr("", "services"), &corev1.Service{
			ObjectMeta: objectMeta("db", time.Hour),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
		}, []any{"db", "ExternalName", "<none>", "db.example.com", "<none>", "60m", "<none>"}},
		{"endpoints", gr("", "endpoints"), &corev1.Endpoints{
			ObjectMeta: objectMeta("web", time.Hour),
			Subsets: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{{IP: "10.42.0.7"}, {IP: "10.42.0.8"}}, Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}},
				{Addresses: []corev1.EndpointAddress{{IP: "fd00::9"}}},
			},
		}, []any{"web", "10.42.0.7:80,10.42.0.8:80,10.42.0.7:443 + 2 more...", "60m"}},
		{"endpoints without subsets", gr("", "endpoints"), &corev1.Endpoints{ObjectMeta: objectMeta("none", time.Hour)},
			[]any{"none", "<none>", "60m"}},
		{"node", gr("", "nodes"), &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-a", CreationTimestamp: ago(10 * 24 * time.Hour),
				Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true", "kubernetes.io/role": "master"}},
			Spec: corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "a"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
				NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2-skiff", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0",
					Architecture: "amd64", ContainerRuntimeVersion: "runc://1.3.0"},
			},
		}, []any{"node-a", "Ready,SchedulingDisabled", "control-plane,etcd,master", "10d", "v1.37.2-skiff",
			"192.168.1.10", "<none>", "Debian GNU/Linux 13", "6.12.0 (amd64)", "runc://1.3.0"}},
		{"new node", gr("", "nodes"), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b", CreationTimestamp: ago(30 * time.Second)}},
			[]any{"node-b", "Unknown", "<none>", "30s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"not ready node", gr("", "nodes"), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-c", CreationTimestamp: ago(time.Hour)},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}},
			[]any{"node-c", "NotReady", "<none>", "60m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"core event", gr("", "events"), &corev1.Event{
			ObjectMeta:     objectMeta("web-1.17", time.Hour),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", FieldPath: "spec.containers{nginx}"},
			Reason:         "BackOff", Message: "Back-off restarting failed container\n", Type: corev1.EventTypeWarning,
			Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
			FirstTimestamp: ago(time.Hour), LastTimestamp: ago(5 * time.Minute), Count: 12,
		}, []any{"5m", "Warning", "BackOff", "pod/web-1", "spec.containers{nginx}", "kubelet, node-a", "Back-off restarting failed container", "60m", int64(12), "web-1.17"}},
		{"events.k8s.io event", gr("events.k8s.io", "events"), &corev1.Event{
			ObjectMeta:     objectMeta("web.18", time.Hour),
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
			Reason:         "ScalingReplicaSet", Message: "Scaled up", Type: corev1.EventTypeNormal,
			EventTime:           metav1.NewMicroTime(testNow.Add(-20 * time.Minute)),
			Series:              &corev1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(testNow.Add(-2 * time.Minute))},
			ReportingController: "deployment-controller", ReportingInstance: "skiff-server",
		}, []any{"2m", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller, skiff-server", "Scaled up", "20m", int64(4), "web.18"}},
		{"singleton new event", gr("events.k8s.io", "events"), &corev1.Event{
			ObjectMeta:     objectMeta("x.19", time.Hour),
			InvolvedObject: corev1.ObjectReference{Kind: "Node"},
			Reason:         "Starting", Type: corev1.EventTypeNormal,
			EventTime:           metav1.NewMicroTime(testNow.Add(-3 * time.Minute)),
			ReportingController: "kubelet",
		}, []any{"3m", "Normal", "Starting", "node", "", "kubelet", "", "3m", int64(1), "x.19"}},
		{"namespace", gr("", "namespaces"), &corev1.Namespace{ObjectMeta: objectMeta("gone", time.Hour), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			[]any{"gone", "Terminating", "60m"}},
		{"secret", gr("", "secrets"), &corev1.Secret{ObjectMeta: objectMeta("tls", time.Hour), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}}, []any{"tls", "kubernetes.io/tls", int64(2), "60m"}},
		{"service account", gr("", "serviceaccounts"), &corev1.ServiceAccount{ObjectMeta: objectMeta("default", time.Hour)},
			[]any{"default", int64(0), "60m"}},
		{"configmap", gr("", "configmaps"), &corev1.ConfigMap{ObjectMeta: objectMeta("cfg", time.Hour), Data: map[string]string{"a": "1", "b": "2"},
			BinaryData: map[string][]byte{"c": {1}}}, []any{"cfg", int64(3), "60m"}},
		{"persistent volume", gr("", "persistentvolumes"), &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pv-1", CreationTimestamp: ago(time.Hour)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadOnlyMany, corev1.ReadWriteOnce},
				ClaimRef:    &corev1.ObjectReference{Namespace: "default", Name: "data"}, StorageClassName: "local-path",
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete, VolumeMode: ptr(corev1.PersistentVolumeFilesystem),
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
		}, []any{"pv-1", "10Gi", "RWO,ROX,RWOP", "Delete", "Bound", "default/data", "local-path", "<unset>", "", "60m", "Filesystem"}},
		{"deleted persistent volume with beta class", gr("", "persistentvolumes"), &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pv-2", CreationTimestamp: ago(time.Hour), DeletionTimestamp: ptr(ago(time.Minute)),
				Annotations: map[string]string{"volume.beta.kubernetes.io/storage-class": "old"}},
			Spec:   corev1.PersistentVolumeSpec{StorageClassName: "new", VolumeAttributesClassName: ptr("gold")},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeFailed, Reason: "Recycler failed"},
		}, []any{"pv-2", "0", "", "", "Terminating", "", "old", "gold", "Recycler failed", "60m", "<unset>"}},
		{"bound claim", gr("", "persistentvolumeclaims"), &corev1.PersistentVolumeClaim{
			ObjectMeta: objectMeta("data", time.Hour),
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1", StorageClassName: ptr("local-path"), VolumeMode: ptr(corev1.PersistentVolumeBlock),
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
		}, []any{"data", "Bound", "pv-1", "10Gi", "RWO", "local-path", "<unset>", "60m", "Block"}},
		{"pending claim", gr("", "persistentvolumeclaims"), &corev1.PersistentVolumeClaim{
			ObjectMeta: objectMeta("wait", time.Hour),
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		}, []any{"wait", "Pending", "", "", "", "", "<unset>", "60m", "<unset>"}},
		{"resource quota", gr("", "resourcequotas"), &corev1.ResourceQuota{
			ObjectMeta: objectMeta("quota", time.Hour),
			Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("4Gi"), "pods": resource.MustParse("10"), "limits.cpu": resource.MustParse("4")},
				Used: corev1.ResourceList{"requests.cpu": resource.MustParse("500m"), "pods": resource.MustParse("3"), "limits.cpu": resource.MustParse("1")},
			},
		}, []any{"quota", "pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 1/4, limits.memory: 0/4Gi", "60m"}},
		{"deployment", gr("apps", "deployments"), &appsv1.Deployment{
			ObjectMeta: objectMeta("web", 5*24*time.Hour),
			Spec:       appsv1.DeploymentSpec{Replicas: ptr[int32](3), Selector: selector, Template: template},
			Status:     appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2},
		}, []any{"web", "2/3", int64(3), int64(2), "5d", "nginx,log", "nginx:1.27,busybox", "app=web"}},
		{"replica set", gr("apps", "replicasets"), &appsv1.ReplicaSet{
			ObjectMeta: objectMeta("web-5d4f", time.Hour),
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr[int32](2), Template: template, Selector: &metav1.LabelSelector{
				MatchLabels:      map[string]string{"app": "web"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "back"}}}}},
			Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1},
		}, []any{"web-5d4f", int64(2), int64(2), int64(1), "60m", "nginx,log", "nginx:1.27,busybox", "app=web,tier in (back,front)"}},
		{"stateful set", gr("apps", "statefulsets"), &appsv1.StatefulSet{
			ObjectMeta: objectMeta("db", time.Hour),
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr[int32](3), Selector: selector, Template: template},
			Status:     appsv1.StatefulSetStatus{ReadyReplicas: 1},
		}, []any{"db", "1/3", "60m", "nginx,log", "nginx:1.27,busybox"}},
		{"daemon set", gr("apps", "daemonsets"), &appsv1.DaemonSet{
			ObjectMeta: objectMeta("agent", time.Hour),
			Spec: appsv1.DaemonSetSpec{Selector: selector, Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/os": "linux"}, Containers: template.Spec.Containers}}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2},
		}, []any{"agent", int64(3), int64(3), int64(2), int64(1), int64(2), "kubernetes.io/os=linux", "60m", "nginx,log", "nginx:1.27,busybox", "app=web"}},
		{"controller revision", gr("apps", "controllerrevisions"), &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: "db-7b9", CreationTimestamp: ago(time.Hour), OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "v1", Kind: "Pod", Name: "not-controller"},
				{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr(true)}}},
			Revision: 4,
		}, []any{"db-7b9", "statefulset.apps/db", int64(4), "60m"}},
		{"orphan controller revision", gr("apps", "controllerrevisions"), &appsv1.ControllerRevision{ObjectMeta: objectMeta("x", time.Hour), Revision: 1},
			[]any{"x", "<none>", int64(1), "60m"}},
		{"complete job", gr("batch", "jobs"), &batchv1.Job{
			ObjectMeta: objectMeta("pi", time.Hour),
			Spec:       batchv1.JobSpec{Completions: ptr[int32](3), Parallelism: ptr[int32](2), Selector: selector, Template: template},
			Status: batchv1.JobStatus{Succeeded: 3, StartTime: ptr(ago(50 * time.Minute)), CompletionTime: ptr(ago(45 * time.Minute)),
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue}, {Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}},
		}, []any{"pi", "Complete", "3/3", "5m", "60m", "nginx,log", "nginx:1.27,busybox", "app=web"}},
		{"running work queue job", gr("batch", "jobs"), &batchv1.Job{
			ObjectMeta: objectMeta("queue", time.Hour),
			Spec:       batchv1.JobSpec{Parallelism: ptr[int32](4), Template: template},
			Status:     batchv1.JobStatus{Succeeded: 1, StartTime: ptr(ago(8 * time.Minute))},
		}, []any{"queue", "Running", "1/1 of 4", "8m", "60m", "nginx,log", "nginx:1.27,busybox", "<none>"}},
		{"job not started", gr("batch", "jobs"), &batchv1.Job{
			ObjectMeta: objectMeta("later", time.Minute),
			Spec:       batchv1.JobSpec{Parallelism: ptr[int32](1), Suspend: ptr(true), Template: template},
			Status:     batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}},
		}, []any{"later", "Suspended", "0/1", "", "60s", "nginx,log", "nginx:1.27,busybox", "<none>"}},
		{"cron job", gr("batch", "cronjobs"), &batchv1.CronJob{
			ObjectMeta: objectMeta("nightly", 5*24*time.Hour),
			Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", TimeZone: ptr("Europe/Paris"), Suspend: ptr(false),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}}},
			Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "nightly-1"}}, LastScheduleTime: ptr(ago(9 * time.Hour))},
		}, []any{"nightly", "0 3 * * *", "Europe/Paris", "False", int64(1), "9h", "5d", "nginx,log", "nginx:1.27,busybox", "<none>"}},
		{"cron job never run", gr("batch", "cronjobs"), &batchv1.CronJob{
			ObjectMeta: objectMeta("new", time.Minute),
			Spec:       batchv1.CronJobSpec{Schedule: "@hourly", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Selector: selector}}},
		}, []any{"new", "@hourly", "<none>", "<unset>", int64(0), "<none>", "60s", "", "", "app=web"}},
		{"horizontal pod autoscaler", gr("autoscaling", "horizontalpodautoscalers"), &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: objectMeta("web", time.Hour),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
				MinReplicas:    ptr[int32](2), MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr[int32](80)}}}},
			},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr[int32](42)}}}}},
		}, []any{"web", "Deployment/web", "cpu: 42%/80%", "2", int64(10), int64(3), "60m"}},
		{"pod disruption budget", gr("policy", "poddisruptionbudgets"), &policyv1.PodDisruptionBudget{
			ObjectMeta: objectMeta("web", time.Hour),
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromString("50%"))},
			Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1},
		}, []any{"web", "50%", "N/A", int64(1), "60m"}},
		{"lease", gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{ObjectMeta: objectMeta("skiff-controllers", time.Hour),
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("server-1_6f2c")}}, []any{"skiff-controllers", "server-1_6f2c", "60m"}},
		{"endpoint slice", gr("discovery.k8s.io", "endpointslices"), &discoveryv1.EndpointSlice{
			ObjectMeta:  objectMeta("web-abcde", time.Hour),
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: ptr[int32](80)}, {Name: ptr("metrics")}, {}, {Port: ptr[int32](443)}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.7"}}, {Addresses: []string{"10.42.0.8"}}},
		}, []any{"web-abcde", "IPv4", "80,metrics,* + 1 more...", "10.42.0.7,10.42.0.8", "60m"}},
		{"empty endpoint slice", gr("discovery.k8s.io", "endpointslices"), &discoveryv1.EndpointSlice{ObjectMeta: objectMeta("e", time.Hour), AddressType: discoveryv1.AddressTypeIPv6},
			[]any{"e", "IPv6", "<unset>", "<unset>", "60m"}},
		{"ingress", gr("networking.k8s.io", "ingresses"), &networkingv1.Ingress{
			ObjectMeta: objectMeta("web", time.Hour),
			Spec: networkingv1.IngressSpec{IngressClassName: ptr("nginx"), TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}},
				Rules: []networkingv1.IngressRule{{Host: "a.example.com"}, {}, {Host: "b.example.com"}, {Host: "c.example.com"}, {Host: "d.example.com"}}},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "192.168.1.10"}}}},
		}, []any{"web", "nginx", "a.example.com,b.example.com,c.example.com + 2 more...", "192.168.1.10", "80, 443", "60m"}},
		{"ingress without host", gr("networking.k8s.io", "ingresses"), &networkingv1.Ingress{ObjectMeta: objectMeta("all", time.Hour),
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{}}}}, []any{"all", "<none>", "*", "", "80", "60m"}},
		{"default ingress class", gr("networking.k8s.io", "ingressclasses"), &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: "nginx", CreationTimestamp: ago(time.Hour), Annotations: map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}},
			Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx",
				Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb"}},
		}, []any{"nginx (default)", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "60m"}},
		{"network policy", gr("networking.k8s.io", "networkpolicies"), &networkingv1.NetworkPolicy{ObjectMeta: objectMeta("deny", time.Hour)},
			[]any{"deny", "<none>", "60m"}},
		{"storage class", gr("storage.k8s.io", "storageclasses"), &storagev1.StorageClass{
			ObjectMeta: metav1.ObjectMeta{Name: "local-path", CreationTimestamp: ago(time.Hour)}, Provisioner: "skiff.dev/local-path",
			VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer), AllowVolumeExpansion: ptr(true),
		}, []any{"local-path", "skiff.dev/local-path", "Delete", "WaitForFirstConsumer", true, "60m"}},
		{"priority class", gr("scheduling.k8s.io", "priorityclasses"), &schedulingv1.PriorityClass{
			ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical", CreationTimestamp: ago(time.Hour)}, Value: 2000001000,
			PreemptionPolicy: ptr(corev1.PreemptLowerPriority)}, []any{"system-node-critical", int64(2000001000), false, "60m", "PreemptLowerPriority"}},
		{"role binding", gr("rbac.authorization.k8s.io", "rolebindings"), &rbacv1.RoleBinding{
			ObjectMeta: objectMeta("read", time.Hour),
			RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "ServiceAccount", Namespace: "ci", Name: "bot"},
				{Kind: "User", Name: "bob"}, {Kind: "Group", Name: "devs"}},
		}, []any{"read", "ClusterRole/view", "60m", "alice, bob", "devs", "ci/bot"}},
		{"cluster role binding", gr("rbac.authorization.k8s.io", "clusterrolebindings"), &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "admins", CreationTimestamp: ago(time.Hour)},
			RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{Kind: "Group", Name: "system:masters"}},
		}, []any{"admins", "ClusterRole/cluster-admin", "60m", "", "system:masters", ""}},
	}
}
