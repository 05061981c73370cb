package namespace

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/garbagecollector"
	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
	"github.com/skiffhq/skiff/testenv"
)

const timeout = 30 * time.Second

// The contract the controller relies on: DELETE only marks a namespace Terminating, the API server
// refuses new content in it, and it goes when its spec.finalizers are emptied through /finalize.
func TestAPIServerKeepsDeletedNamespaceUntilFinalized(t *testing.T) {
	env := testenv.New(t)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ns.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes}) {
		t.Fatalf("new namespace spec.finalizers = %v, want [kubernetes]", ns.Spec.Finalizers)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err = cs.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a deleted namespace stays until finalized: %v", err)
	}
	if ns.DeletionTimestamp == nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("deleted namespace: deletionTimestamp %v, phase %s; want set, Terminating", ns.DeletionTimestamp, ns.Status.Phase)
	}
	_, err = cs.CoreV1().ConfigMaps(ns.Name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("creating in a terminating namespace: %v, want Forbidden", err)
	}
	ns.Spec.Finalizers = nil
	if _, err := cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("finalized namespace: %v, want NotFound", err)
	}
}

func TestNamespaceController(t *testing.T) {
	const gracePeriod = 2 * time.Second
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), DeletionGracePeriod: gracePeriod}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	widgets := createWidgetCRD(t, c.Env.Config)
	md := metadata.NewForConfigOrDie(c.Env.Config)

	t.Run("deleting a namespace deletes all its content after the grace period, then the namespace", func(t *testing.T) {
		ns := c.Namespace(t)
		for _, name := range []string{"a", "b"} {
			mustCreate(t, func() error {
				_, err := c.Clientset.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
				return err
			})
		}
		mustCreate(t, func() error {
			_, err := c.Clientset.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{})
			return err
		})
		mustCreate(t, func() error {
			_, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, deployment("web"), metav1.CreateOptions{})
			return err
		})
		for _, name := range []string{"p1", "p2"} {
			mustCreate(t, func() error {
				_, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, pod(name, ""), metav1.CreateOptions{})
				return err
			})
		}
		mustCreate(t, func() error { return createWidget(ctx, c.Env.Config, widgets, ns, "w", nil) })

		deletedAt := deleteNamespace(t, c, ns)
		ctrltest.Eventually(t, timeout, "configmaps deleted", func(ctx context.Context) (bool, error) {
			l, err := c.Clientset.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(l.Items) == 0, err
		})
		if waited := time.Since(deletedAt); waited < gracePeriod {
			t.Errorf("content went %v after the namespace's deletion, before the %v grace period", waited, gracePeriod)
		}
		namespaceGone(t, c, ns)
		for _, gvr := range []schema.GroupVersionResource{
			{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "pods"},
			{Group: "apps", Version: "v1", Resource: "deployments"}, widgets,
		} {
			l, err := md.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list %s: %v", gvr, err)
			}
			if len(l.Items) != 0 {
				t.Errorf("%d %s left in deleted namespace %s", len(l.Items), gvr.Resource, ns)
			}
		}
	})

	t.Run("content held by a finalizer keeps the namespace terminating with upstream conditions", func(t *testing.T) {
		ns := keptNamespace(t, c)
		mustCreate(t, func() error {
			_, err := c.Clientset.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
				Name: "held", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{})
			return err
		})
		mustCreate(t, func() error {
			return createWidget(ctx, c.Env.Config, widgets, ns, "held", []string{"example.com/hold"})
		})
		deleteNamespace(t, c, ns)
		want := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{
			corev1.NamespaceDeletionDiscoveryFailure: {Status: corev1.ConditionFalse, Reason: "ResourcesDiscovered", Message: "All resources successfully discovered"},
			corev1.NamespaceDeletionGVParsingFailure: {Status: corev1.ConditionFalse, Reason: "ParsedGroupVersions", Message: "All legacy kube types successfully parsed"},
			corev1.NamespaceDeletionContentFailure:   {Status: corev1.ConditionFalse, Reason: "ContentDeleted", Message: "All content successfully deleted, may be waiting on finalization"},
			corev1.NamespaceContentRemaining: {Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain",
				Message: "Some resources are remaining: configmaps. has 1 resource instances, widgets.example.com has 1 resource instances"},
			corev1.NamespaceFinalizersRemaining: {Status: corev1.ConditionTrue, Reason: "SomeFinalizersRemain",
				Message: "Some content in the namespace has finalizers remaining: example.com/hold in 2 resource instances"},
		}
		waitForConditions(t, c, ns, want)
		got, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(got.Spec.Finalizers, corev1.FinalizerKubernetes) {
			t.Fatalf("spec.finalizers = %v while content remains, want kubernetes kept", got.Spec.Finalizers)
		}

		if _, err := c.Clientset.CoreV1().ConfigMaps(ns).Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := dynamic.NewForConfigOrDie(c.Env.Config).Resource(widgets).Namespace(ns).Patch(ctx, "held", types.MergePatchType,
			[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "namespace finalized", func(ctx context.Context) (bool, error) {
			got, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return err == nil && len(got.Spec.Finalizers) == 0, err
		})
		for typ := range want {
			ok := okConditions[typ]
			want[typ] = corev1.NamespaceCondition{Status: corev1.ConditionFalse, Reason: ok.reason, Message: ok.message}
		}
		waitForConditions(t, c, ns, want)
		releaseNamespace(t, c, ns)
		namespaceGone(t, c, ns)
	})

	t.Run("pods on a node keep the namespace terminating until the node has finished them", func(t *testing.T) {
		ns := keptNamespace(t, c)
		for _, name := range []string{"p1", "p2"} {
			mustCreate(t, func() error {
				_, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, pod(name, "node-1"), metav1.CreateOptions{})
				return err
			})
		}
		deleteNamespace(t, c, ns)
		ctrltest.Eventually(t, timeout, "pods reported remaining", func(ctx context.Context) (bool, error) {
			got, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			cond := condition(got, corev1.NamespaceContentRemaining)
			return cond != nil && cond.Status == corev1.ConditionTrue && cond.Message == "Some resources are remaining: pods. has 2 resource instances", nil
		})
		pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				t.Errorf("pod %s not being deleted", p.Name)
			}
			// The node agent's part: the containers stopped, the pod goes.
			if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
				t.Fatal(err)
			}
		}
		ctrltest.Eventually(t, timeout, "namespace finalized", func(ctx context.Context) (bool, error) {
			got, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return err == nil && len(got.Spec.Finalizers) == 0, err
		})
		releaseNamespace(t, c, ns)
		namespaceGone(t, c, ns)
	})
}

// A namespace deleted with propagationPolicy Foreground also carries the foregroundDeletion finalizer:
// it goes once the namespace controller has emptied it and the garbage collector released it.
func TestNamespaceDeletedInForegroundGoesWithTheGarbageCollector(t *testing.T) {
	c := ctrltest.Start(t,
		func(mgr manager.Manager) error {
			return (&Reconciler{Client: mgr.GetClient(), DeletionGracePeriod: -1}).SetupWithManager(mgr)
		},
		(&garbagecollector.Collector{}).SetupWithManager)
	ctx := context.Background()
	ns := c.Namespace(t)
	if _, err := c.Clientset.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	namespaceGone(t, c, ns)
}

func mustCreate(t *testing.T, create func() error) {
	t.Helper()
	if err := create(); err != nil {
		t.Fatalf("create: %v", err)
	}
}

func deployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func pod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To[int64](3),
			Containers:                    []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
}

// keepFinalizer is a metadata finalizer of the test's own, which lets a test see a namespace after the
// controller finalized it.
const keepFinalizer = "example.com/keep"

// keptNamespace creates a namespace with keepFinalizer and returns its name.
func keptNamespace(t *testing.T, c *ctrltest.Cluster) string {
	t.Helper()
	ns, err := c.Clientset.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "kept-", Finalizers: []string{keepFinalizer}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// releaseNamespace removes keepFinalizer from ns.
func releaseNamespace(t *testing.T, c *ctrltest.Cluster, ns string) {
	t.Helper()
	if _, err := c.Clientset.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("release namespace %s: %v", ns, err)
	}
}

// deleteNamespace deletes ns and returns its deletionTimestamp.
func deleteNamespace(t *testing.T, c *ctrltest.Cluster, ns string) time.Time {
	t.Helper()
	ctx := context.Background()
	if err := c.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete namespace %s: %v", ns, err)
	}
	got, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deleted namespace %s: %v", ns, err)
	}
	if got.DeletionTimestamp == nil {
		t.Fatalf("namespace %s has no deletionTimestamp after DELETE", ns)
	}
	return got.DeletionTimestamp.Time
}

func namespaceGone(t *testing.T, c *ctrltest.Cluster, ns string) {
	t.Helper()
	ctrltest.Eventually(t, timeout, "namespace "+ns+" deleted", func(ctx context.Context) (bool, error) {
		_, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func condition(ns *corev1.Namespace, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range ns.Status.Conditions {
		if ns.Status.Conditions[i].Type == t {
			return &ns.Status.Conditions[i]
		}
	}
	return nil
}

func waitForConditions(t *testing.T, c *ctrltest.Cluster, ns string, want map[corev1.NamespaceConditionType]corev1.NamespaceCondition) {
	t.Helper()
	ctrltest.Eventually(t, timeout, "namespace deletion conditions", func(ctx context.Context) (bool, error) {
		got, err := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if got.Status.Phase != corev1.NamespaceTerminating {
			return false, fmt.Errorf("phase %s", got.Status.Phase)
		}
		for typ, w := range want {
			have := condition(got, typ)
			if have == nil {
				return false, fmt.Errorf("no condition %s", typ)
			}
			if have.Status != w.Status || have.Reason != w.Reason || have.Message != w.Message {
				return false, fmt.Errorf("condition %s = %s %s %q, want %s %s %q", typ, have.Status, have.Reason, have.Message, w.Status, w.Reason, w.Message)
			}
		}
		return true, nil
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
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	md := metadata.NewForConfigOrDie(cfg)
	ctrltest.Eventually(t, timeout, "widgets served", func(ctx context.Context) (bool, error) {
		_, err := md.Resource(gvr).List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	return gvr
}

func createWidget(ctx context.Context, cfg *rest.Config, gvr schema.GroupVersionResource, ns, name string, finalizers []string) error {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget"}}
	u.SetName(name)
	u.SetFinalizers(finalizers)
	_, err := dynamic.NewForConfigOrDie(cfg).Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
	return err
}
