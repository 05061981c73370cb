package registry

import (
	"fmt"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// RegisterFieldSelectors lets lists of kind gvk select on the fields that fieldsOf reports for an
// example object, besides metadata.name and metadata.namespace. It is meant for package initialisation.
func RegisterFieldSelectors(s *runtime.Scheme, gvk schema.GroupVersionKind, fieldsOf func(runtime.Object) fields.Set, example runtime.Object) {
	allowed := map[string]bool{"metadata.name": true, "metadata.namespace": true}
	for k := range fieldsOf(example) {
		allowed[k] = true
	}
	utilruntime.Must(s.AddFieldLabelConversionFunc(gvk, func(label, value string) (string, string, error) {
		if !allowed[label] {
			return "", "", fmt.Errorf("field label not supported: %s", label)
		}
		return label, value, nil
	}))
}
