package resourcequota

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	genericinitializer "k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

type noConfig struct{}

func (noConfig) ConfigFor(string) (io.Reader, error) { return nil, nil }

// newPlugin builds the plugin the way the API server does, from its registration and the
// initializers, over a fake clientset holding objects.
func newPlugin(t *testing.T, objects ...runtime.Object) (admission.ValidationInterface, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	plugins := admission.NewPlugins()
	Register(plugins)
	initializers := admission.PluginInitializers{
		genericinitializer.New(client, nil, factory, nil, nil, nil, stop, nil),
		NewInitializer(),
	}
	plugin, err := plugins.NewFromPlugins([]string{PluginName}, noConfig{}, initializers, nil)
	if err != nil {
		t.Fatalf("plugin: %v", err)
	}
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	validator, ok := plugin.(admission.ValidationInterface)
	if !ok {
		t.Fatalf("plugin %T does not validate", plugin)
	}
	return validator, client
}

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

// syncedQuota is a quota whose status the controller has written.
func syncedQuota(hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns", ResourceVersion: "1"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func createOf(obj runtime.Object, resource, name string) admission.Attributes {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: resource}
	return admission.NewAttributesRecord(obj, nil, kindOf(obj), "ns", name, gvr, "", admission.Create, &metav1.CreateOptions{}, false, nil)
}

func kindOf(obj runtime.Object) schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind(reflect.TypeOf(obj).Elem().Name())
}

func podWith(name string, requests corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: requests}}}}}
}

func TestAdmission(t *testing.T) {
	tests := []struct {
		name     string
		quota    *corev1.ResourceQuota
		attrs    admission.Attributes
		wantErr  string // substring of the 403's message; empty: admitted
		wantUsed corev1.ResourceList
	}{
		{
			name:    "a pod over the pods quota is refused with the upstream message",
			quota:   syncedQuota(list("pods", "2"), list("pods", "2")),
			attrs:   createOf(podWith("p3", nil), "pods", "p3"),
			wantErr: `pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`,
		},
		{
			name:     "a pod within the quota is admitted and charged",
			quota:    syncedQuota(list("pods", "2"), list("pods", "1")),
			attrs:    createOf(podWith("p2", nil), "pods", "p2"),
			wantUsed: list("pods", "2"),
		},
		{
			name:    "a pod without the cpu request a quota constrains is refused",
			quota:   syncedQuota(list("requests.cpu", "1"), list("requests.cpu", "0")),
			attrs:   createOf(podWith("p", nil), "pods", "p"),
			wantErr: "failed quota: q: must specify requests.cpu for: app",
		},
		{
			name:    "a pod asking more cpu than is left is refused",
			quota:   syncedQuota(list("requests.cpu", "1"), list("requests.cpu", "600m")),
			attrs:   createOf(podWith("p", list("cpu", "600m")), "pods", "p"),
			wantErr: "exceeded quota: q, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1",
		},
		{
			name:     "a pod's cpu request is charged",
			quota:    syncedQuota(list("requests.cpu", "1"), list("requests.cpu", "200m")),
			attrs:    createOf(podWith("p", list("cpu", "600m")), "pods", "p"),
			wantUsed: list("requests.cpu", "800m"),
		},
		{
			name: "a quota whose usage is unknown refuses what it constrains",
			quota: func() *corev1.ResourceQuota {
				q := syncedQuota(list("pods", "2"), nil)
				q.Status.Used = nil
				return q
			}(),
			attrs:   createOf(podWith("p", nil), "pods", "p"),
			wantErr: "status unknown for quota: q, resources: pods",
		},
		{
			name: "a quota the controller has not seen yet is not enforced",
			quota: func() *corev1.ResourceQuota {
				q := syncedQuota(list("pods", "0"), nil)
				q.Status = corev1.ResourceQuotaStatus{}
				return q
			}(),
			attrs: createOf(podWith("p", nil), "pods", "p"),
		},
		{
			name:  "a NodePort service over services.nodeports is refused",
			quota: syncedQuota(list("services.nodeports", "2"), list("services.nodeports", "1")),
			attrs: createOf(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}}, "services", "s"),
			wantErr: "exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=1, limited: services.nodeports=2",
		},
		{
			name:  "a claim over its storage class's quota is refused",
			quota: syncedQuota(list("gold.storageclass.storage.k8s.io/requests.storage", "10Gi"), list("gold.storageclass.storage.k8s.io/requests.storage", "8Gi")),
			attrs: createOf(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"},
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gold"),
					Resources: corev1.VolumeResourceRequirements{Requests: list("storage", "5Gi")}}}, "persistentvolumeclaims", "c"),
			wantErr: "exceeded quota: q, requested: gold.storageclass.storage.k8s.io/requests.storage=5Gi",
		},
		{
			name:    "config maps are counted under their legacy name",
			quota:   syncedQuota(list("configmaps", "1"), list("configmaps", "1")),
			attrs:   createOf(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}}, "configmaps", "cm"),
			wantErr: "exceeded quota: q, requested: configmaps=1, used: configmaps=1, limited: configmaps=1",
		},
		{
			name:  "events are never charged",
			quota: syncedQuota(list("count/events", "0"), list("count/events", "0")),
			attrs: createOf(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}}, "events", "e"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plugin, client := newPlugin(t, tc.quota)
			err := plugin.Validate(context.Background(), tc.attrs, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				if !apierrors.IsForbidden(err) {
					t.Errorf("error %v is not 403 Forbidden", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.wantUsed == nil {
				return
			}
			q, err := client.CoreV1().ResourceQuotas("ns").Get(context.Background(), "q", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.wantUsed {
				if got := q.Status.Used[name]; got.Cmp(want) != 0 {
					t.Errorf("status.used[%s] = %s, want %s", name, got.String(), want.String())
				}
			}
		})
	}
}
