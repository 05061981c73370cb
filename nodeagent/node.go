package nodeagent

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-base/version"
)

// Node conditions, reasons and messages as upstream's kubelet posts them.
const (
	kubeletPort = 10250

	annotationControllerManagedAttachDetach = "volumes.kubernetes.io/controller-managed-attach-detach"
	labelBetaOS                             = "beta.kubernetes.io/os"
	labelBetaArch                           = "beta.kubernetes.io/arch"
)

// nodeCondition is a condition the agent owns, as it posts it.
type nodeCondition struct {
	Type            corev1.NodeConditionType
	Status          corev1.ConditionStatus
	Reason, Message string
}

// nodeConditions are the conditions the agent owns, in the order kubelet posts them.
var nodeConditions = []nodeCondition{
	{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
	{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
	{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
	{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"},
}

// node is one node the agent runs.
type node struct {
	agent    *agent
	name     string
	ips      *podIPAllocator
	recorder record.EventRecorder
	// wake makes the status loop look at once (the Node was deleted).
	wake chan struct{}
	// registered is closed once the Node exists.
	registered chan struct{}
	regOnce    sync.Once

	mu  sync.Mutex
	obj *corev1.Node // newest known Node, nil until registered or after a deletion
}

func newNode(a *agent, name string, recorder record.EventRecorder) *node {
	return &node{agent: a, name: name, ips: newPodIPAllocator(), recorder: recorder,
		wake: make(chan struct{}, 1), registered: make(chan struct{})}
}

// current is the newest known Node, or nil.
func (n *node) current() *corev1.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.obj
}

// podCIDR is the node's pod CIDR, empty until the nodeipam controller gives one.
func (n *node) podCIDR() string {
	if obj := n.current(); obj != nil {
		return obj.Spec.PodCIDR
	}
	return ""
}

// observed records a Node seen in the API or returned by a write, unless a newer one is known.
func (n *node) observed(obj *corev1.Node) {
	n.mu.Lock()
	old := n.obj
	if old != nil && old.UID == obj.UID && olderVersion(obj.ResourceVersion, old.ResourceVersion) {
		n.mu.Unlock()
		return
	}
	n.obj = obj
	n.mu.Unlock()
	n.regOnce.Do(func() { close(n.registered) })
	if old == nil || old.Spec.PodCIDR != obj.Spec.PodCIDR {
		n.agent.wakeNode(n)
	}
}

// deleted records that the Node was deleted: the status loop registers it again.
func (n *node) deleted(obj *corev1.Node) {
	n.mu.Lock()
	if n.obj != nil && n.obj.UID == obj.UID {
		n.obj = nil
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// ref is the Node as events name it.
func (n *node) ref() *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: n.name, UID: types.UID(n.name)}
}

// runStatus registers the Node, then posts its status every NodeStatusUpdateFrequency when it changed
// and every NodeStatusReportFrequency anyway, until ctx is done.
func (n *node) runStatus(ctx context.Context) {
	cfg := &n.agent.cfg
	log := n.agent.log.WithValues("node", n.name)
	if !n.register(ctx) {
		return
	}
	n.recorder.Event(n.ref(), corev1.EventTypeNormal, "Starting", "Starting kubelet.")
	var lastReport time.Time
	// Spread the nodes of one agent over the period, so that a thousand of them do not post at once.
	timer := time.NewTimer(0)
	defer timer.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-n.wake:
		}
		if n.current() == nil && !n.register(ctx) {
			return
		}
		if err := n.updateStatus(ctx, &lastReport); err != nil && ctx.Err() == nil {
			log.Error(err, "update node status")
		}
		next := cfg.NodeStatusUpdateFrequency
		if first {
			next = jitter(next, n.name)
			first = false
		}
		timer.Reset(next)
	}
}

// register makes sure the Node exists with the agent's labels, retrying until it does; it returns false
// if ctx ended first.
func (n *node) register(ctx context.Context) bool {
	delay := 100 * time.Millisecond
	for {
		obj, err := n.ensureNode(ctx)
		if err == nil {
			n.observed(obj)
			n.agent.log.V(1).Info("node registered", "node", n.name)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		n.agent.log.Error(err, "register node", "node", n.name)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		delay = min(2*delay, 7*time.Second)
	}
}

// ensureNode creates the Node, or gives an existing one the agent's labels.
func (n *node) ensureNode(ctx context.Context) (*corev1.Node, error) {
	nodes := n.agent.cfg.Client.CoreV1().Nodes()
	want := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        n.name,
		Labels:      n.labels(),
		Annotations: map[string]string{annotationControllerManagedAttachDetach: "true"},
	}}
	created, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create node %s: %w", n.name, err)
	}
	var updated *corev1.Node
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		existing, err := nodes.Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		labels := maps.Clone(existing.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, want.Labels)
		if maps.Equal(labels, existing.Labels) {
			updated = existing
			return nil
		}
		existing.Labels = labels
		updated, err = nodes.Update(ctx, existing, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update labels of node %s: %w", n.name, err)
	}
	return updated, nil
}

// labels are the labels the agent gives its Node, as upstream's kubelet, with the configured ones.
func (n *node) labels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:   n.name,
		corev1.LabelOSStable:   goruntime.GOOS,
		corev1.LabelArchStable: goruntime.GOARCH,
		labelBetaOS:            goruntime.GOOS,
		labelBetaArch:          goruntime.GOARCH,
	}
	maps.Copy(l, n.agent.cfg.Labels)
	return l
}

// updateStatus posts the node's status if it changed or was last reported too long ago.
func (n *node) updateStatus(ctx context.Context, lastReport *time.Time) error {
	current := n.current()
	if current == nil {
		return nil
	}
	now := time.Now()
	cfg := &n.agent.cfg
	desired := desiredNodeStatus(current, nodeFacts{
		NodeIP: cfg.NodeIP, Hostname: n.name, Capacity: cfg.Capacity, Info: nodeInfo(n.agent.info, n.name),
	}, now)
	if nodeStatusEqual(&current.Status, &desired) && now.Sub(*lastReport) < cfg.NodeStatusReportFrequency {
		return nil
	}
	patch, err := twoWayPatch(&corev1.Node{Status: current.Status}, &corev1.Node{Status: desired}, corev1.Node{})
	if err != nil {
		return fmt.Errorf("node %s status patch: %w", n.name, err)
	}
	updated, err := cfg.Client.CoreV1().Nodes().Patch(ctx, n.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		n.deleted(current)
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch status of node %s: %w", n.name, err)
	}
	*lastReport = now
	n.recordConditionEvents(&current.Status, &updated.Status)
	n.observed(updated)
	return nil
}

// recordConditionEvents tells, as kubelet does, of each condition of the node that changed status.
func (n *node) recordConditionEvents(before, after *corev1.NodeStatus) {
	events := map[corev1.NodeConditionType][2]string{
		corev1.NodeMemoryPressure: {"NodeHasInsufficientMemory", "NodeHasSufficientMemory"},
		corev1.NodeDiskPressure:   {"NodeHasDiskPressure", "NodeHasNoDiskPressure"},
		corev1.NodePIDPressure:    {"NodeHasInsufficientPID", "NodeHasSufficientPID"},
		corev1.NodeReady:          {"NodeNotReady", "NodeReady"},
	}
	for _, c := range after.Conditions {
		names, ok := events[c.Type]
		if !ok {
			continue
		}
		if i := slices.IndexFunc(before.Conditions, func(b corev1.NodeCondition) bool { return b.Type == c.Type }); i >= 0 && before.Conditions[i].Status == c.Status {
			continue
		}
		// Ready True and the pressure conditions False are the good news.
		good := (c.Type == corev1.NodeReady) == (c.Status == corev1.ConditionTrue)
		name := names[0]
		if good {
			name = names[1]
		}
		n.recorder.Eventf(n.ref(), corev1.EventTypeNormal, name, "Node %s status is now: %s", n.name, name)
	}
}

// nodeFacts are what a node's status is made of.
type nodeFacts struct {
	NodeIP, Hostname string
	Capacity         corev1.ResourceList
	Info             corev1.NodeSystemInfo
}

// desiredNodeStatus is the node's status as the agent reports it: what others set (other conditions,
// other addresses, images, volumes) kept, the agent's fields made anew, heartbeats at now, and a
// transition time kept for each condition whose status did not change.
func desiredNodeStatus(current *corev1.Node, f nodeFacts, now time.Time) corev1.NodeStatus {
	s := *current.Status.DeepCopy()
	s.Capacity = f.Capacity.DeepCopy()
	s.Allocatable = f.Capacity.DeepCopy()
	s.NodeInfo = f.Info
	s.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubeletPort}}

	var addrs []corev1.NodeAddress
	if f.NodeIP != "" {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: f.NodeIP})
	}
	addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: f.Hostname})
	for _, a := range current.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeHostName {
			addrs = append(addrs, a)
		}
	}
	s.Addresses = addrs

	heartbeat := metav1.NewTime(now).Rfc3339Copy()
	conditions := make([]corev1.NodeCondition, 0, len(current.Status.Conditions)+len(nodeConditions))
	for _, want := range nodeConditions {
		c := corev1.NodeCondition{Type: want.Type, Status: want.Status, Reason: want.Reason, Message: want.Message,
			LastHeartbeatTime: heartbeat, LastTransitionTime: heartbeat}
		for _, old := range current.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status && !old.LastTransitionTime.IsZero() {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		conditions = append(conditions, c)
	}
	for _, old := range current.Status.Conditions {
		if !slices.ContainsFunc(nodeConditions, func(w nodeCondition) bool { return w.Type == old.Type }) {
			conditions = append(conditions, old)
		}
	}
	s.Conditions = conditions
	return s
}

// nodeStatusEqual says whether two node statuses say the same, heartbeats aside.
func nodeStatusEqual(a, b *corev1.NodeStatus) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	for _, s := range []*corev1.NodeStatus{a, b} {
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		slices.SortFunc(s.Conditions, func(x, y corev1.NodeCondition) int { return strings.Compare(string(x.Type), string(y.Type)) })
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// systemInfo is what every node of this machine reports in nodeInfo but its identities.
func systemInfo(runtimeVersion string) corev1.NodeSystemInfo {
	info := corev1.NodeSystemInfo{
		OperatingSystem:         goruntime.GOOS,
		Architecture:            goruntime.GOARCH,
		KubeletVersion:          version.Get().GitVersion,
		ContainerRuntimeVersion: runtimeVersion,
		OSImage:                 osImage(),
		BootID:                  uuid.NewString(),
	}
	var uts syscall.Utsname
	if syscall.Uname(&uts) == nil {
		info.KernelVersion = utsString(uts.Release[:])
	}
	return info
}

// nodeInfo is a node's nodeInfo: the machine's, with machine and system IDs of the node's own, stable
// across restarts (simulated nodes of one machine must not share them).
func nodeInfo(machine corev1.NodeSystemInfo, nodeName string) corev1.NodeSystemInfo {
	info := machine
	sum := sha256.Sum256([]byte("skiff-node/" + nodeName))
	info.MachineID = fmt.Sprintf("%x", sum[:16])
	info.SystemUUID = uuid.Must(uuid.FromBytes(sum[16:32])).String()
	return info
}

func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if v, ok := strings.CutPrefix(scanner.Text(), "PRETTY_NAME="); ok {
			if s, err := strconv.Unquote(v); err == nil {
				return s
			}
			return v
		}
	}
	return "Linux"
}

func utsString[T int8 | uint8](chars []T) string {
	var b strings.Builder
	for _, c := range chars {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// jitter is a stable fraction of d picked by name, so that the nodes of one agent spread over d.
func jitter(d time.Duration, name string) time.Duration {
	sum := sha256.Sum256([]byte(name))
	return time.Duration(uint64(d) * uint64(sum[0]) / 256)
}

// twoWayPatch is the strategic merge patch from old to new, of dataStruct's type.
func twoWayPatch(old, new, dataStruct any) ([]byte, error) {
	oldJSON, err := json.Marshal(old)
	if err != nil {
		return nil, err
	}
	newJSON, err := json.Marshal(new)
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, dataStruct)
}

// olderVersion says whether resource version a is older than b. Versions are etcd revisions here; if
// they do not parse, neither counts as older.
func olderVersion(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}
