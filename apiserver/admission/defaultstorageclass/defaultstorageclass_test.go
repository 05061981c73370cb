package defaultstorageclass

import (
	"context"
	"io"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	genericinitializer "k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/internal/storageclass"
)

type noConfig struct{}

func (noConfig) ConfigFor(string) (io.Reader, error) { return nil, nil }

func newPlugin(t *testing.T, objects ...runtime.Object) admission.MutationInterface {
	t.Helper()
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	plugins := admission.NewPlugins()
	Register(plugins)
	plugin, err := plugins.NewFromPlugins([]string{PluginName}, noConfig{},
		genericinitializer.New(client, nil, factory, nil, nil, nil, stop, nil), nil)
	if err != nil {
		t.Fatalf("plugin: %v", err)
	}
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	return plugin.(admission.MutationInterface)
}

func class(name string, isDefault bool) *storagev1.StorageClass {
	c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/" + name}
	if isDefault {
		c.Annotations = map[string]string{storageclass.IsDefaultAnnotation: "true"}
	}
	return c
}

func TestAdmit(t *testing.T) {
	tests := []struct {
		name        string
		classes     []runtime.Object
		className   *string
		annotations map[string]string
		subresource string
		operation   admission.Operation
		want        *string
	}{
		{name: "a claim without class gets the default", classes: []runtime.Object{class("slow", false), class("local-path", true)},
			want: ptr.To("local-path")},
		{name: "a claim naming a class keeps it", classes: []runtime.Object{class("local-path", true)},
			className: ptr.To("slow"), want: ptr.To("slow")},
		{name: "a claim asking for no class keeps none", classes: []runtime.Object{class("local-path", true)},
			className: ptr.To(""), want: ptr.To("")},
		{name: "a claim naming its class by the beta annotation keeps it", classes: []runtime.Object{class("local-path", true)},
			annotations: map[string]string{corev1.BetaStorageClassAnnotation: "slow"}},
		{name: "without a default class the claim is left alone", classes: []runtime.Object{class("slow", false)}},
		{name: "updates are not defaulted", classes: []runtime.Object{class("local-path", true)}, operation: admission.Update},
		{name: "the status subresource is not defaulted", classes: []runtime.Object{class("local-path", true)},
			subresource: "status", operation: admission.Update},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plugin := newPlugin(t, tc.classes...)
			claim := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns", Annotations: tc.annotations},
				Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: tc.className},
			}
			op := tc.operation
			if op == "" {
				op = admission.Create
			}
			attrs := admission.NewAttributesRecord(claim, nil, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"),
				"ns", "data", corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), tc.subresource, op, nil, false, nil)
			if plugin.Handles(op) {
				if err := plugin.Admit(context.Background(), attrs, nil); err != nil {
					t.Fatalf("admit: %v", err)
				}
			}
			if got := claim.Spec.StorageClassName; !equalPtr(got, tc.want) {
				t.Errorf("storageClassName = %v, want %v", deref(got), deref(tc.want))
			}
		})
	}
}

func TestAdmitIgnoresOtherResources(t *testing.T) {
	plugin := newPlugin(t, class("local-path", true))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	attrs := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "p",
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, nil, false, nil)
	if err := plugin.Admit(context.Background(), attrs, nil); err != nil {
		t.Fatal(err)
	}
}

func equalPtr(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return `"` + *s + `"`
}
