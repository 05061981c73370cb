package endpointslice

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func testPod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) {
	now := metav1.NewTime(t0.Add(time.Minute))
	p.DeletionTimestamp = &now
}
func httpPort(n int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
}
func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func testService(opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"app": "web"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

var nodes = map[string]*corev1.Node{
	"node-1": {ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}}},
	"node-2": {ObjectMeta: metav1.ObjectMeta{Name: "node-2"}},
}

func newPlanner(svc *corev1.Service, max int) *planner {
	return &planner{svc: svc, maxPerSlice: max, nodeOf: func(name string) *corev1.Node { return nodes[name] }}
}

// written applies c to existing as the API server would, naming created slices slice-0, slice-1, ...
func written(t *testing.T, existing []*discoveryv1.EndpointSlice, c changes) []*discoveryv1.EndpointSlice {
	t.Helper()
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range c.delete {
		if byName[s.Name] == nil {
			t.Fatalf("deleting unknown slice %s", s.Name)
		}
		delete(byName, s.Name)
	}
	for _, s := range c.update {
		if byName[s.Name] == nil {
			t.Fatalf("updating unknown slice %s", s.Name)
		}
		byName[s.Name] = s
	}
	for i, s := range c.create {
		if s.Name != "" {
			t.Fatalf("created slice has a name %q", s.Name)
		}
		s = s.DeepCopy()
		s.Name = fmt.Sprintf("new-%d-%d", len(byName), i)
		byName[s.Name] = s
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range byName {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// layout renders slices as "ports:pod,pod" terms sorted, e.g. "http=8080:a,b".
func layout(ss []*discoveryv1.EndpointSlice) string {
	var terms []string
	for _, s := range ss {
		var ports, pods []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", *p.Name, *p.Port))
		}
		for _, ep := range s.Endpoints {
			pods = append(pods, ep.TargetRef.Name)
		}
		sort.Strings(pods)
		terms = append(terms, fmt.Sprintf("%s:%s", strings.Join(ports, ","), strings.Join(pods, ",")))
	}
	sort.Strings(terms)
	return strings.Join(terms, " ")
}

func endpointOf(t *testing.T, ss []*discoveryv1.EndpointSlice, pod string) discoveryv1.Endpoint {
	t.Helper()
	for _, s := range ss {
		for _, ep := range s.Endpoints {
			if ep.TargetRef.Name == pod {
				return ep
			}
		}
	}
	t.Fatalf("no endpoint of pod %s", pod)
	return discoveryv1.Endpoint{}
}

func TestPlanLayout(t *testing.T) {
	manyPods := func(n int) []*corev1.Pod {
		var out []*corev1.Pod
		for i := range n {
			out = append(out, testPod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1)))
		}
		return out
	}
	tests := []struct {
		name      string
		svc       *corev1.Service
		pods      []*corev1.Pod
		max       int
		want      string
		slice     int // how many slices
		endpoints int // how many endpoints in all
	}{
		{name: "no pods get an empty placeholder slice", svc: testService(), max: 100, want: ":", slice: 1, endpoints: 0},
		{name: "pods share one slice", svc: testService(), max: 100,
			pods: []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("b", "10.42.0.2", notReady), testPod("t", "10.42.0.3", terminating)},
			want: "http=8080:a,b,t", slice: 1, endpoints: 3},
		{name: "pods without an IP or finished are left out", svc: testService(), max: 100,
			pods: []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("new", "", func(p *corev1.Pod) { p.Status.PodIPs = nil }),
				testPod("done", "10.42.0.3", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })},
			want: "http=8080:a", slice: 1, endpoints: 1},
		{name: "pods resolving a named port differently go to different slices", svc: testService(), max: 100,
			pods: []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("b", "10.42.0.2", httpPort(9090)), testPod("c", "10.42.0.3")},
			want: "http=8080:a,c http=9090:b", slice: 2, endpoints: 3},
		{name: "pods without the named port get a slice without it", svc: testService(), max: 100,
			pods: []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("b", "10.42.0.2", func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })},
			want: ":b http=8080:a", slice: 2, endpoints: 2},
		{name: "at most max endpoints per slice", svc: testService(), max: 100, pods: manyPods(250), slice: 3, endpoints: 250},
		{name: "headless services without ports", svc: testService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil }),
			max: 100, pods: []*corev1.Pod{testPod("a", "10.42.0.1")}, want: ":a", slice: 1, endpoints: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, skipped := newPlanner(tt.svc, tt.max).plan(tt.pods, nil)
			if len(skipped) > 0 {
				t.Fatalf("skipped %v", skipped)
			}
			if len(c.update)+len(c.delete) > 0 {
				t.Fatalf("updates or deletes without existing slices: %+v", c)
			}
			got := written(t, nil, c)
			if len(got) != tt.slice {
				t.Errorf("%d slices, want %d", len(got), tt.slice)
			}
			if tt.want != "" && layout(got) != tt.want {
				t.Errorf("layout %q, want %q", layout(got), tt.want)
			}
			total := 0
			for _, s := range got {
				total += len(s.Endpoints)
				if len(s.Endpoints) > tt.max {
					t.Errorf("slice with %d endpoints, more than %d", len(s.Endpoints), tt.max)
				}
				if s.AddressType != discoveryv1.AddressTypeIPv4 || s.GenerateName != "web-" || s.Namespace != "ns" {
					t.Errorf("slice meta %+v, address type %s", s.ObjectMeta, s.AddressType)
				}
				if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels["app"] != "web" {
					t.Errorf("slice labels %v", s.Labels)
				}
				if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "svc-uid" || !ptr.Deref(s.OwnerReferences[0].Controller, false) {
					t.Errorf("owner references %+v", s.OwnerReferences)
				}
			}
			if total != tt.endpoints {
				t.Errorf("%d endpoints, want %d", total, tt.endpoints)
			}
		})
	}
}

func TestEndpointConditionsAndAttributes(t *testing.T) {
	pods := []*corev1.Pod{
		testPod("ready", "10.42.0.1"),
		testPod("unready", "10.42.0.2", notReady),
		testPod("leaving", "10.42.0.3", terminating),
		testPod("named", "10.42.0.4", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "web" }),
		testPod("zoneless", "10.42.0.5", onNode("node-2")),
	}
	c, _ := newPlanner(testService(), 100).plan(pods, nil)
	got := written(t, nil, c)
	type conds struct{ ready, serving, terminating bool }
	for pod, want := range map[string]conds{
		"ready":   {true, true, false},
		"unready": {false, false, false},
		"leaving": {false, true, true},
	} {
		ep := endpointOf(t, got, pod)
		if have := (conds{*ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating}); have != want {
			t.Errorf("pod %s: conditions %+v, want %+v", pod, have, want)
		}
	}
	ep := endpointOf(t, got, "ready")
	if ptr.Deref(ep.NodeName, "") != "node-1" || ptr.Deref(ep.Zone, "") != "zone-a" || ep.Hostname != nil ||
		ep.TargetRef.Kind != "Pod" || ep.TargetRef.UID != "uid-ready" || !slices.Equal(ep.Addresses, []string{"10.42.0.1"}) {
		t.Errorf("endpoint %+v", ep)
	}
	if ep := endpointOf(t, got, "named"); ptr.Deref(ep.Hostname, "") != "db-0" {
		t.Errorf("hostname %v, want db-0", ep.Hostname)
	}
	if ep := endpointOf(t, got, "zoneless"); ep.Zone != nil {
		t.Errorf("zone %v for a node without one", *ep.Zone)
	}

	publish := testService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })
	c, _ = newPlanner(publish, 100).plan(pods, nil)
	got = written(t, nil, c)
	for _, pod := range []string{"unready", "leaving"} {
		if ep := endpointOf(t, got, pod); !*ep.Conditions.Ready {
			t.Errorf("pod %s not ready although not-ready addresses are published", pod)
		}
	}
}

func TestPodsOnUnknownNodesAreSkipped(t *testing.T) {
	pods := []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("lost", "10.42.0.2", onNode("gone"))}
	c, skipped := newPlanner(testService(), 100).plan(pods, nil)
	if !slices.Equal(skipped, []string{"lost"}) || layout(written(t, nil, c)) != "http=8080:a" {
		t.Errorf("skipped %v, layout %q", skipped, layout(written(t, nil, c)))
	}
	publish := testService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })
	c, skipped = newPlanner(publish, 100).plan(pods, nil)
	if len(skipped) != 0 || layout(written(t, nil, c)) != "http=8080:a,lost" {
		t.Errorf("with published not-ready addresses: skipped %v, layout %q", skipped, layout(written(t, nil, c)))
	}
}

func TestPlanChurn(t *testing.T) {
	svc := testService()
	p := newPlanner(svc, 3)
	pods := []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("b", "10.42.0.2"), testPod("c", "10.42.0.3"), testPod("d", "10.42.0.4")}
	c, _ := p.plan(pods, nil)
	state := written(t, nil, c)
	if layout(state) != "http=8080:a,b,c http=8080:d" {
		t.Fatalf("initial layout %q", layout(state))
	}

	t.Run("nothing changed means no writes", func(t *testing.T) {
		if c, _ := p.plan(pods, state); !c.empty() {
			t.Errorf("changes %+v", c)
		}
	})

	t.Run("a pod's readiness changes its endpoint in place", func(t *testing.T) {
		changed := slices.Clone(pods)
		changed[1] = testPod("b", "10.42.0.2", notReady)
		c, _ := p.plan(changed, state)
		if len(c.create)+len(c.delete) != 0 || len(c.update) != 1 {
			t.Fatalf("changes: %d creates, %d updates, %d deletes; want one update", len(c.create), len(c.update), len(c.delete))
		}
		after := written(t, state, c)
		if layout(after) != layout(state) {
			t.Errorf("layout %q, want %q", layout(after), layout(state))
		}
		if ep := endpointOf(t, after, "b"); *ep.Conditions.Ready {
			t.Errorf("b still ready")
		}
	})

	t.Run("a new pod fills the slice with room", func(t *testing.T) {
		c, _ := p.plan(append(slices.Clone(pods), testPod("e", "10.42.0.5")), state)
		if len(c.create)+len(c.delete) != 0 || len(c.update) != 1 {
			t.Fatalf("changes: %d creates, %d updates, %d deletes; want one update", len(c.create), len(c.update), len(c.delete))
		}
		if got := layout(written(t, state, c)); got != "http=8080:a,b,c http=8080:d,e" {
			t.Errorf("layout %q", got)
		}
	})

	t.Run("new pods fill a slice being updated anyway", func(t *testing.T) {
		// c leaves the full slice, whose update then takes the new pod rather than the other slice.
		next := []*corev1.Pod{pods[0], pods[1], pods[3], testPod("e", "10.42.0.5")}
		c, _ := p.plan(next, state)
		if len(c.create)+len(c.delete) != 0 || len(c.update) != 1 {
			t.Fatalf("changes: %d creates, %d updates, %d deletes; want one update", len(c.create), len(c.update), len(c.delete))
		}
		if got := layout(written(t, state, c)); got != "http=8080:a,b,e http=8080:d" {
			t.Errorf("layout %q", got)
		}
	})

	t.Run("a slice left empty is deleted", func(t *testing.T) {
		c, _ := p.plan(pods[:3], state)
		if len(c.create)+len(c.update) != 0 || len(c.delete) != 1 {
			t.Fatalf("changes: %d creates, %d updates, %d deletes; want one delete", len(c.create), len(c.update), len(c.delete))
		}
	})

	t.Run("when every pod goes the last slice becomes the placeholder", func(t *testing.T) {
		c, _ := p.plan(nil, state)
		after := written(t, state, c)
		if len(c.create) != 0 || layout(after) != ":" {
			t.Fatalf("layout %q after %d creates, %d updates, %d deletes", layout(after), len(c.create), len(c.update), len(c.delete))
		}
		if c, _ := p.plan(nil, after); !c.empty() {
			t.Errorf("the placeholder is rewritten: %+v", c)
		}
		// And the placeholder takes the first endpoints again.
		c, _ = p.plan(pods[:1], after)
		if len(c.create) != 0 || len(c.update) != 1 || layout(written(t, after, c)) != "http=8080:a" {
			t.Errorf("changes %+v", c)
		}
	})

	t.Run("service labels are copied to the slices", func(t *testing.T) {
		relabeled := testService(func(s *corev1.Service) { s.Labels = map[string]string{"app": "web", "tier": "front"} })
		c, _ := newPlanner(relabeled, 3).plan(pods, state)
		if len(c.update) != 2 || len(c.create)+len(c.delete) != 0 {
			t.Fatalf("changes: %d creates, %d updates, %d deletes; want two updates", len(c.create), len(c.update), len(c.delete))
		}
		for _, s := range c.update {
			if s.Labels["tier"] != "front" || s.Labels[discoveryv1.LabelServiceName] != "web" {
				t.Errorf("labels %v", s.Labels)
			}
		}
	})

	t.Run("slices of an earlier service of the same name are replaced", func(t *testing.T) {
		again := testService(func(s *corev1.Service) { s.UID = "new-uid" })
		c, _ := newPlanner(again, 3).plan(pods, state)
		if len(c.delete) != 2 || len(c.create) != 2 || len(c.update) != 0 {
			t.Fatalf("changes: %d creates, %d updates, %d deletes; want two of each create and delete", len(c.create), len(c.update), len(c.delete))
		}
	})

	t.Run("a port change moves endpoints to new slices, reusing the old ones", func(t *testing.T) {
		moved := make([]*corev1.Pod, len(pods))
		for i, pod := range pods {
			moved[i] = testPod(pod.Name, pod.Status.PodIP, httpPort(9090))
		}
		c, _ := p.plan(moved, state)
		if len(c.create)+len(c.delete) != 0 || len(c.update) != 2 {
			t.Fatalf("changes: %d creates, %d updates, %d deletes; want two updates", len(c.create), len(c.update), len(c.delete))
		}
		if got := layout(written(t, state, c)); !strings.Contains(got, "http=9090") || strings.Contains(got, "8080") {
			t.Errorf("layout %q", got)
		}
	})
}

func TestAddressTypes(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		want []discoveryv1.AddressType
	}{
		{name: "IPv4", svc: testService(), want: []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}},
		{name: "dual stack", svc: testService(func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
		}), want: []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeIPv4}},
		{name: "no families: that of the cluster IP", svc: testService(func(s *corev1.Service) {
			s.Spec.IPFamilies, s.Spec.ClusterIP = nil, "fd00::10"
		}), want: []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6}},
		{name: "headless without families: both", svc: testService(func(s *corev1.Service) {
			s.Spec.IPFamilies, s.Spec.ClusterIP = nil, corev1.ClusterIPNone
		}), want: []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := addressTypes(tt.svc); !slices.Equal(got, tt.want) {
				t.Errorf("addressTypes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlicesOfAnAddressTypeNoLongerServedAreDeleted(t *testing.T) {
	svc := testService()
	ipv6 := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "v6", Namespace: "ns"}, AddressType: discoveryv1.AddressTypeIPv6}
	c, _ := newPlanner(svc, 100).plan([]*corev1.Pod{testPod("a", "10.42.0.1")}, []*discoveryv1.EndpointSlice{ipv6})
	if len(c.delete) != 1 || c.delete[0].Name != "v6" || len(c.create) != 1 {
		t.Errorf("changes %+v", c)
	}
}

func TestHeadlessLabel(t *testing.T) {
	headless := testService(func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })
	c, _ := newPlanner(headless, 100).plan(nil, nil)
	if _, ok := c.create[0].Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("labels %v lack %s", c.create[0].Labels, corev1.IsHeadlessService)
	}
	c, _ = newPlanner(testService(), 100).plan(nil, nil)
	if _, ok := c.create[0].Labels[corev1.IsHeadlessService]; ok {
		t.Errorf("labels %v of a ClusterIP service have %s", c.create[0].Labels, corev1.IsHeadlessService)
	}
}

func TestSlicePrefix(t *testing.T) {
	if got := slicePrefix("web"); got != "web-" {
		t.Errorf("slicePrefix(web) = %q, want web-", got)
	}
}

func TestLastChangeTriggerTime(t *testing.T) {
	svc := testService(func(s *corev1.Service) { s.CreationTimestamp = metav1.NewTime(t0.Add(-time.Hour)) })
	if got := LastChangeTriggerTime(svc, nil); !got.Equal(t0.Add(-time.Hour)) {
		t.Errorf("without pods: %v, want the service's creation", got)
	}
	pods := []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("b", "10.42.0.2", terminating)}
	if got := LastChangeTriggerTime(svc, pods); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("with a terminating pod: %v, want its deletion", got)
	}
	pods[0].Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Add(time.Hour))
	if got := LastChangeTriggerTime(svc, pods); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("with a later readiness change: %v, want it", got)
	}
}
