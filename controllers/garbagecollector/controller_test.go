package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

const timeout = 30 * time.Second

func TestGarbageCollector(t *testing.T) {
	c := ctrltest.Start(t, (&Collector{}).SetupWithManager)
	ctx := context.Background()
	cms := func(ns string) configMaps { return configMaps{t: t, c: c, ns: ns} }

	t.Run("background deletion of an owner deletes its dependents", func(t *testing.T) {
		ns := c.Namespace(t)
		m := cms(ns)
		owner := m.create("owner")
		dep1 := m.create("dep-1", ownerRef("v1", "ConfigMap", owner, false))
		dep2 := m.create("dep-2", ownerRef("v1", "ConfigMap", owner, true))
		unrelated := m.create("unrelated")
		m.delete(owner, metav1.DeletePropagationBackground)
		m.eventuallyGone(dep1)
		m.eventuallyGone(dep2)
		m.exists(unrelated)
	})

	t.Run("a dependent with another live owner only loses the reference to the deleted one", func(t *testing.T) {
		ns := c.Namespace(t)
		m := cms(ns)
		gone, kept := m.create("owner-gone"), m.create("owner-kept")
		dep := m.create("dep", ownerRef("v1", "ConfigMap", gone, false), ownerRef("v1", "ConfigMap", kept, false))
		m.delete(gone, metav1.DeletePropagationBackground)
		ctrltest.Eventually(t, timeout, "dependent keeps only its live owner", func(ctx context.Context) (bool, error) {
			got, err := c.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, dep.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return len(got.OwnerReferences) == 1 && got.OwnerReferences[0].UID == kept.UID, nil
		})
	})

	t.Run("a reference to an owner that never existed gets the dependent deleted", func(t *testing.T) {
		ns := c.Namespace(t)
		m := cms(ns)
		ghost := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ghost", UID: types.UID("11111111-2222-3333-4444-555555555555")}}
		dep := m.create("dep", ownerRef("v1", "ConfigMap", ghost, false))
		m.eventuallyGone(dep)
	})

	t.Run("a reference to a recreated owner with another UID gets the dependent deleted", func(t *testing.T) {
		ns := c.Namespace(t)
		m := cms(ns)
		old := m.create("owner")
		m.delete(old, metav1.DeletePropagationOrphan)
		m.eventuallyGone(old)
		m.create("owner")
		dep := m.create("dep", ownerRef("v1", "ConfigMap", old, false))
		m.eventuallyGone(dep)
	})

	t.Run("foreground deletion keeps the owner until blocking dependents are gone", func(t *testing.T) {
		ns := c.Namespace(t)
		m := cms(ns)
		owner := m.create("owner")
		plain := m.create("plain", ownerRef("v1", "ConfigMap", owner, true))
		held := m.createWith(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"},
			OwnerReferences: []metav1.OwnerReference{ownerRef("v1", "ConfigMap", owner, true)}}})
		nonBlocking := m.create("non-blocking", ownerRef("v1", "ConfigMap", owner, false))
		m.delete(owner, metav1.DeletePropagationForeground)
		m.eventuallyGone(plain)
		m.eventuallyGone(nonBlocking)
		ctrltest.Eventually(t, timeout, "the held dependent is being deleted", func(ctx context.Context) (bool, error) {
			got, err := c.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, held.Name, metav1.GetOptions{})
			return err == nil && got.DeletionTimestamp != nil, err
		})
		got, err := c.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, owner.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the owner must wait for its held dependent: %v", err)
		}
		if !slices.Contains(got.Finalizers, metav1.FinalizerDeleteDependents) {
			t.Fatalf("owner finalizers = %v, want %s", got.Finalizers, metav1.FinalizerDeleteDependents)
		}
		m.patch(held.Name, `{"metadata":{"finalizers":null}}`)
		m.eventuallyGone(held)
		m.eventuallyGone(owner)
	})

	t.Run("foreground deletion goes down a chain of owners", func(t *testing.T) {
		ns := c.Namespace(t)
		m := cms(ns)
		top := m.create("top")
		middle := m.create("middle", ownerRef("v1", "ConfigMap", top, true))
		bottom := m.createWith(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bottom", Finalizers: []string{"example.com/hold"},
			OwnerReferences: []metav1.OwnerReference{ownerRef("v1", "ConfigMap", middle, true)}}})
		m.delete(top, metav1.DeletePropagationForeground)
		ctrltest.Eventually(t, timeout, "the middle owner waits in the foreground for the bottom", func(ctx context.Context) (bool, error) {
			got, err := c.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, middle.Name, metav1.GetOptions{})
			return err == nil && got.DeletionTimestamp != nil && slices.Contains(got.Finalizers, metav1.FinalizerDeleteDependents), err
		})
		m.exists(top)
		m.patch(bottom.Name, `{"metadata":{"finalizers":null}}`)
		m.eventuallyGone(bottom)
		m.eventuallyGone(middle)
		m.eventuallyGone(top)
	})

	t.Run("orphan deletion keeps dependents and removes their references", func(t *testing.T) {
		ns := c.Namespace(t)
		m := cms(ns)
		owner, other := m.create("owner"), m.create("other")
		dep1 := m.create("dep-1", ownerRef("v1", "ConfigMap", owner, true))
		dep2 := m.create("dep-2", ownerRef("v1", "ConfigMap", owner, false), ownerRef("v1", "ConfigMap", other, false))
		m.delete(owner, metav1.DeletePropagationOrphan)
		m.eventuallyGone(owner)
		if got := m.exists(dep1); len(got.OwnerReferences) != 0 {
			t.Errorf("dep-1 ownerReferences = %v, want none", got.OwnerReferences)
		}
		if got := m.exists(dep2); len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != other.UID {
			t.Errorf("dep-2 ownerReferences = %v, want only %s", got.OwnerReferences, other.UID)
		}
	})

	t.Run("custom resources of a CRD created after the collector started are collected", func(t *testing.T) {
		ns := c.Namespace(t)
		m := cms(ns)
		widgets := createWidgetCRD(t, c.Env.Config)
		dyn := dynamic.NewForConfigOrDie(c.Env.Config).Resource(widgets).Namespace(ns)
		newWidget := func(name string, owners ...metav1.OwnerReference) *unstructured.Unstructured {
			t.Helper()
			u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget"}}
			u.SetName(name)
			u.SetOwnerReferences(owners)
			created, err := dyn.Create(ctx, u, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create widget %s: %v", name, err)
			}
			return created
		}
		widgetGone := func(name string) {
			t.Helper()
			ctrltest.Eventually(t, timeout, "widget "+name+" deleted", func(ctx context.Context) (bool, error) {
				_, err := dyn.Get(ctx, name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
		}

		// A custom resource owned by a ConfigMap.
		owner := m.create("owner")
		w := newWidget("owned-by-configmap", ownerRef("v1", "ConfigMap", owner, true))
		m.delete(owner, metav1.DeletePropagationBackground)
		widgetGone(w.GetName())

		// A ConfigMap owned by a custom resource.
		wOwner := newWidget("owner")
		dep := m.create("owned-by-widget", metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: wOwner.GetName(), UID: wOwner.GetUID()})
		if err := dyn.Delete(ctx, wOwner.GetName(), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		m.eventuallyGone(dep)

		// Orphaning a custom resource patches it (no strategic merge for custom resources).
		orphanOwner := m.create("orphan-owner")
		kept := newWidget("orphaned", ownerRef("v1", "ConfigMap", orphanOwner, true))
		m.delete(orphanOwner, metav1.DeletePropagationOrphan)
		m.eventuallyGone(orphanOwner)
		got, err := dyn.Get(ctx, kept.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the orphaned widget must stay: %v", err)
		}
		if refs := got.GetOwnerReferences(); len(refs) != 0 {
			t.Errorf("orphaned widget ownerReferences = %v, want none", refs)
		}
	})

	t.Run("a dependent naming an owner of another namespace gets OwnerRefInvalidNamespace and is deleted", func(t *testing.T) {
		ownerNS, depNS := c.Namespace(t), c.Namespace(t)
		owner := cms(ownerNS).create("owner")
		dep := cms(depNS).create("dep", ownerRef("v1", "ConfigMap", owner, false))
		waitForEvent(t, c, depNS, dep.UID, "OwnerRefInvalidNamespace",
			fmt.Sprintf("ownerRef [v1/ConfigMap, namespace: %s, name: owner, uid: %s] does not exist in namespace %q", depNS, owner.UID, depNS))
		cms(depNS).eventuallyGone(dep)
		cms(ownerNS).exists(owner)
	})

	t.Run("a cluster-scoped dependent of a namespaced owner gets OwnerRefInvalidNamespace and stays", func(t *testing.T) {
		ns := c.Namespace(t)
		owner := cms(ns).create("owner")
		role, err := c.Clientset.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{
			GenerateName: "gc-test-", OwnerReferences: []metav1.OwnerReference{ownerRef("v1", "ConfigMap", owner, false)}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitForEvent(t, c, metav1.NamespaceDefault, role.UID, "OwnerRefInvalidNamespace",
			fmt.Sprintf(`ownerRef [v1/ConfigMap, namespace: , name: owner, uid: %s] does not exist in namespace ""`, owner.UID))
		if _, err := c.Clientset.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{}); err != nil {
			t.Fatalf("the cluster-scoped dependent must stay: %v", err)
		}
	})
}

type configMaps struct {
	t  *testing.T
	c  *ctrltest.Cluster
	ns string
}

func ownerRef(apiVersion, kind string, owner metav1.Object, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), BlockOwnerDeletion: ptr.To(block)}
}

func (m configMaps) create(name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	m.t.Helper()
	return m.createWith(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners}})
}

func (m configMaps) createWith(cm *corev1.ConfigMap) *corev1.ConfigMap {
	m.t.Helper()
	created, err := m.c.Clientset.CoreV1().ConfigMaps(m.ns).Create(context.Background(), cm, metav1.CreateOptions{})
	if err != nil {
		m.t.Fatalf("create configmap %s: %v", cm.Name, err)
	}
	return created
}

func (m configMaps) delete(cm *corev1.ConfigMap, policy metav1.DeletionPropagation) {
	m.t.Helper()
	if err := m.c.Clientset.CoreV1().ConfigMaps(m.ns).Delete(context.Background(), cm.Name,
		metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		m.t.Fatalf("delete configmap %s: %v", cm.Name, err)
	}
}

func (m configMaps) patch(name, patch string) {
	m.t.Helper()
	if _, err := m.c.Clientset.CoreV1().ConfigMaps(m.ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch),
		metav1.PatchOptions{}); err != nil {
		m.t.Fatalf("patch configmap %s: %v", name, err)
	}
}

func (m configMaps) exists(cm *corev1.ConfigMap) *corev1.ConfigMap {
	m.t.Helper()
	got, err := m.c.Clientset.CoreV1().ConfigMaps(m.ns).Get(context.Background(), cm.Name, metav1.GetOptions{})
	if err != nil {
		m.t.Fatalf("configmap %s must still exist: %v", cm.Name, err)
	}
	if got.UID != cm.UID {
		m.t.Fatalf("configmap %s was replaced", cm.Name)
	}
	return got
}

func (m configMaps) eventuallyGone(cm *corev1.ConfigMap) {
	m.t.Helper()
	ctrltest.Eventually(m.t, timeout, "configmap "+cm.Name+" deleted", func(ctx context.Context) (bool, error) {
		got, err := m.c.Clientset.CoreV1().ConfigMaps(m.ns).Get(ctx, cm.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && got.UID != cm.UID, err
	})
}

func waitForEvent(t *testing.T, c *ctrltest.Cluster, ns string, uid types.UID, reason, message string) {
	t.Helper()
	ctrltest.Eventually(t, timeout, reason+" event", func(ctx context.Context) (bool, error) {
		events, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.UID == uid && e.Reason == reason {
				if e.Message != message || e.Type != corev1.EventTypeWarning || e.Source.Component != "garbage-collector-controller" {
					return false, fmt.Errorf("event %s %q from %q, want Warning %q from garbage-collector-controller", e.Type, e.Message, e.Source.Component, message)
				}
				return true, nil
			}
		}
		return false, nil
	})
}

// createWidgetCRD serves the namespaced custom resource widgets.example.com/v1 and waits until it is
// Established.
func createWidgetCRD(t *testing.T, cfg *rest.Config) schema.GroupVersionResource {
	t.Helper()
	client := apiextensions.NewForConfigOrDie(cfg).ApiextensionsV1().CustomResourceDefinitions()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true)}},
			}},
		},
	}
	if _, err := client.Create(context.Background(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	ctrltest.Eventually(t, timeout, "CRD established", func(ctx context.Context) (bool, error) {
		got, err := client.Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	return schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
}
