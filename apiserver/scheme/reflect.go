package scheme

import (
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
)

// runtimeObject makes a new value of the struct type t, if it is a runtime.Object.
func runtimeObject(t reflect.Type) (runtime.Object, bool) {
	obj, ok := reflect.New(t).Interface().(runtime.Object)
	return obj, ok
}
