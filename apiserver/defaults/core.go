package defaults

import (
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Pod defaults a Pod: its spec (PodSpec) plus what upstream applies to Pods but not to templates, because
// templates are stored as written and only the Pods made from them get these values: container requests
// copied from limits, enableServiceLinks, and host ports for host-network pods.
func Pod(obj *corev1.Pod) {
	for i := range obj.Spec.Containers {
		requestsFromLimits(&obj.Spec.Containers[i].Resources)
	}
	for i := range obj.Spec.InitContainers {
		requestsFromLimits(&obj.Spec.InitContainers[i].Resources)
	}
	if obj.Spec.EnableServiceLinks == nil {
		obj.Spec.EnableServiceLinks = ptr.To(corev1.DefaultEnableServiceLinks)
	}
	if obj.Spec.HostNetwork {
		hostPortsFromContainerPorts(obj.Spec.Containers)
		hostPortsFromContainerPorts(obj.Spec.InitContainers)
	}
	PodSpec(&obj.Spec)
	containerStatuses(obj.Status.InitContainerStatuses)
	containerStatuses(obj.Status.ContainerStatuses)
	containerStatuses(obj.Status.EphemeralContainerStatuses)
}

// PodTemplateSpec defaults a pod template embedded in a workload or a PodTemplate.
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	PodSpec(&t.Spec)
}

// PodSpec defaults a pod spec and everything nested in it: volumes, init, regular and ephemeral containers.
func PodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range spec.Volumes {
		volume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		container(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		container(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		container((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundResourceList(spec.Overhead)
	if spec.Resources != nil {
		roundResourceList(spec.Resources.Limits)
		roundResourceList(spec.Resources.Requests)
	}
}

// requestsFromLimits sets a request for every resource that has a limit but no request.
func requestsFromLimits(r *corev1.ResourceRequirements) {
	if r.Limits == nil {
		return
	}
	if r.Requests == nil {
		r.Requests = make(corev1.ResourceList, len(r.Limits))
	}
	for name, limit := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = limit.DeepCopy()
		}
	}
}

// hostPortsFromContainerPorts makes every port of a host-network pod a host port, since that is what it is.
func hostPortsFromContainerPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			p := &containers[i].Ports[j]
			if p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

func containerStatuses(statuses []corev1.ContainerStatus) {
	for i := range statuses {
		roundResourceList(statuses[i].AllocatedResources)
		if r := statuses[i].Resources; r != nil {
			roundResourceList(r.Limits)
			roundResourceList(r.Requests)
		}
	}
}

func container(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = pullPolicyFor(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if src := c.Env[i].ValueFrom; src != nil {
			if src.FieldRef != nil {
				objectFieldSelector(src.FieldRef)
			}
			if src.FileKeyRef != nil && src.FileKeyRef.Optional == nil {
				src.FileKeyRef.Optional = ptr.To(false)
			}
		}
	}
	roundResourceList(c.Resources.Limits)
	roundResourceList(c.Resources.Requests)
	probe(c.LivenessProbe)
	probe(c.ReadinessProbe)
	probe(c.StartupProbe)
	if c.Lifecycle != nil {
		if h := c.Lifecycle.PostStart; h != nil && h.HTTPGet != nil {
			httpGet(h.HTTPGet)
		}
		if h := c.Lifecycle.PreStop; h != nil && h.HTTPGet != nil {
			httpGet(h.HTTPGet)
		}
	}
}

// pullPolicyFor is Always for images that float (tag latest, or no tag and no digest), else IfNotPresent.
// An image that does not parse gets IfNotPresent; validation reports it.
func pullPolicyFor(image string) corev1.PullPolicy {
	if tag, ok := imageTag(image); ok && tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func probe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		httpGet(p.HTTPGet)
	}
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptr.To("")
	}
}

func httpGet(a *corev1.HTTPGetAction) {
	if a.Path == "" {
		a.Path = "/"
	}
	if a.Scheme == "" {
		a.Scheme = corev1.URISchemeHTTP
	}
}

func objectFieldSelector(s *corev1.ObjectFieldSelector) {
	if s.APIVersion == "" {
		s.APIVersion = "v1"
	}
}

func volume(v *corev1.Volume) {
	if ptr.AllPtrFieldsNil(&v.VolumeSource) {
		v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	src := &v.VolumeSource
	if src.Image != nil && src.Image.PullPolicy == "" {
		src.Image.PullPolicy = pullPolicyFor(src.Image.Reference)
	}
	if src.HostPath != nil {
		hostPath(src.HostPath)
	}
	if src.Secret != nil && src.Secret.DefaultMode == nil {
		src.Secret.DefaultMode = ptr.To(corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil && src.ConfigMap.DefaultMode == nil {
		src.ConfigMap.DefaultMode = ptr.To(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if src.DownwardAPI != nil {
		if src.DownwardAPI.DefaultMode == nil {
			src.DownwardAPI.DefaultMode = ptr.To(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		downwardAPIItems(src.DownwardAPI.Items)
	}
	if src.Projected != nil {
		projected(src.Projected)
	}
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if src.RBD != nil {
		rbd(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
	if src.AzureDisk != nil {
		azureDisk(src.AzureDisk)
	}
	if src.ScaleIO != nil {
		scaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		persistentVolumeClaimSpec(&src.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func hostPath(h *corev1.HostPathVolumeSource) {
	if h.Type == nil {
		h.Type = ptr.To(corev1.HostPathUnset)
	}
}

func downwardAPIItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			objectFieldSelector(items[i].FieldRef)
		}
	}
}

func projected(p *corev1.ProjectedVolumeSource) {
	if p.DefaultMode == nil {
		p.DefaultMode = ptr.To(corev1.ProjectedVolumeSourceDefaultMode)
	}
	for i := range p.Sources {
		s := &p.Sources[i]
		if s.DownwardAPI != nil {
			downwardAPIItems(s.DownwardAPI.Items)
		}
		if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
			s.ServiceAccountToken.ExpirationSeconds = ptr.To(int64(time.Hour.Seconds()))
		}
	}
}

// rbd, azureDisk and scaleIO default the in-tree volume plugins that upstream still accepts in the API.
func rbd(pool, user, keyring *string) {
	if *pool == "" {
		*pool = "rbd"
	}
	if *user == "" {
		*user = "admin"
	}
	if *keyring == "" {
		*keyring = "/etc/ceph/keyring"
	}
}

func azureDisk(a *corev1.AzureDiskVolumeSource) {
	if a.CachingMode == nil {
		a.CachingMode = ptr.To(corev1.AzureDataDiskCachingReadWrite)
	}
	if a.Kind == nil {
		a.Kind = ptr.To(corev1.AzureSharedBlobDisk)
	}
	if a.FSType == nil {
		a.FSType = ptr.To("ext4")
	}
	if a.ReadOnly == nil {
		a.ReadOnly = ptr.To(false)
	}
}

func scaleIO(storageMode, fsType *string) {
	if *storageMode == "" {
		*storageMode = "ThinProvisioned"
	}
	if *fsType == "" {
		*fsType = "xfs"
	}
}

// roundResourceList rounds quantities up to milli precision, as upstream does to keep values
// representable in every API version.
func roundResourceList(list corev1.ResourceList) {
	for name, q := range list {
		q.RoundUp(-3)
		list[name] = q
	}
}

// Namespace labels the namespace with its name, starts it Active, and gives it the kubernetes finalizer.
//
// Upstream adds the finalizer when a namespace is created and lets the namespace controller remove it
// through the finalize subresource during deletion. So that this function can also run on updates, it
// leaves namespaces that are being deleted alone; otherwise the finalizer would come back and the
// namespace would never go away.
func Namespace(obj *corev1.Namespace) {
	// A name may still be generated; the label is then set on a later call.
	if obj.Name != "" {
		if obj.Labels == nil {
			obj.Labels = map[string]string{}
		}
		obj.Labels[corev1.LabelMetadataName] = obj.Name
	}
	if obj.Status.Phase == "" {
		obj.Status.Phase = corev1.NamespaceActive
	}
	if obj.DeletionTimestamp == nil {
		hasKubernetes := false
		for _, f := range obj.Spec.Finalizers {
			if f == corev1.FinalizerKubernetes {
				hasKubernetes = true
				break
			}
		}
		if !hasKubernetes {
			obj.Spec.Finalizers = append(obj.Spec.Finalizers, corev1.FinalizerKubernetes)
		}
	}
}

// Service defaults a Service. Cluster IPs, node ports and IP families are not defaults: the server's
// allocators set them.
func Service(obj *corev1.Service) {
	spec := &obj.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		if c := spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(corev1.DefaultClientIPServiceAffinitySeconds)},
			}
		}
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(obj) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil {
		switch spec.Type {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		if spec.AllocateLoadBalancerNodePorts == nil {
			spec.AllocateLoadBalancerNodePorts = ptr.To(true)
		}
		for i := range obj.Status.LoadBalancer.Ingress {
			ing := &obj.Status.LoadBalancer.Ingress[i]
			if ing.IP != "" && ing.IPMode == nil {
				ing.IPMode = ptr.To(corev1.LoadBalancerIPModeVIP)
			}
		}
	}
}

// externallyAccessible reports whether traffic can reach the service from outside the cluster, which is
// when an external traffic policy applies.
func externallyAccessible(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeClusterIP:
		return len(svc.Spec.ExternalIPs) > 0
	}
	return false
}

// Endpoints defaults the protocol of every port to TCP.
func Endpoints(obj *corev1.Endpoints) {
	for i := range obj.Subsets {
		ports := obj.Subsets[i].Ports
		for j := range ports {
			if ports[j].Protocol == "" {
				ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// ConfigMap gives a ConfigMap an empty data map, as upstream does.
func ConfigMap(obj *corev1.ConfigMap) {
	if obj.Data == nil {
		obj.Data = map[string]string{}
	}
}

// Secret defaults the type to Opaque.
func Secret(obj *corev1.Secret) {
	if obj.Type == "" {
		obj.Type = corev1.SecretTypeOpaque
	}
}

// Node defaults allocatable to capacity when the node reports only capacity.
func Node(obj *corev1.Node) {
	st := &obj.Status
	if st.Allocatable == nil && st.Capacity != nil {
		st.Allocatable = make(corev1.ResourceList, len(st.Capacity))
		for name, q := range st.Capacity {
			st.Allocatable[name] = q.DeepCopy()
		}
	}
	roundResourceList(st.Capacity)
	roundResourceList(st.Allocatable)
}

// Event has nothing to default: upstream stores events as written (client-go's recorders fill
// reportingComponent and reportingInstance from the source themselves). It serves core and
// events.k8s.io events alike.
func Event(obj *corev1.Event) {}

// ServiceAccount has nothing to default.
func ServiceAccount(obj *corev1.ServiceAccount) {}

// Binding (the body of pods/binding) has nothing to default.
func Binding(obj *corev1.Binding) {}

// PersistentVolume defaults a PersistentVolume: phase Pending, reclaim policy Retain, volume mode
// Filesystem, and the in-tree volume sources.
func PersistentVolume(obj *corev1.PersistentVolume) {
	if obj.Status.Phase == "" {
		obj.Status.Phase = corev1.VolumePending
	}
	spec := &obj.Spec
	if spec.PersistentVolumeReclaimPolicy == "" {
		spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
	}
	roundResourceList(spec.Capacity)
	src := &spec.PersistentVolumeSource
	if src.HostPath != nil {
		hostPath(src.HostPath)
	}
	if src.RBD != nil {
		rbd(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if src.AzureDisk != nil {
		azureDisk(src.AzureDisk)
	}
	if src.ScaleIO != nil {
		scaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	}
}

// PersistentVolumeClaim defaults a claim: phase Pending and volume mode Filesystem.
func PersistentVolumeClaim(obj *corev1.PersistentVolumeClaim) {
	if obj.Status.Phase == "" {
		obj.Status.Phase = corev1.ClaimPending
	}
	persistentVolumeClaimSpec(&obj.Spec)
	roundResourceList(obj.Status.Capacity)
	roundResourceList(obj.Status.AllocatedResources)
}

func persistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
	}
	roundResourceList(spec.Resources.Limits)
	roundResourceList(spec.Resources.Requests)
}

// ResourceQuota rounds the quota's quantities.
func ResourceQuota(obj *corev1.ResourceQuota) {
	roundResourceList(obj.Spec.Hard)
	roundResourceList(obj.Status.Hard)
	roundResourceList(obj.Status.Used)
}

// LimitRange fills the container defaults of each limit: a default limit from max, a default request from
// the default limit, else from min.
func LimitRange(obj *corev1.LimitRange) {
	for i := range obj.Spec.Limits {
		item := &obj.Spec.Limits[i]
		if item.Type == corev1.LimitTypeContainer {
			if item.Default == nil {
				item.Default = corev1.ResourceList{}
			}
			if item.DefaultRequest == nil {
				item.DefaultRequest = corev1.ResourceList{}
			}
			fillMissing(item.Default, item.Max)
			fillMissing(item.DefaultRequest, item.Default)
			fillMissing(item.DefaultRequest, item.Min)
		}
		roundResourceList(item.Max)
		roundResourceList(item.Min)
		roundResourceList(item.Default)
		roundResourceList(item.DefaultRequest)
		roundResourceList(item.MaxLimitRequestRatio)
	}
}

// fillMissing copies into dst the resources of src that dst lacks.
func fillMissing(dst, src corev1.ResourceList) {
	for name, q := range src {
		if _, ok := dst[name]; !ok {
			dst[name] = q.DeepCopy()
		}
	}
}

// ReplicationController defaults replicas to 1 and, from the template's labels, the selector and the
// controller's own labels.
func ReplicationController(obj *corev1.ReplicationController) {
	if t := obj.Spec.Template; t != nil && t.Labels != nil {
		if len(obj.Spec.Selector) == 0 {
			obj.Spec.Selector = maps.Clone(t.Labels)
		}
		if len(obj.Labels) == 0 {
			obj.Labels = maps.Clone(t.Labels)
		}
	}
	if obj.Spec.Replicas == nil {
		obj.Spec.Replicas = ptr.To(int32(1))
	}
	if obj.Spec.Template != nil {
		PodTemplateSpec(obj.Spec.Template)
	}
}

// PodTemplate defaults the template it holds.
func PodTemplate(obj *corev1.PodTemplate) {
	PodTemplateSpec(&obj.Template)
}
