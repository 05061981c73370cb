package statefulset

import (
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	retain = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	del    = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
)

func setWithPolicy(n int32, whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType) *appsv1.StatefulSet {
	set := newSet(n)
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: whenDeleted, WhenScaled: whenScaled}
	return set
}

// owners describes claim's owner references: "set", "pod" (controllers) or other names.
func owners(claim *corev1.PersistentVolumeClaim) string {
	var out []string
	for _, ref := range claim.OwnerReferences {
		name := map[string]string{"set-uid": "set", "pod-1": "pod", "pod-0": "pod"}[string(ref.UID)]
		if name == "" {
			name = ref.Name
		}
		if ref.Controller == nil || !*ref.Controller {
			name += "(not controller)"
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestRetentionPolicyOwners(t *testing.T) {
	tests := []struct {
		name                    string
		whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType
		scaledDown              bool
		want                    string
	}{
		{"Retain, Retain: no owners", retain, retain, false, ""},
		{"Retain, Retain, scaled away: no owners", retain, retain, true, ""},
		{"whenDeleted Delete: the set owns the claim", del, retain, false, "set"},
		{"whenDeleted Delete, scaled away: still the set", del, retain, true, "set"},
		{"whenScaled Delete: no owner while the pod is kept", retain, del, false, ""},
		{"whenScaled Delete, scaled away: the pod owns the claim", retain, del, true, "pod"},
		{"Delete, Delete: the set while the pod is kept", del, del, false, "set"},
		{"Delete, Delete, scaled away: the pod only", del, del, true, "pod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := int32(2)
			if tc.scaledDown {
				n = 1
			}
			set := setWithPolicy(n, tc.whenDeleted, tc.whenScaled)
			p := pod(set, 1, "r1", ready)
			claim := claimsFor(set, p)[0]
			if claimOwnersUpToDate(claim, set, p) != (tc.want == "") {
				t.Errorf("a claim without owners is up to date = %v, want %v", !(tc.want == ""), tc.want == "")
			}
			setClaimOwners(claim, set, p)
			if got := owners(claim); got != tc.want {
				t.Errorf("owners = %q, want %q", got, tc.want)
			}
			if !claimOwnersUpToDate(claim, set, p) {
				t.Error("not up to date after setClaimOwners")
			}
		})
	}
}

func TestRetentionPolicyChangeMovesOwnership(t *testing.T) {
	set := setWithPolicy(2, del, retain)
	p := pod(set, 1, "r1", ready)
	claim := claimsFor(set, p)[0]
	claim.OwnerReferences = append(claim.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "keep", UID: "cm"})
	setClaimOwners(claim, set, p)
	if got := owners(claim); got != "keep(not controller),set" {
		t.Fatalf("owners = %q", got)
	}
	set.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = retain
	if claimOwnersUpToDate(claim, set, p) {
		t.Fatal("a claim owned by the set is up to date under Retain")
	}
	setClaimOwners(claim, set, p)
	if got := owners(claim); got != "keep(not controller)" {
		t.Errorf("owners after switching to Retain = %q, want only the unrelated owner", got)
	}
}

func TestClaimsOfOthersAreLeftAlone(t *testing.T) {
	set := setWithPolicy(1, del, del)
	p := pod(set, 1, "r1", ready)
	tests := []struct {
		name      string
		refs      []metav1.OwnerReference
		upToDate  bool
		afterward string
	}{
		{"another controller keeps the claim", []metav1.OwnerReference{{APIVersion: "v1", Kind: "Other", Name: "x", UID: "x", Controller: ptr.To(true)}}, true, "x"},
		{"another controller beside the set: the set lets go", []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "Other", Name: "x", UID: "x", Controller: ptr.To(true)}, *metav1.NewControllerRef(set, setKind)}, false, "x"},
		{"a reference to an earlier pod of the name is stale: hands off", []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "Pod", Name: "web-1", UID: "old-pod", Controller: ptr.To(true)}}, true, "web-1"},
		{"set owns it without being controller: fixed", []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "set-uid"}}, false, "pod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claim := claimsFor(set, p)[0]
			claim.OwnerReferences = tc.refs
			if got := claimOwnersUpToDate(claim, set, p); got != tc.upToDate {
				t.Fatalf("up to date = %v, want %v", got, tc.upToDate)
			}
			if !tc.upToDate {
				setClaimOwners(claim, set, p)
			}
			if got := owners(claim); got != tc.afterward {
				t.Errorf("owners = %q, want %q", got, tc.afterward)
			}
		})
	}
}

func TestStaleClaimsBlockOnlyUnderWhenScaledDelete(t *testing.T) {
	for _, tc := range []struct {
		whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType
		want       bool
	}{{retain, false}, {del, true}} {
		set := setWithPolicy(2, retain, tc.whenScaled)
		placeholder := newPod(set, 1)
		claim := claimsFor(set, placeholder)[0]
		claim.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web-1", UID: "gone", Controller: ptr.To(true)}}
		if got := claimIsStale(set, placeholder, map[string]*corev1.PersistentVolumeClaim{claim.Name: claim}); got != tc.want {
			t.Errorf("whenScaled %s: stale = %v, want %v", tc.whenScaled, got, tc.want)
		}
	}
}
