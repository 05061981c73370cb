package endpoints

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

// summary renders Endpoints subsets as "port:ready-pods/not-ready-pods" terms, sorted, e.g.
// "http=8080:a,b/c".
func summary(subsets []corev1.EndpointSubset) string {
	var terms []string
	for _, s := range subsets {
		var ports, ready, notReady []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", p.Name, p.Port))
		}
		for _, a := range s.Addresses {
			ready = append(ready, a.TargetRef.Name)
		}
		for _, a := range s.NotReadyAddresses {
			notReady = append(notReady, a.TargetRef.Name)
		}
		sort.Strings(ready)
		sort.Strings(notReady)
		terms = append(terms, fmt.Sprintf("%s:%s/%s", strings.Join(ports, ","), strings.Join(ready, ","), strings.Join(notReady, ",")))
	}
	sort.Strings(terms)
	return strings.Join(terms, " ")
}

func waitForSubsets(t *testing.T, c *ctrltest.Cluster, ns, name, want string) *corev1.Endpoints {
	t.Helper()
	var ep *corev1.Endpoints
	var got string
	ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("endpoints %s to be %q", name, want), func(ctx context.Context) (bool, error) {
		var err error
		ep, err = c.Clientset.CoreV1().Endpoints(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = summary(ep.Subsets)
		if got != want {
			return false, fmt.Errorf("subsets are %q", got)
		}
		return true, nil
	})
	return ep
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

func TestEndpointsFollowPods(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	kubernetes, kubernetesErr := c.Clientset.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})

	ns := c.Namespace(t)
	c.AddNode(t, "node-a", nil)
	createService(t, c, ns, "web", nil)
	createService(t, c, ns, "web-all", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })
	createService(t, c, ns, "web-headless", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })

	t.Run("a Service without pods gets empty Endpoints", func(t *testing.T) {
		ep := waitForSubsets(t, c, ns, "web", "")
		if ep.Labels["tier"] != "front" {
			t.Errorf("labels %v, want the service's", ep.Labels)
		}
		if _, ok := ep.Labels[corev1.IsHeadlessService]; ok {
			t.Errorf("headless label on a ClusterIP service's Endpoints")
		}
		if _, ok := ep.Annotations[corev1.EndpointsLastChangeTriggerTime]; !ok {
			t.Errorf("annotations %v lack %s", ep.Annotations, corev1.EndpointsLastChangeTriggerTime)
		}
	})

	a := createPod(t, c, ns, "a", "node-a", 8080)
	b := createPod(t, c, ns, "b", "node-a", 9090)

	t.Run("ready and not-ready pods, named ports resolved per pod", func(t *testing.T) {
		if err := c.SetPodRunning(a, true); err != nil {
			t.Fatal(err)
		}
		if err := c.SetPodRunning(b, false); err != nil {
			t.Fatal(err)
		}
		waitForSubsets(t, c, ns, "web", "http=8080:a/ http=9090:/b")
		waitForSubsets(t, c, ns, "web-all", "http=8080:a/ http=9090:b/")
		ep := waitForSubsets(t, c, ns, "web-headless", "http=8080:a/ http=9090:/b")
		if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
			t.Errorf("headless service's Endpoints labels %v lack %s", ep.Labels, corev1.IsHeadlessService)
		}
	})

	t.Run("a pod becoming ready moves to addresses", func(t *testing.T) {
		b, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "b", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetPodRunning(b, true); err != nil {
			t.Fatal(err)
		}
		waitForSubsets(t, c, ns, "web", "http=8080:a/ http=9090:b/")
	})

	t.Run("terminating pods leave unless not-ready addresses are published", func(t *testing.T) {
		// The pod is bound to a node, so deletion is graceful and, with no agent, it stays terminating.
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitForSubsets(t, c, ns, "web", "http=9090:b/")
		waitForSubsets(t, c, ns, "web-all", "http=8080:a/ http=9090:b/")
	})

	t.Run("deleted Endpoints are made again", func(t *testing.T) {
		if err := c.Clientset.CoreV1().Endpoints(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitForSubsets(t, c, ns, "web", "http=9090:b/")
	})

	t.Run("Endpoints go with their Service", func(t *testing.T) {
		if err := c.Clientset.CoreV1().Services(ns).Delete(ctx, "web-all", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, 30*time.Second, "endpoints web-all deleted", func(ctx context.Context) (bool, error) {
			_, err := c.Clientset.CoreV1().Endpoints(ns).Get(ctx, "web-all", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})

	t.Run("Services without a selector keep the Endpoints they were given", func(t *testing.T) {
		createService(t, c, ns, "manual", func(s *corev1.Service) { s.Spec.Selector = nil })
		manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "manual"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.50"}},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}}
		if _, err := c.Clientset.CoreV1().Endpoints(ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A change to a selected Service afterwards shows the controller has been through its queue.
		createPod(t, c, ns, "late", "node-a", 8080)
		late, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "late", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetPodRunning(late, true); err != nil {
			t.Fatal(err)
		}
		waitForSubsets(t, c, ns, "web", "http=8080:late/ http=9090:b/")
		got, err := c.Clientset.CoreV1().Endpoints(ns).Get(ctx, "manual", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !apiequality.Semantic.DeepEqual(got.Subsets, manual.Subsets) {
			t.Errorf("manual Endpoints changed to %+v", got.Subsets)
		}
		if kubernetesErr == nil {
			now, err := c.Clientset.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("default/kubernetes Endpoints: %v", err)
			}
			if !apiequality.Semantic.DeepEqual(now.Subsets, kubernetes.Subsets) {
				t.Errorf("default/kubernetes Endpoints changed from %+v to %+v", kubernetes.Subsets, now.Subsets)
			}
		}
	})
}
