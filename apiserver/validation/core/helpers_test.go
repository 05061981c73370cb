package core

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// tcase is one row of a create-validation table: a mutation of a valid fixture and the error it
// must produce. An empty typ means the mutated object must be valid.
type tcase[T any] struct {
	name   string
	mutate func(*T)
	typ    field.ErrorType
	field  string
	detail string // optional substring of the error detail
}

func runCases[T any](t *testing.T, fixture func() *T, validate func(*T) field.ErrorList, cases []tcase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := fixture()
			if c.mutate != nil {
				c.mutate(obj)
			}
			checkErrors(t, validate(obj), c.typ, c.field, c.detail)
		})
	}
}

// ucase is one row of an update-validation table: old is the fixture with setup applied, new is
// the same with change applied on top.
type ucase[T any] struct {
	name   string
	setup  func(*T)
	change func(*T)
	typ    field.ErrorType
	field  string
	detail string
}

func runUpdateCases[T any](t *testing.T, fixture func() *T, validate func(obj, old *T) field.ErrorList, cases []ucase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old, obj := fixture(), fixture()
			if c.setup != nil {
				c.setup(old)
				c.setup(obj)
			}
			if c.change != nil {
				c.change(obj)
			}
			checkErrors(t, validate(obj, old), c.typ, c.field, c.detail)
		})
	}
}

func checkErrors(t *testing.T, errs field.ErrorList, typ field.ErrorType, fld, detail string) {
	t.Helper()
	if typ == "" {
		if len(errs) != 0 {
			t.Fatalf("expected no errors, got:\n%s", formatErrs(errs))
		}
		return
	}
	for _, e := range errs {
		if e.Type == typ && e.Field == fld && strings.Contains(e.Detail, detail) {
			return
		}
	}
	t.Fatalf("expected %s error at %q (detail containing %q), got:\n%s", typ, fld, detail, formatErrs(errs))
}

func formatErrs(errs field.ErrorList) string {
	if len(errs) == 0 {
		return "  <none>"
	}
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.Error() + "\n")
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }
