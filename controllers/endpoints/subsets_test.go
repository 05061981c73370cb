package endpoints

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
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

func testService(opts ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"app": "web"},
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func addr(name, ip string) corev1.EndpointAddress {
	return corev1.EndpointAddress{IP: ip, NodeName: ptr.To("node-1"),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}}
}

func port(name string, n int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: n, Protocol: corev1.ProtocolTCP}
}

func TestDesiredSubsets(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{
		{name: "no pods", svc: testService()},
		{name: "ready and not-ready pods", svc: testService(),
			pods: []*corev1.Pod{testPod("b", "10.42.0.2"), testPod("a", "10.42.0.1"), testPod("c", "10.42.0.3", notReady)},
			want: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{addr("a", "10.42.0.1"), addr("b", "10.42.0.2")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("c", "10.42.0.3")},
				Ports:             []corev1.EndpointPort{port("http", 8080)},
			}}},
		{name: "terminating, terminal and IP-less pods are left out", svc: testService(),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("t", "10.42.0.2", terminating),
				testPod("done", "10.42.0.3", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
				testPod("new", "", func(p *corev1.Pod) { p.Status.PodIPs = nil })},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("http", 8080)}}}},
		{name: "publishNotReadyAddresses lists every pod as ready, terminating ones too",
			svc:  testService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1", notReady), testPod("t", "10.42.0.2", terminating)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1"), addr("t", "10.42.0.2")},
				Ports: []corev1.EndpointPort{port("http", 8080)}}}},
		{name: "pods resolving a named port differently get their own subsets", svc: testService(),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("b", "10.42.0.2", httpPort(9090))},
			want: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("http", 8080)}},
				{Addresses: []corev1.EndpointAddress{addr("b", "10.42.0.2")}, Ports: []corev1.EndpointPort{port("http", 9090)}},
			}},
		{name: "a pod without the named port is left out of that port",
			svc: testService(func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("metrics")})
			}),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1", func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP})
			}), testPod("b", "10.42.0.2")},
			want: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1"), addr("b", "10.42.0.2")}, Ports: []corev1.EndpointPort{port("http", 8080)}},
				{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("metrics", 9100)}},
			}},
		{name: "named ports match the protocol",
			svc:  testService(func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolUDP }),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1")}},
		{name: "numeric target ports need no container port",
			svc:  testService(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(7000) }),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1")},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("http", 7000)}}}},
		{name: "sidecar ports resolve",
			svc: testService(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("proxy") }),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1", func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
					Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001, Protocol: corev1.ProtocolTCP}}}}
			})},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("http", 15001)}}}},
		{name: "headless service without ports lists bare addresses",
			svc:  testService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil }),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1"), testPod("b", "10.42.0.2", notReady)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("b", "10.42.0.2")}}}},
		{name: "pods with a hostname in the service's subdomain are named",
			svc: testService(),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a-host", "web" }),
				testPod("b", "10.42.0.2", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "b-host", "other" })},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{
				func() corev1.EndpointAddress { a := addr("a", "10.42.0.1"); a.Hostname = "a-host"; return a }(),
				addr("b", "10.42.0.2")}, Ports: []corev1.EndpointPort{port("http", 8080)}}}},
		{name: "the pod IP of the service's family is used",
			svc: testService(func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.IPFamilies = "fd00:43::10", []corev1.IPFamily{corev1.IPv6Protocol}
			}),
			pods: []*corev1.Pod{testPod("a", "10.42.0.1", func(p *corev1.Pod) {
				p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "fd00:42::1"})
			}), testPod("b", "10.42.0.2")},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("a", "fd00:42::1")}, Ports: []corev1.EndpointPort{port("http", 8080)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := desiredSubsets(tt.svc, tt.pods)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !apiequality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("subsets\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRepackMergesAndNotReadyWins(t *testing.T) {
	in := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("b", "10.42.0.2")}, Ports: []corev1.EndpointPort{port("http", 80)}},
		{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("http", 80)}},
		{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("https", 443)}},
		{NotReadyAddresses: []corev1.EndpointAddress{addr("b", "10.42.0.2")}, Ports: []corev1.EndpointPort{port("https", 443)}},
	}
	want := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1"), addr("b", "10.42.0.2")}, Ports: []corev1.EndpointPort{port("http", 80)}},
		{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, NotReadyAddresses: []corev1.EndpointAddress{addr("b", "10.42.0.2")},
			Ports: []corev1.EndpointPort{port("https", 443)}},
	}
	if got := repack(in); !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("repack\n got %+v\nwant %+v", got, want)
	}
	// The same address ready and not ready on one port is not ready.
	got := repack([]corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("http", 80)}},
		{NotReadyAddresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("http", 80)}},
	})
	if len(got) != 1 || len(got[0].Addresses) != 0 || len(got[0].NotReadyAddresses) != 1 {
		t.Errorf("repack = %+v, want one not-ready address", got)
	}
	// Ports offered by the same addresses share a subset.
	got = repack([]corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("https", 443)}},
		{Addresses: []corev1.EndpointAddress{addr("a", "10.42.0.1")}, Ports: []corev1.EndpointPort{port("http", 80)}},
	})
	if len(got) != 1 || len(got[0].Ports) != 2 || got[0].Ports[0].Name != "http" {
		t.Errorf("repack = %+v, want one subset with ports http, https", got)
	}
}

func manyAddresses(prefix string, n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, n)
	for i := range out {
		out[i] = addr(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("10.%d.%d.%d", len(prefix), i/250, i%250))
	}
	return out
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name                  string
		subsets               []corev1.EndpointSubset
		wantTruncated         bool
		wantReady, wantNotRdy []int
	}{
		{name: "under capacity", subsets: []corev1.EndpointSubset{{Addresses: manyAddresses("a", 600), NotReadyAddresses: manyAddresses("b", 400)}},
			wantReady: []int{600}, wantNotRdy: []int{400}},
		{name: "not-ready addresses go first", subsets: []corev1.EndpointSubset{
			{Addresses: manyAddresses("a", 600), NotReadyAddresses: manyAddresses("b", 300)},
			{Addresses: manyAddresses("c", 200), NotReadyAddresses: manyAddresses("d", 300)},
		}, wantTruncated: true, wantReady: []int{600, 200}, wantNotRdy: []int{100, 100}},
		{name: "too many ready addresses share the room by proportion", subsets: []corev1.EndpointSubset{
			{Addresses: manyAddresses("a", 1500), NotReadyAddresses: manyAddresses("b", 10)},
			{Addresses: manyAddresses("c", 500)},
		}, wantTruncated: true, wantReady: []int{750, 250}, wantNotRdy: []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := truncate(tt.subsets)
			if got != tt.wantTruncated {
				t.Errorf("truncated = %v, want %v", got, tt.wantTruncated)
			}
			total := 0
			for i, s := range tt.subsets {
				total += len(s.Addresses) + len(s.NotReadyAddresses)
				if len(s.Addresses) != tt.wantReady[i] || len(s.NotReadyAddresses) != tt.wantNotRdy[i] {
					t.Errorf("subset %d: %d ready, %d not ready; want %d, %d", i, len(s.Addresses), len(s.NotReadyAddresses), tt.wantReady[i], tt.wantNotRdy[i])
				}
			}
			if total > maxCapacity {
				t.Errorf("%d addresses kept, more than %d", total, maxCapacity)
			}
		})
	}
}

func TestDesiredEndpoints(t *testing.T) {
	svc := testService()
	pods := []*corev1.Pod{testPod("a", "10.42.0.1")}
	created := desiredEndpoints(svc, pods, nil)
	if created == nil {
		t.Fatal("no Endpoints to create")
	}
	if created.Name != "web" || created.Namespace != "ns" || created.Labels["app"] != "web" {
		t.Errorf("meta %+v, want the service's name, namespace and labels", created.ObjectMeta)
	}
	if _, ok := created.Labels[corev1.IsHeadlessService]; ok {
		t.Errorf("headless label on a ClusterIP service's Endpoints")
	}
	if got := created.Annotations[corev1.EndpointsLastChangeTriggerTime]; got != t0.Format(time.RFC3339Nano) {
		t.Errorf("trigger time %q, want the pod's readiness change %s", got, t0.Format(time.RFC3339Nano))
	}

	created.ResourceVersion = "5"
	if again := desiredEndpoints(svc, pods, created); again != nil {
		t.Errorf("an up-to-date Endpoints is rewritten: %+v", again)
	}
	// A stored copy whose target references carry resource versions is still up to date.
	stored := created.DeepCopy()
	stored.Subsets[0].Addresses[0].TargetRef.ResourceVersion = "42"
	if again := desiredEndpoints(svc, pods, stored); again != nil {
		t.Errorf("a resource version in a target reference forces a rewrite")
	}

	notReadyNow := []*corev1.Pod{testPod("a", "10.42.0.1", notReady)}
	updated := desiredEndpoints(svc, notReadyNow, created)
	if updated == nil || len(updated.Subsets) != 1 || len(updated.Subsets[0].NotReadyAddresses) != 1 || updated.ResourceVersion != "5" {
		t.Fatalf("update = %+v, want the pod not ready, on the stored object", updated)
	}

	headless := testService(func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })
	if ep := desiredEndpoints(headless, pods, nil); ep == nil || ep.Labels[corev1.IsHeadlessService] != "" {
		t.Errorf("headless service's Endpoints lack the %s label: %+v", corev1.IsHeadlessService, ep)
	} else if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("headless label missing")
	}

	var many []*corev1.Pod
	for i := range maxCapacity + 5 {
		many = append(many, testPod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1)))
	}
	over := desiredEndpoints(svc, many, nil)
	if over.Annotations[corev1.EndpointsOverCapacity] != "truncated" {
		t.Errorf("annotations %v, want %s=truncated", over.Annotations, corev1.EndpointsOverCapacity)
	}
	if n := len(over.Subsets[0].Addresses); n != maxCapacity {
		t.Errorf("%d addresses kept, want %d", n, maxCapacity)
	}
	over.ResourceVersion = "7"
	if again := desiredEndpoints(svc, many, over); again != nil {
		t.Errorf("a truncated Endpoints is rewritten when nothing changed")
	}
	if back := desiredEndpoints(svc, pods, over); back == nil || back.Annotations[corev1.EndpointsOverCapacity] != "" {
		if back == nil {
			t.Fatalf("no update when going back under capacity")
		}
		if _, ok := back.Annotations[corev1.EndpointsOverCapacity]; ok {
			t.Errorf("over-capacity annotation kept under capacity")
		}
	}
}
