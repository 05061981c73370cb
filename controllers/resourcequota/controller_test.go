package resourcequota

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

const timeout = 30 * time.Second

func start(t *testing.T) *ctrltest.Cluster {
	return ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	})
}

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

// createQuota creates a quota and waits until the controller has written its status, from when
// admission enforces it.
func createQuota(t *testing.T, c *ctrltest.Cluster, ns, name string, spec corev1.ResourceQuotaSpec) {
	t.Helper()
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if _, err := c.Clientset.CoreV1().ResourceQuotas(ns).Create(context.Background(), q, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create quota: %v", err)
	}
	waitUsed(t, c, ns, name, nil)
}

// waitUsed waits until the quota's status has hard equal to its spec and, for each resource in
// want, that usage.
func waitUsed(t *testing.T, c *ctrltest.Cluster, ns, name string, want corev1.ResourceList) {
	t.Helper()
	ctrltest.Eventually(t, timeout, fmt.Sprintf("quota %s/%s status used %v", ns, name, want), func(ctx context.Context) (bool, error) {
		q, err := c.Clientset.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if len(q.Status.Hard) != len(q.Spec.Hard) || q.Status.Used == nil {
			return false, fmt.Errorf("status not written: %+v", q.Status)
		}
		for res, hard := range q.Spec.Hard {
			if got := q.Status.Hard[res]; got.Cmp(hard) != 0 {
				return false, fmt.Errorf("status.hard[%s] = %s", res, got.String())
			}
		}
		for res, w := range want {
			got, ok := q.Status.Used[res]
			if !ok || got.Cmp(w) != 0 {
				return false, fmt.Errorf("status.used = %v", q.Status.Used)
			}
		}
		return true, nil
	})
}

func newPod(ns, name string, requests corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: requests}}}}}
}

func createPod(c *ctrltest.Cluster, ns, name string, requests corev1.ResourceList) (*corev1.Pod, error) {
	return c.Clientset.CoreV1().Pods(ns).Create(context.Background(), newPod(ns, name, requests), metav1.CreateOptions{})
}

func mustCreatePod(t *testing.T, c *ctrltest.Cluster, ns, name string, requests corev1.ResourceList) *corev1.Pod {
	t.Helper()
	pod, err := createPod(c, ns, name, requests)
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return pod
}

// refused asserts err is 403 Forbidden with exactly the message want.
func refused(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted; want refusal %q", want)
	}
	if !apierrors.IsForbidden(err) {
		t.Errorf("error %v is not 403 Forbidden", err)
	}
	if err.Error() != want {
		t.Errorf("message\n  %s\nwant\n  %s", err.Error(), want)
	}
}

func TestResourceQuota(t *testing.T) {
	c := start(t)
	ctx := context.Background()

	t.Run("a quota of pods=2 refuses the third pod and shows 2 used", func(t *testing.T) {
		ns := c.Namespace(t)
		createQuota(t, c, ns, "pods", corev1.ResourceQuotaSpec{Hard: list("pods", "2")})
		mustCreatePod(t, c, ns, "p1", nil)
		mustCreatePod(t, c, ns, "p2", nil)
		_, err := createPod(c, ns, "p3", nil)
		refused(t, err, `pods "p3" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2`)
		waitUsed(t, c, ns, "pods", list("pods", "2"))
	})

	t.Run("a quota on requests.cpu refuses pods without requests and pods over it", func(t *testing.T) {
		ns := c.Namespace(t)
		createQuota(t, c, ns, "compute", corev1.ResourceQuotaSpec{Hard: list("requests.cpu", "1")})
		_, err := createPod(c, ns, "no-request", nil)
		refused(t, err, `pods "no-request" is forbidden: failed quota: compute: must specify requests.cpu for: app`)
		mustCreatePod(t, c, ns, "first", list("cpu", "600m"))
		_, err = createPod(c, ns, "second", list("cpu", "600m"))
		refused(t, err, `pods "second" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1`)
		mustCreatePod(t, c, ns, "small", list("cpu", "400m"))
		waitUsed(t, c, ns, "compute", list("requests.cpu", "1"))
	})

	t.Run("of concurrent creates only as many as the quota allows pass", func(t *testing.T) {
		ns := c.Namespace(t)
		createQuota(t, c, ns, "pods", corev1.ResourceQuotaSpec{Hard: list("pods", "5")})
		const attempts = 12
		errs := make(chan error, attempts)
		for i := range attempts {
			go func() {
				_, err := createPod(c, ns, fmt.Sprintf("p%d", i), nil)
				errs <- err
			}()
		}
		admitted := 0
		for range attempts {
			switch err := <-errs; {
			case err == nil:
				admitted++
			case !apierrors.IsForbidden(err):
				t.Errorf("refused with %v, want 403 Forbidden", err)
			}
		}
		if admitted != 5 {
			t.Errorf("%d of %d concurrent pods admitted under a quota of 5", admitted, attempts)
		}
		waitUsed(t, c, ns, "pods", list("pods", "5"))
	})

	t.Run("deleting a pod releases its quota", func(t *testing.T) {
		ns := c.Namespace(t)
		createQuota(t, c, ns, "pods", corev1.ResourceQuotaSpec{Hard: list("pods", "1")})
		mustCreatePod(t, c, ns, "first", nil)
		_, err := createPod(c, ns, "second", nil)
		refused(t, err, `pods "second" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1`)
		if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, "first", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, c, ns, "pods", list("pods", "0"))
		mustCreatePod(t, c, ns, "second", nil)
		waitUsed(t, c, ns, "pods", list("pods", "1"))
	})

	t.Run("a finished pod no longer uses pods but still counts as an object", func(t *testing.T) {
		ns := c.Namespace(t)
		createQuota(t, c, ns, "pods", corev1.ResourceQuotaSpec{Hard: list("pods", "1", "count/pods", "5")})
		pod := mustCreatePod(t, c, ns, "job", nil)
		waitUsed(t, c, ns, "pods", list("pods", "1", "count/pods", "1"))
		if err := c.SetPodFinished(pod, 0); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, c, ns, "pods", list("pods", "0", "count/pods", "1"))
	})

	t.Run("a new quota counts what exists, and deletions of counted kinds", func(t *testing.T) {
		ns := c.Namespace(t)
		for _, name := range []string{"a", "b"} {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
			if _, err := c.Clientset.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: newPod(ns, "", nil).Spec},
		}}
		if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, deployment, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		createQuota(t, c, ns, "objects", corev1.ResourceQuotaSpec{
			Hard: list("configmaps", "5", "count/configmaps", "5", "count/deployments.apps", "1",
				"count/widgets.example.com", "1", "count/nodes", "1")})
		waitUsed(t, c, ns, "objects", list("configmaps", "2", "count/configmaps", "2", "count/deployments.apps", "1"))

		_, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns}, Spec: deployment.Spec}, metav1.CreateOptions{})
		refused(t, err, `deployments.apps "api" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1`)

		if err := c.Clientset.CoreV1().ConfigMaps(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Clientset.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, c, ns, "objects", list("configmaps", "1", "count/configmaps", "1", "count/deployments.apps", "0"))

		q, err := c.Clientset.CoreV1().ResourceQuotas(ns).Get(ctx, "objects", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []corev1.ResourceName{"count/widgets.example.com", "count/nodes"} {
			if _, ok := q.Status.Used[name]; ok {
				t.Errorf("%s, which no namespace holds, has usage: %v", name, q.Status.Used)
			}
		}
	})

	t.Run("raising a quota's spec updates its status and admits more", func(t *testing.T) {
		ns := c.Namespace(t)
		createQuota(t, c, ns, "svc", corev1.ResourceQuotaSpec{Hard: list("services", "1")})
		svc := func(name string) *corev1.Service {
			return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		}
		if _, err := c.Clientset.CoreV1().Services(ns).Create(ctx, svc("a"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Clientset.CoreV1().Services(ns).Create(ctx, svc("b"), metav1.CreateOptions{})
		refused(t, err, `services "b" is forbidden: exceeded quota: svc, requested: services=1, used: services=1, limited: services=1`)

		q, err := c.Clientset.CoreV1().ResourceQuotas(ns).Get(ctx, "svc", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		q.Spec.Hard = list("services", "2")
		if _, err := c.Clientset.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUsed(t, c, ns, "svc", list("services", "1"))
		if _, err := c.Clientset.CoreV1().Services(ns).Create(ctx, svc("b"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("after raising the quota: %v", err)
		}
		waitUsed(t, c, ns, "svc", list("services", "2"))
	})

	t.Run("a best-effort scope counts only best-effort pods", func(t *testing.T) {
		ns := c.Namespace(t)
		mustCreatePod(t, c, ns, "burstable", list("cpu", "100m"))
		mustCreatePod(t, c, ns, "best-effort", nil)
		createQuota(t, c, ns, "best-effort", corev1.ResourceQuotaSpec{Hard: list("pods", "1"),
			Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}})
		waitUsed(t, c, ns, "best-effort", list("pods", "1"))
		mustCreatePod(t, c, ns, "another-burstable", list("cpu", "100m"))
		_, err := createPod(c, ns, "another-best-effort", nil)
		refused(t, err, `pods "another-best-effort" is forbidden: exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1`)
	})
}
