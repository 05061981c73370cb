package storageclass

import (
	"testing"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func class(name string, created time.Time, annotations map[string]string) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created),
		Annotations: annotations}, Provisioner: "example.com/p"}
}

func TestDefault(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	marked := map[string]string{IsDefaultAnnotation: "true"}
	betaMarked := map[string]string{BetaIsDefaultAnnotation: "true"}
	tests := []struct {
		name    string
		classes []*storagev1.StorageClass
		want    string
	}{
		{"no class", nil, ""},
		{"no class marked", []*storagev1.StorageClass{class("a", t0, nil), class("b", t0, map[string]string{IsDefaultAnnotation: "false"})}, ""},
		{"the marked class", []*storagev1.StorageClass{class("a", t0, nil), class("b", t0, marked)}, "b"},
		{"the beta mark counts", []*storagev1.StorageClass{class("a", t0, betaMarked), class("b", t0, nil)}, "a"},
		{"the newest of several marked", []*storagev1.StorageClass{class("old", t0, marked), class("new", t0.Add(time.Hour), marked)}, "new"},
		{"the first by name among equally new", []*storagev1.StorageClass{class("z", t0, marked), class("m", t0, marked)}, "m"},
		{"nil entries are skipped", []*storagev1.StorageClass{nil, class("a", t0, marked)}, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Default(tc.classes)
			switch {
			case got == nil && tc.want != "":
				t.Errorf("no default, want %q", tc.want)
			case got != nil && got.Name != tc.want:
				t.Errorf("default %q, want %q", got.Name, tc.want)
			}
		})
	}
}
