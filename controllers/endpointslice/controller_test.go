package endpointslice

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

// render shows a service's slices as sorted terms "ports:pod(flags),...", flags being r (ready),
// s (serving) and t (terminating), e.g. "http=8080:a(rs),b()".
func render(slices []discoveryv1.EndpointSlice) string {
	var terms []string
	for _, s := range slices {
		var ports, eps []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", ptr.Deref(p.Name, ""), ptr.Deref(p.Port, 0)))
		}
		for _, ep := range s.Endpoints {
			flags := ""
			if ptr.Deref(ep.Conditions.Ready, false) {
				flags += "r"
			}
			if ptr.Deref(ep.Conditions.Serving, false) {
				flags += "s"
			}
			if ptr.Deref(ep.Conditions.Terminating, false) {
				flags += "t"
			}
			eps = append(eps, fmt.Sprintf("%s(%s)", ep.TargetRef.Name, flags))
		}
		sort.Strings(eps)
		terms = append(terms, strings.Join(ports, ",")+":"+strings.Join(eps, ","))
	}
	sort.Strings(terms)
	return strings.Join(terms, " ")
}

func slicesOf(ctx context.Context, c *ctrltest.Cluster, ns, svc string) ([]discoveryv1.EndpointSlice, error) {
	l, err := c.Clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

func waitForSlices(t *testing.T, c *ctrltest.Cluster, ns, svc, want string) []discoveryv1.EndpointSlice {
	t.Helper()
	var got []discoveryv1.EndpointSlice
	ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("slices of %s to be %q", svc, want), func(ctx context.Context) (bool, error) {
		var err error
		got, err = slicesOf(ctx, c, ns, svc)
		if err != nil {
			return false, err
		}
		if r := render(got); r != want {
			return false, fmt.Errorf("slices are %q", r)
		}
		return true, nil
	})
	return got
}

func names(slices []discoveryv1.EndpointSlice) string {
	var n []string
	for _, s := range slices {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func createPod(t *testing.T, c *ctrltest.Cluster, ns, name, node string, httpPort int32) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: httpPort, Protocol: corev1.ProtocolTCP}}}}},
	}
	created, err := c.Clientset.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return created
}

func createService(t *testing.T, c *ctrltest.Cluster, ns, name string, mutate func(*corev1.Service)) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
	if mutate != nil {
		mutate(svc)
	}
	created, err := c.Clientset.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	return created
}

func getPod(t *testing.T, c *ctrltest.Cluster, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := c.Clientset.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSlicesFollowPods(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	ns := c.Namespace(t)
	c.AddNode(t, "node-a", map[string]string{corev1.LabelTopologyZone: "zone-a"})
	web := createService(t, c, ns, "web", nil)
	createService(t, c, ns, "web-all", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })

	var placeholder string
	t.Run("a Service without pods gets an empty slice", func(t *testing.T) {
		got := waitForSlices(t, c, ns, "web", ":")
		s := got[0]
		placeholder = s.Name
		if s.AddressType != discoveryv1.AddressTypeIPv4 || !strings.HasPrefix(s.Name, "web-") {
			t.Errorf("slice %s of address type %s", s.Name, s.AddressType)
		}
		if s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels["tier"] != "front" {
			t.Errorf("labels %v", s.Labels)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != web.UID || !ptr.Deref(s.OwnerReferences[0].Controller, false) {
			t.Errorf("owner references %+v, want the Service as controller", s.OwnerReferences)
		}
	})

	a := createPod(t, c, ns, "a", "node-a", 8080)
	b := createPod(t, c, ns, "b", "node-a", 9090)
	t.Run("ready and not-ready pods with named ports resolved per pod", func(t *testing.T) {
		if err := c.SetPodRunning(a, true); err != nil {
			t.Fatal(err)
		}
		if err := c.SetPodRunning(b, false); err != nil {
			t.Fatal(err)
		}
		got := waitForSlices(t, c, ns, "web", "http=8080:a(rs) http=9090:b()")
		if !strings.Contains(names(got), placeholder) {
			t.Errorf("slices %s do not reuse the placeholder %s", names(got), placeholder)
		}
		for _, s := range got {
			ep := s.Endpoints[0]
			if ptr.Deref(ep.Zone, "") != "zone-a" || ptr.Deref(ep.NodeName, "") != "node-a" || ep.TargetRef.Kind != "Pod" {
				t.Errorf("endpoint %+v, want zone-a, node-a and a pod reference", ep)
			}
			if _, ok := s.Annotations[corev1.EndpointsLastChangeTriggerTime]; !ok {
				t.Errorf("annotations %v lack %s", s.Annotations, corev1.EndpointsLastChangeTriggerTime)
			}
		}
		waitForSlices(t, c, ns, "web-all", "http=8080:a(rs) http=9090:b(r)")
	})

	t.Run("a pod becoming ready is updated in place", func(t *testing.T) {
		before, err := slicesOf(ctx, c, ns, "web")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetPodRunning(getPod(t, c, ns, "b"), true); err != nil {
			t.Fatal(err)
		}
		after := waitForSlices(t, c, ns, "web", "http=8080:a(rs) http=9090:b(rs)")
		if names(after) != names(before) {
			t.Errorf("slices %s replaced by %s", names(before), names(after))
		}
	})

	t.Run("terminating pods stay, not ready", func(t *testing.T) {
		// Bound to a node, the pod's deletion is graceful; with no agent it stays terminating.
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitForSlices(t, c, ns, "web", "http=8080:a(st) http=9090:b(rs)")
		waitForSlices(t, c, ns, "web-all", "http=8080:a(rst) http=9090:b(rs)")
	})

	t.Run("a pod gone for good leaves its slice, which is deleted", func(t *testing.T) {
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitForSlices(t, c, ns, "web", "http=9090:b(rs)")
	})

	t.Run("a slice deleted behind the controller's back is made again", func(t *testing.T) {
		got, err := slicesOf(ctx, c, ns, "web")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Clientset.DiscoveryV1().EndpointSlices(ns).Delete(ctx, got[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		again := waitForSlices(t, c, ns, "web", "http=9090:b(rs)")
		if again[0].Name == got[0].Name {
			t.Errorf("slice %s not replaced", got[0].Name)
		}
	})

	t.Run("Services without a selector are left alone", func(t *testing.T) {
		createService(t, c, ns, "manual", func(s *corev1.Service) { s.Spec.Selector = nil })
		manual := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "manual-1", Labels: map[string]string{discoveryv1.LabelServiceName: "manual"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.9"}}},
		}
		if _, err := c.Clientset.DiscoveryV1().EndpointSlices(ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A change the controller must act on afterwards shows it has been through its queue.
		if err := c.SetPodRunning(createPod(t, c, ns, "late", "node-a", 9090), true); err != nil {
			t.Fatal(err)
		}
		waitForSlices(t, c, ns, "web", "http=9090:b(rs),late(rs)")
		got, err := slicesOf(ctx, c, ns, "manual")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Name != "manual-1" || len(got[0].Endpoints) != 1 {
			t.Errorf("slices of the selectorless service: %+v", got)
		}
	})
}

func TestSlicesHoldAtMostMaxEndpoints(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), MaxEndpointsPerSlice: 2}).SetupWithManager(mgr)
	})
	ns := c.Namespace(t)
	c.AddNode(t, "node-a", nil)
	createService(t, c, ns, "web", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })
	for i := range 5 {
		if err := c.SetPodRunning(createPod(t, c, ns, fmt.Sprintf("p%d", i), "node-a", 8080), true); err != nil {
			t.Fatal(err)
		}
	}
	var got []discoveryv1.EndpointSlice
	ctrltest.Eventually(t, 30*time.Second, "5 endpoints in slices of at most 2", func(ctx context.Context) (bool, error) {
		var err error
		got, err = slicesOf(ctx, c, ns, "web")
		if err != nil {
			return false, err
		}
		total := 0
		for _, s := range got {
			if len(s.Endpoints) > 2 {
				return false, fmt.Errorf("slice %s holds %d endpoints", s.Name, len(s.Endpoints))
			}
			total += len(s.Endpoints)
		}
		if total != 5 || len(got) != 3 {
			return false, fmt.Errorf("%d endpoints in %d slices", total, len(got))
		}
		return true, nil
	})
	for _, s := range got {
		if _, ok := s.Labels[corev1.IsHeadlessService]; !ok {
			t.Errorf("slice %s of a headless service lacks %s: %v", s.Name, corev1.IsHeadlessService, s.Labels)
		}
	}
}
