package scheduler

import (
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// Requests assumed for a container that sets none, when spreading pods by load (upstream's
// DefaultMilliCPURequest and DefaultMemoryRequest): without them, pods without requests would all
// land on the same node.
const (
	defaultMilliCPURequest = 100
	defaultMemoryRequest   = 200 * 1024 * 1024
)

// resources is an amount of each resource the scheduler accounts for, in the units it compares:
// millicores of cpu, bytes of memory and of ephemeral storage, a number of pods, and the integer
// amount of each scalar resource (extended resources, hugepages, ...).
type resources struct {
	milliCPU         int64
	memory           int64
	ephemeralStorage int64
	pods             int64
	scalar           map[corev1.ResourceName]int64
}

// resourcesFrom converts a resource list; names the scheduler does not account for are left out.
func resourcesFrom(list corev1.ResourceList) resources {
	var r resources
	for name, q := range list {
		switch name {
		case corev1.ResourceCPU:
			r.milliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			r.ephemeralStorage = q.Value()
		case corev1.ResourcePods:
			r.pods = q.Value()
		default:
			if isScalarResourceName(name) {
				if r.scalar == nil {
					r.scalar = map[corev1.ResourceName]int64{}
				}
				r.scalar[name] = q.Value()
			}
		}
	}
	return r
}

// add adds sign times o to r.
func (r *resources) add(o *resources, sign int64) {
	r.milliCPU += sign * o.milliCPU
	r.memory += sign * o.memory
	r.ephemeralStorage += sign * o.ephemeralStorage
	r.pods += sign * o.pods
	for name, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[name] += sign * v
	}
}

// setMax raises each resource of r to that of o where o's is larger.
func (r *resources) setMax(o *resources) {
	r.milliCPU = max(r.milliCPU, o.milliCPU)
	r.memory = max(r.memory, o.memory)
	r.ephemeralStorage = max(r.ephemeralStorage, o.ephemeralStorage)
	r.pods = max(r.pods, o.pods)
	for name, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[name] = max(r.scalar[name], v)
	}
}

func (r resources) clone() resources {
	r.scalar = maps.Clone(r.scalar)
	return r
}

// isZero reports whether r requests nothing (pods aside).
func (r *resources) isZero() bool {
	if r.milliCPU != 0 || r.memory != 0 || r.ephemeralStorage != 0 {
		return false
	}
	for _, v := range r.scalar {
		if v != 0 {
			return false
		}
	}
	return true
}

// isScalarResourceName reports whether name is a resource counted in integers beside cpu and memory:
// extended resources (example.com/gpu), hugepages-*, attachable-volumes-* and kubernetes.io/ native
// resources, as upstream's schedutil.IsScalarResourceName.
func isScalarResourceName(name corev1.ResourceName) bool {
	s := string(name)
	switch {
	case strings.HasPrefix(s, corev1.ResourceHugePagesPrefix), strings.HasPrefix(s, corev1.ResourceAttachableVolumesPrefix):
		return true
	case strings.Contains(s, corev1.ResourceDefaultNamespacePrefix):
		return true // a native resource with the kubernetes.io/ prefix
	case strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix):
		return false // quota's requests.* names are not container resources
	default:
		return strings.Contains(s, "/") // an extended resource: any other domain-prefixed name
	}
}

// hostPort is a port a pod takes on its node's addresses.
type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

// bindAll is the address a host port without hostIP binds, which clashes with every other address.
const bindAll = "0.0.0.0"

// hostPortsOf lists the ports pod takes on its node, with the defaults the node applies (all
// addresses, TCP).
func hostPortsOf(pod *corev1.Pod) []hostPort {
	var ports []hostPort
	collect := func(containers []corev1.Container) {
		for i := range containers {
			for _, p := range containers[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
				if hp.ip == "" {
					hp.ip = bindAll
				}
				if hp.protocol == "" {
					hp.protocol = corev1.ProtocolTCP
				}
				ports = append(ports, hp)
			}
		}
	}
	collect(pod.Spec.InitContainers)
	collect(pod.Spec.Containers)
	return ports
}

// conflicts reports whether want clashes with a port in use: the same protocol and port on the same
// address, where 0.0.0.0 is every address.
func conflicts(used []hostPort, want hostPort) bool {
	for _, u := range used {
		if u.port != want.port || u.protocol != want.protocol {
			continue
		}
		if want.ip == bindAll || u.ip == bindAll || u.ip == want.ip {
			return true
		}
	}
	return false
}

// affinityTerm is a pod (anti-)affinity term with its selectors parsed: pods in one of namespaces, or
// in a namespace whose labels namespaceSelector matches, and whose labels selector matches, share a
// topology domain (the value of topologyKey on their node).
type affinityTerm struct {
	namespaces        sets.Set[string]
	namespaceSelector labels.Selector
	selector          labels.Selector
	topologyKey       string
}

// matches reports whether pod, in a namespace labelled nsLabels, is one the term selects.
func (t *affinityTerm) matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if t.namespaces.Has(pod.Namespace) || t.namespaceSelector.Matches(nsLabels) {
		return t.selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

type weightedAffinityTerm struct {
	affinityTerm
	weight int32
}

// newAffinityTerm parses term of pod. matchLabelKeys and mismatchLabelKeys become requirements on
// pod's own label values, as the API server merges them upstream.
func newAffinityTerm(pod *corev1.Pod, term *corev1.PodAffinityTerm) (affinityTerm, error) {
	selector, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return affinityTerm{}, err
	}
	if term.LabelSelector != nil {
		for _, key := range term.MatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				r, err := labels.NewRequirement(key, selection.In, []string{v})
				if err != nil {
					return affinityTerm{}, err
				}
				selector = selector.Add(*r)
			}
		}
		for _, key := range term.MismatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				r, err := labels.NewRequirement(key, selection.NotIn, []string{v})
				if err != nil {
					return affinityTerm{}, err
				}
				selector = selector.Add(*r)
			}
		}
	}
	nsSelector, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
	if err != nil {
		return affinityTerm{}, err
	}
	namespaces := sets.New(term.Namespaces...)
	if len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
		namespaces.Insert(pod.Namespace)
	}
	return affinityTerm{namespaces: namespaces, namespaceSelector: nsSelector, selector: selector, topologyKey: term.TopologyKey}, nil
}

func affinityTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm) ([]affinityTerm, error) {
	var out []affinityTerm
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func weightedAffinityTerms(pod *corev1.Pod, terms []corev1.WeightedPodAffinityTerm) ([]weightedAffinityTerm, error) {
	var out []weightedAffinityTerm
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			return nil, err
		}
		out = append(out, weightedAffinityTerm{affinityTerm: t, weight: terms[i].Weight})
	}
	return out, nil
}

// podInfo is a pod with what the scheduler derives from its spec, computed once per version of the
// pod. It is immutable once built: an update of the pod makes a new podInfo.
type podInfo struct {
	pod      *corev1.Pod
	priority int32
	// requests is what the pod needs on its node: the larger of its containers' sum and any init
	// container, plus overhead (upstream's resource.PodRequests).
	requests resources
	// nonZeroCPU and nonZeroMemory count a container without requests as asking for 100m and 200Mi,
	// for spreading by load.
	nonZeroCPU    int64
	nonZeroMemory int64
	hostPorts     []hostPort

	requiredAffinity      []affinityTerm
	requiredAntiAffinity  []affinityTerm
	preferredAffinity     []weightedAffinityTerm
	preferredAntiAffinity []weightedAffinityTerm
	// withAffinity is true when the pod has any pod affinity or anti-affinity, required or preferred.
	withAffinity bool
	// parseErr is set when a pod affinity term has a selector that does not parse.
	parseErr error
}

// newPodInfo derives what scheduling needs from pod. A pod with unparsable affinity terms still gets
// its resources counted; the error is kept for the affinity plugin to report.
func newPodInfo(pod *corev1.Pod) *podInfo {
	pi := &podInfo{pod: pod, priority: corev1helpers.PodPriority(pod), hostPorts: hostPortsOf(pod)}
	if specRequestsSuffice(pod) {
		pi.requests = specRequests(pod, false)
		nonZero := specRequests(pod, true)
		pi.nonZeroCPU, pi.nonZeroMemory = nonZero.milliCPU, nonZero.memory
	} else {
		// Status resources matter once the pod runs and is resized in place.
		reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{UseStatusResources: true})
		pi.requests = resourcesFrom(reqs)
		pi.requests.pods = 0
		nonZero := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
			UseStatusResources:          true,
			NonMissingContainerRequests: nonMissingRequests(pod),
		})
		pi.nonZeroCPU = nonZero.Cpu().MilliValue()
		pi.nonZeroMemory = nonZero.Memory().Value()
	}

	if a := pod.Spec.Affinity; a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil) {
		pi.withAffinity = true
		var errs []error
		if a.PodAffinity != nil {
			var err error
			pi.requiredAffinity, err = affinityTerms(pod, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
			errs = append(errs, err)
			pi.preferredAffinity, err = weightedAffinityTerms(pod, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
			errs = append(errs, err)
		}
		if a.PodAntiAffinity != nil {
			var err error
			pi.requiredAntiAffinity, err = affinityTerms(pod, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
			errs = append(errs, err)
			pi.preferredAntiAffinity, err = weightedAffinityTerms(pod, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
			errs = append(errs, err)
		}
		for _, err := range errs {
			if err != nil {
				pi.parseErr = fmt.Errorf("pod affinity terms: %w", err)
				break
			}
		}
	}
	return pi
}

// specRequestsSuffice reports whether pod's requests follow from its containers' specs alone: no
// pod-level requests, and no resources of an in-place resize in its status. Nearly every pod is so,
// and specRequests then computes what resource.PodRequests would, without allocating.
func specRequestsSuffice(pod *corev1.Pod) bool {
	if resourcehelper.IsPodLevelRequestsSet(pod) || resourcehelper.IsPodResizeInfeasible(pod) {
		return false
	}
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range statuses {
			if statuses[i].AllocatedResources != nil || (statuses[i].Resources != nil && statuses[i].Resources.Requests != nil) {
				return false
			}
		}
	}
	return true
}

// specRequests is what pod requests (the sidecar containers started so far plus the largest init
// container, or all containers and sidecars, whichever is larger, and the overhead), as upstream's
// resource.PodRequests. withDefaults counts a container without a cpu or memory request as
// requesting 100m or 200Mi.
func specRequests(pod *corev1.Pod, withDefaults bool) resources {
	of := func(c *corev1.Container) resources {
		r := resourcesFrom(c.Resources.Requests)
		r.pods = 0
		if withDefaults {
			if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
				r.milliCPU = defaultMilliCPURequest
			}
			if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
				r.memory = defaultMemoryRequest
			}
		}
		return r
	}
	var sum resources
	for i := range pod.Spec.Containers {
		r := of(&pod.Spec.Containers[i])
		sum.add(&r, 1)
	}
	var sidecars, initMax resources
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		r := of(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum.add(&r, 1)
			sidecars.add(&r, 1)
			initMax.setMax(&sidecars)
			continue
		}
		r.add(&sidecars, 1)
		initMax.setMax(&r)
	}
	sum.setMax(&initMax)
	if pod.Spec.Overhead != nil {
		o := resourcesFrom(pod.Spec.Overhead)
		o.pods = 0
		sum.add(&o, 1)
	}
	return sum
}

// nonMissingRequests are the requests assumed for containers that set none; with pod-level requests
// set, only for the resources the pod level leaves out (upstream's getNonMissingContainerRequests).
func nonMissingRequests(pod *corev1.Pod) corev1.ResourceList {
	defaults := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(defaultMilliCPURequest, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(defaultMemoryRequest, resource.DecimalSI),
	}
	if !resourcehelper.IsPodLevelRequestsSet(pod) {
		return defaults
	}
	for name := range pod.Spec.Resources.Requests {
		delete(defaults, name)
	}
	return defaults
}

// withPod returns a copy of pi describing pod, a newer version of the same pod whose spec and labels
// are unchanged, so that nothing needs to be derived again.
func (pi *podInfo) withPod(pod *corev1.Pod) *podInfo {
	c := *pi
	c.pod = pod
	return &c
}

// nodeInfo is a node with the pods on it (bound, or assumed by this scheduler) and their aggregates,
// so that filters and scores need not walk the pods.
type nodeInfo struct {
	node *corev1.Node
	pods []*podInfo
	// podsWithAffinity are the pods with any pod (anti-)affinity, for scoring.
	podsWithAffinity []*podInfo
	// podsWithRequiredAntiAffinity are the pods whose required anti-affinity may repel a new pod.
	podsWithRequiredAntiAffinity []*podInfo
	usedPorts                    []hostPort
	// requested sums the pods' requests; nonZeroRequested counts defaults for containers without.
	requested        resources
	nonZeroRequested resources
	allocatable      resources
	// generation changes whenever the nodeInfo does.
	generation int64
}

func (n *nodeInfo) name() string {
	if n.node == nil {
		return ""
	}
	return n.node.Name
}

func (n *nodeInfo) setNode(node *corev1.Node) {
	n.node = node
	n.allocatable = resourcesFrom(node.Status.Allocatable)
}

func (n *nodeInfo) addPod(pi *podInfo) {
	n.pods = append(n.pods, pi)
	if pi.withAffinity {
		n.podsWithAffinity = append(n.podsWithAffinity, pi)
	}
	if len(pi.requiredAntiAffinity) > 0 {
		n.podsWithRequiredAntiAffinity = append(n.podsWithRequiredAntiAffinity, pi)
	}
	n.usedPorts = append(n.usedPorts, pi.hostPorts...)
	n.account(pi, 1)
}

// removePod removes the pod with pi's UID and reports whether it was there.
func (n *nodeInfo) removePod(pi *podInfo) bool {
	uid := pi.pod.UID
	var removed *podInfo
	n.pods, removed = removePodInfo(n.pods, uid)
	if removed == nil {
		return false
	}
	n.podsWithAffinity, _ = removePodInfo(n.podsWithAffinity, uid)
	n.podsWithRequiredAntiAffinity, _ = removePodInfo(n.podsWithRequiredAntiAffinity, uid)
	for _, p := range removed.hostPorts {
		for i, u := range n.usedPorts {
			if u == p {
				n.usedPorts = append(n.usedPorts[:i], n.usedPorts[i+1:]...)
				break
			}
		}
	}
	n.account(removed, -1)
	return true
}

func (n *nodeInfo) account(pi *podInfo, sign int64) {
	n.requested.add(&pi.requests, sign)
	n.nonZeroRequested.milliCPU += sign * pi.nonZeroCPU
	n.nonZeroRequested.memory += sign * pi.nonZeroMemory
}

func removePodInfo(list []*podInfo, uid types.UID) ([]*podInfo, *podInfo) {
	for i, p := range list {
		if p.pod.UID == uid {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			return list[:last], p
		}
	}
	return list, nil
}

// copyFrom makes n a copy of o that later changes of o do not reach, reusing n's slices.
func (n *nodeInfo) copyFrom(o *nodeInfo) {
	n.node = o.node
	n.pods = copyPodInfos(n.pods, o.pods)
	n.podsWithAffinity = copyPodInfos(n.podsWithAffinity, o.podsWithAffinity)
	n.podsWithRequiredAntiAffinity = copyPodInfos(n.podsWithRequiredAntiAffinity, o.podsWithRequiredAntiAffinity)
	n.usedPorts = append(n.usedPorts[:0], o.usedPorts...)
	n.requested = o.requested.clone()
	n.nonZeroRequested = o.nonZeroRequested.clone()
	n.allocatable = o.allocatable.clone()
	n.generation = o.generation
}

func copyPodInfos(dst, src []*podInfo) []*podInfo {
	old := len(dst)
	dst = append(dst[:0], src...)
	if old > len(dst) {
		clear(dst[len(dst):old]) // let go of pods no longer on the node
	}
	return dst
}
