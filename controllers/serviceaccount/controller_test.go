package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

func TestWantsServiceAccounts(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name string
		ns   corev1.Namespace
		want bool
	}{
		{name: "active namespace", ns: corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, want: true},
		{name: "namespace without a phase yet", ns: corev1.Namespace{}, want: true},
		{name: "terminating namespace", ns: corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}},
		{name: "namespace being deleted", ns: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wantsServiceAccounts(&tt.ns); got != tt.want {
				t.Errorf("wantsServiceAccounts = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaultServiceAccount(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	sas := func(ns string) func(context.Context) (*corev1.ServiceAccount, error) {
		return func(ctx context.Context) (*corev1.ServiceAccount, error) {
			return c.Clientset.CoreV1().ServiceAccounts(ns).Get(ctx, DefaultName, metav1.GetOptions{})
		}
	}
	waitFor := func(t *testing.T, ns string) *corev1.ServiceAccount {
		t.Helper()
		var sa *corev1.ServiceAccount
		ctrltest.Eventually(t, 30*time.Second, "default service account in "+ns, func(ctx context.Context) (bool, error) {
			var err error
			sa, err = sas(ns)(ctx)
			return err == nil, err
		})
		return sa
	}

	t.Run("appears in a new namespace", func(t *testing.T) {
		waitFor(t, c.Namespace(t))
	})

	t.Run("exists in namespaces made before the controller saw them", func(t *testing.T) {
		for _, ns := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem} {
			waitFor(t, ns)
		}
	})

	t.Run("is re-created after deletion", func(t *testing.T) {
		ns := c.Namespace(t)
		first := waitFor(t, ns)
		if err := c.Clientset.CoreV1().ServiceAccounts(ns).Delete(ctx, DefaultName, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		ctrltest.Eventually(t, 30*time.Second, "a new default service account", func(ctx context.Context) (bool, error) {
			sa, err := sas(ns)(ctx)
			if err != nil {
				return false, err
			}
			return sa.UID != first.UID, nil
		})
	})

	t.Run("is not re-created in a terminating namespace", func(t *testing.T) {
		ns := c.Namespace(t)
		waitFor(t, ns)
		// Without a namespace controller the namespace stays Terminating: its "kubernetes" finalizer stays.
		if err := c.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete namespace: %v", err)
		}
		ctrltest.Eventually(t, 30*time.Second, "namespace terminating in the cache", func(ctx context.Context) (bool, error) {
			got := &corev1.Namespace{}
			if err := c.Manager.GetCache().Get(ctx, types.NamespacedName{Name: ns}, got); err != nil {
				return false, err
			}
			return got.Status.Phase == corev1.NamespaceTerminating, nil
		})
		if err := c.Clientset.CoreV1().ServiceAccounts(ns).Delete(ctx, DefaultName, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete service account: %v", err)
		}
		// A namespace made afterwards getting its account shows the controller has handled the deletion.
		waitFor(t, c.Namespace(t))
		if _, err := sas(ns)(ctx); !apierrors.IsNotFound(err) {
			t.Fatalf("service account in terminating namespace: got err %v, want NotFound", err)
		}
	})
}
