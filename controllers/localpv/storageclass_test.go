package localpv

import (
	"context"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/skiffhq/skiff/internal/storageclass"
)

func TestEnsureStorageClass(t *testing.T) {
	otherDefault := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast",
		Annotations: map[string]string{storageclass.IsDefaultAnnotation: "true"}}, Provisioner: "example.com/fast"}
	edited := DefaultStorageClass(false)
	edited.MountOptions = []string{"noatime"}
	tests := []struct {
		name        string
		existing    []client.Object
		wantDefault bool
		wantMounts  int
	}{
		{name: "a cluster without classes gets local-path as its default", wantDefault: true},
		{name: "a cluster with another default gets local-path, not as default", existing: []client.Object{otherDefault}},
		{name: "an existing local-path class is left as the administrator made it", existing: []client.Object{edited}, wantMounts: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(tc.existing...).Build()
			r := &Reconciler{Client: c}
			if err := r.ensureStorageClass(context.Background()); err != nil {
				t.Fatal(err)
			}
			var class storagev1.StorageClass
			if err := c.Get(context.Background(), client.ObjectKey{Name: StorageClassName}, &class); err != nil {
				t.Fatal(err)
			}
			if storageclass.IsDefault(&class) != tc.wantDefault || len(class.MountOptions) != tc.wantMounts {
				t.Errorf("class %+v", class)
			}
		})
	}
}

func TestEnsureStorageClassStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &Reconciler{Client: fake.NewClientBuilder().WithScheme(scheme.Scheme).Build()}
	if err := r.ensureStorageClass(ctx); err != nil {
		t.Errorf("a manager stopping is not an error: %v", err)
	}
}
