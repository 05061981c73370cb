package deployment

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

// TestHashCollisionBumpsCollisionCount takes the name the Deployment's new ReplicaSet would get with a
// ReplicaSet of another template: the controller counts a collision and names its ReplicaSet after the
// hash with the collision count, as upstream.
func TestHashCollisionBumpsCollisionCount(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("deployment-controller")}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	ns := c.Namespace(t)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Paused:   true, // no ReplicaSet yet: first learn the template's hash
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
			},
		},
	}
	d, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hash := templateHash(&d.Spec.Template, nil)
	squatter := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-" + hash, Labels: map[string]string{"app": "other"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "other"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "other"}}},
			},
		},
	}
	if _, err := c.Clientset.AppsV1().ReplicaSets(ns).Create(ctx, squatter, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clientset.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType,
		[]byte(`{"spec":{"paused":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "web-" + templateHash(&d.Spec.Template, ptr.To(int32(1)))
	ctrltest.Eventually(t, 30*time.Second, "ReplicaSet "+want, func(ctx context.Context) (bool, error) {
		rs, err := c.Clientset.AppsV1().ReplicaSets(ns).Get(ctx, want, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		d, err := c.Clientset.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && ptr.Deref(d.Status.CollisionCount, 0) == 1 && metav1.IsControlledBy(rs, d), err
	})
	if got, err := c.Clientset.AppsV1().ReplicaSets(ns).Get(ctx, squatter.Name, metav1.GetOptions{}); err != nil ||
		metav1.GetControllerOf(got) != nil || got.Labels["app"] != "other" {
		t.Errorf("the other ReplicaSet was touched: %v %v", got, err)
	}
}
