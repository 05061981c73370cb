package apps

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validControllerRevision() *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{
		ObjectMeta: objectMeta("web-7c9d"),
		Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"metadata":{"labels":{"app":"web"}}}}}`)},
		Revision:   2,
	}
}

func TestValidateControllerRevision(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.ControllerRevision)
		want   field.ErrorList
	}{
		{"valid revision passes", func(*appsv1.ControllerRevision) {}, nil},
		{"data is mandatory", func(cr *appsv1.ControllerRevision) { cr.Data = runtime.RawExtension{} }, field.ErrorList{
			field.Required(path("data"), "data is mandatory"),
		}},
		{"negative revision is invalid", func(cr *appsv1.ControllerRevision) { cr.Revision = -1 }, field.ErrorList{
			field.Invalid(path("revision"), nil, "must be greater than or equal to 0"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cr := validControllerRevision()
			tc.mutate(cr)
			matcher.Test(t, tc.want, ValidateControllerRevision(cr))
		})
	}
}

func TestValidateControllerRevisionUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.ControllerRevision)
		want   field.ErrorList
	}{
		{"renumbering passes", func(cr *appsv1.ControllerRevision) { cr.Revision = 5 }, nil},
		{"same data with other spacing and key order passes", func(cr *appsv1.ControllerRevision) {
			cr.Data.Raw = []byte(`{ "spec": { "template": { "metadata": { "labels": { "app": "web" } } } } }`)
		}, nil},
		{"data is immutable", func(cr *appsv1.ControllerRevision) {
			cr.Data.Raw = []byte(`{"spec":{"template":{"metadata":{"labels":{"app":"api"}}}}}`)
		}, field.ErrorList{
			field.Invalid(path("data"), nil, "field is immutable"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validControllerRevision()
			cr := validControllerRevision()
			tc.mutate(cr)
			matcher.Test(t, tc.want, ValidateControllerRevisionUpdate(cr, old))
		})
	}
}
