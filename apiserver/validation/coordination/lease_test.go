package coordination

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

func validLease() *coordinationv1.Lease {
	now := metav1.NowMicro()
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "skiff-controllers", Namespace: "kube-system", ResourceVersion: "1"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("server-1_3f2a"),
			LeaseDurationSeconds: ptr.To[int32](15),
			AcquireTime:          &now,
			RenewTime:            &now,
			LeaseTransitions:     ptr.To[int32](0),
		},
	}
}

func TestValidateLease(t *testing.T) {
	spec := field.NewPath("spec")
	cases := []struct {
		name   string
		mutate func(*coordinationv1.Lease)
		want   field.ErrorList
	}{
		{"valid lease passes", func(*coordinationv1.Lease) {}, nil},
		{"empty spec passes", func(l *coordinationv1.Lease) { l.Spec = coordinationv1.LeaseSpec{} }, nil},
		{"coordinated strategy with a preferred holder passes", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To(coordinationv1.OldestEmulationVersion)
			l.Spec.PreferredHolder = ptr.To("server-2")
		}, nil},
		{"custom domain-qualified strategy passes", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To[coordinationv1.CoordinatedLeaseStrategy]("example.com/newest")
		}, nil},
		{"namespace is required", func(l *coordinationv1.Lease) { l.Namespace = "" }, field.ErrorList{
			field.Required(field.NewPath("metadata", "namespace"), ""),
		}},
		{"lease duration must be positive", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr.To[int32](0) }, field.ErrorList{
			field.Invalid(spec.Child("leaseDurationSeconds"), nil, "must be greater than 0"),
		}},
		{"lease transitions may not be negative", func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr.To[int32](-1) }, field.ErrorList{
			field.Invalid(spec.Child("leaseTransitions"), nil, "must be greater than or equal to 0"),
		}},
		{"unknown built-in strategy is not supported", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To[coordinationv1.CoordinatedLeaseStrategy]("Newest")
		}, field.ErrorList{
			field.NotSupported(spec.Child("strategy"), "Newest", []string{"OldestEmulationVersion"}),
		}},
		{"custom strategy must be a qualified name", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To[coordinationv1.CoordinatedLeaseStrategy]("example.com/a/b")
		}, field.ErrorList{
			field.Invalid(spec.Child("strategy"), nil, ""),
		}},
		{"preferred holder needs a holder", func(l *coordinationv1.Lease) {
			l.Spec.HolderIdentity = nil
			l.Spec.PreferredHolder = ptr.To("server-2")
		}, field.ErrorList{
			field.Forbidden(spec.Child("preferredHolder"), "preferredHolder can only be set when holderIdentity is set"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := validLease()
			tc.mutate(l)
			matcher.Test(t, tc.want, ValidateLease(l))
		})
	}
}

func TestValidateLeaseUpdate(t *testing.T) {
	old := validLease()
	l := old.DeepCopy()
	l.Spec.HolderIdentity = ptr.To("server-2_9c1d")
	l.Spec.LeaseTransitions = ptr.To[int32](1)
	matcher.Test(t, nil, ValidateLeaseUpdate(l, old))

	l.Spec.LeaseDurationSeconds = ptr.To[int32](-5)
	matcher.Test(t, field.ErrorList{field.Invalid(field.NewPath("spec", "leaseDurationSeconds"), nil, "")}, ValidateLeaseUpdate(l, old))
}
