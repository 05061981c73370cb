package quota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func resources(pairs ...string) corev1.ResourceList {
	list := corev1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		list[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return list
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func pod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: containers}}
}

// assertUsage compares the non-zero entries and the zero entries alike, by quantity.
func assertUsage(t *testing.T, got, want corev1.ResourceList) {
	t.Helper()
	if !quotav1.Equals(got, want) {
		t.Errorf("usage = %v, want %v", got, want)
	}
}

func TestPodUsage(t *testing.T) {
	e := NewPodEvaluator(nil, testingclock.NewFakePassiveClock(now))
	tests := []struct {
		name string
		pod  *corev1.Pod
		want corev1.ResourceList
	}{
		{
			name: "a best-effort pod uses one pod and nothing else",
			pod:  pod(container("app", nil, nil)),
			want: resources("pods", "1", "count/pods", "1"),
		},
		{
			name: "requests and limits of all containers are summed",
			pod: pod(container("a", resources("cpu", "100m", "memory", "1Gi"), resources("cpu", "200m", "memory", "2Gi")),
				container("b", resources("cpu", "300m", "ephemeral-storage", "1Gi"), resources("ephemeral-storage", "2Gi"))),
			want: resources("pods", "1", "count/pods", "1",
				"cpu", "400m", "requests.cpu", "400m", "limits.cpu", "200m",
				"memory", "1Gi", "requests.memory", "1Gi", "limits.memory", "2Gi",
				"ephemeral-storage", "1Gi", "requests.ephemeral-storage", "1Gi", "limits.ephemeral-storage", "2Gi"),
		},
		{
			name: "an init container larger than the containers sets the pod's request",
			pod: func() *corev1.Pod {
				p := pod(container("app", resources("cpu", "100m"), nil))
				p.Spec.InitContainers = []corev1.Container{container("init", resources("cpu", "1"), nil)}
				return p
			}(),
			want: resources("pods", "1", "count/pods", "1", "cpu", "1", "requests.cpu", "1"),
		},
		{
			name: "pod overhead is charged",
			pod: func() *corev1.Pod {
				p := pod(container("app", resources("memory", "100Mi"), nil))
				p.Spec.Overhead = resources("memory", "20Mi")
				return p
			}(),
			want: resources("pods", "1", "count/pods", "1", "memory", "120Mi", "requests.memory", "120Mi"),
		},
		{
			name: "huge pages and extended resources are charged as requests",
			pod:  pod(container("app", resources("hugepages-2Mi", "4Mi", "example.com/gpu", "2"), resources("hugepages-2Mi", "4Mi", "example.com/gpu", "2"))),
			want: resources("pods", "1", "count/pods", "1", "hugepages-2Mi", "4Mi", "requests.hugepages-2Mi", "4Mi",
				"requests.example.com/gpu", "2"),
		},
		{
			name: "a succeeded pod is only counted as an object",
			pod: func() *corev1.Pod {
				p := pod(container("app", resources("cpu", "1"), nil))
				p.Status.Phase = corev1.PodSucceeded
				return p
			}(),
			want: resources("count/pods", "1"),
		},
		{
			name: "a failed pod is only counted as an object",
			pod: func() *corev1.Pod {
				p := pod(container("app", resources("cpu", "1"), nil))
				p.Status.Phase = corev1.PodFailed
				return p
			}(),
			want: resources("count/pods", "1"),
		},
		{
			name: "a pod terminating within its grace period is still charged",
			pod: func() *corev1.Pod {
				p := pod(container("app", resources("cpu", "1"), nil))
				p.DeletionTimestamp = &metav1.Time{Time: now.Add(-10 * time.Second)}
				p.DeletionGracePeriodSeconds = ptr.To[int64](30)
				return p
			}(),
			want: resources("pods", "1", "count/pods", "1", "cpu", "1", "requests.cpu", "1"),
		},
		{
			name: "a pod stuck terminating past its grace period is only counted as an object",
			pod: func() *corev1.Pod {
				p := pod(container("app", resources("cpu", "1"), nil))
				p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
				p.DeletionGracePeriodSeconds = ptr.To[int64](30)
				return p
			}(),
			want: resources("count/pods", "1"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Usage(tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			assertUsage(t, got, tc.want)
		})
	}
}

func TestPodUsageRefusesOtherObjects(t *testing.T) {
	e := NewPodEvaluator(nil, testingclock.NewFakePassiveClock(now))
	if _, err := e.Usage(&corev1.Service{}); err == nil {
		t.Error("a service measured as a pod: want an error")
	}
	if _, err := e.Usage((*corev1.Pod)(nil)); err == nil {
		t.Error("a nil pod measured: want an error")
	}
}

func TestPodConstraints(t *testing.T) {
	e := NewPodEvaluator(nil, testingclock.NewFakePassiveClock(now))
	tests := []struct {
		name     string
		required []corev1.ResourceName
		pod      *corev1.Pod
		want     string
	}{
		{
			name:     "a quota on pods asks nothing of containers",
			required: []corev1.ResourceName{corev1.ResourcePods},
			pod:      pod(container("app", nil, nil)),
		},
		{
			name:     "a quota on requests.cpu needs a cpu request in every container",
			required: []corev1.ResourceName{corev1.ResourceRequestsCPU, corev1.ResourcePods},
			pod:      pod(container("app", resources("cpu", "1"), nil), container("sidecar", nil, nil)),
			want:     "must specify requests.cpu for: sidecar",
		},
		{
			name:     "missing resources are listed in order, each with its containers",
			required: []corev1.ResourceName{corev1.ResourceLimitsMemory, corev1.ResourceLimitsCPU},
			pod: func() *corev1.Pod {
				p := pod(container("b", nil, resources("memory", "1Gi")), container("a", nil, nil))
				p.Spec.InitContainers = []corev1.Container{container("init", nil, resources("cpu", "1"))}
				return p
			}(),
			want: "must specify limits.cpu for: a,b; limits.memory for: a,init",
		},
		{
			name:     "ephemeral storage is not required of containers",
			required: []corev1.ResourceName{corev1.ResourceRequestsEphemeralStorage},
			pod:      pod(container("app", nil, nil)),
		},
		{
			name:     "a container stating everything passes",
			required: []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceLimitsCPU},
			pod:      pod(container("app", resources("cpu", "1", "memory", "1Gi"), resources("cpu", "1"))),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Constraints(tc.required, tc.pod)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPodScopes(t *testing.T) {
	bestEffort := pod(container("app", nil, nil))
	burstable := pod(container("app", resources("cpu", "100m"), nil))
	withDeadline := pod(container("app", nil, nil))
	withDeadline.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	highPriority := pod(container("app", nil, nil))
	highPriority.Spec.PriorityClassName = "high"
	crossNamespace := pod(container("app", nil, nil))
	crossNamespace.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1,
			PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", NamespaceSelector: &metav1.LabelSelector{}}}},
	}}
	sameNamespace := pod(container("app", nil, nil))
	sameNamespace.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "kubernetes.io/hostname"}},
	}}
	recordedGuaranteed := pod(container("app", nil, nil))
	recordedGuaranteed.Status.QOSClass = corev1.PodQOSGuaranteed

	exists := func(s corev1.ResourceQuotaScope) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}
	}
	priority := func(op corev1.ScopeSelectorOperator, values ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: op, Values: values}
	}
	tests := []struct {
		name  string
		scope corev1.ScopedResourceSelectorRequirement
		pod   *corev1.Pod
		want  bool
	}{
		{"Terminating matches a pod with an active deadline", exists(corev1.ResourceQuotaScopeTerminating), withDeadline, true},
		{"Terminating does not match a pod without one", exists(corev1.ResourceQuotaScopeTerminating), bestEffort, false},
		{"NotTerminating matches a pod without an active deadline", exists(corev1.ResourceQuotaScopeNotTerminating), bestEffort, true},
		{"NotTerminating does not match a pod with one", exists(corev1.ResourceQuotaScopeNotTerminating), withDeadline, false},
		{"BestEffort matches a pod without requests or limits", exists(corev1.ResourceQuotaScopeBestEffort), bestEffort, true},
		{"BestEffort does not match a pod with a request", exists(corev1.ResourceQuotaScopeBestEffort), burstable, false},
		{"BestEffort follows the QoS class the API server recorded", exists(corev1.ResourceQuotaScopeBestEffort), recordedGuaranteed, false},
		{"NotBestEffort matches a pod with a request", exists(corev1.ResourceQuotaScopeNotBestEffort), burstable, true},
		{"PriorityClass Exists matches a pod with a priority class", priority(corev1.ScopeSelectorOpExists), highPriority, true},
		{"PriorityClass Exists does not match a pod without one", priority(corev1.ScopeSelectorOpExists), bestEffort, false},
		{"PriorityClass In matches the named class", priority(corev1.ScopeSelectorOpIn, "low", "high"), highPriority, true},
		{"PriorityClass In does not match another class", priority(corev1.ScopeSelectorOpIn, "low"), highPriority, false},
		{"PriorityClass NotIn matches a pod without a class", priority(corev1.ScopeSelectorOpNotIn, "high"), bestEffort, true},
		{"PriorityClass DoesNotExist matches a pod without a class", priority(corev1.ScopeSelectorOpDoesNotExist), bestEffort, true},
		{"CrossNamespacePodAffinity matches a namespace selector", exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), crossNamespace, true},
		{"CrossNamespacePodAffinity does not match same-namespace affinity", exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), sameNamespace, false},
		{"a scope of claims never matches a pod", exists(corev1.ResourceQuotaScopeVolumeAttributesClass), bestEffort, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := podMatchesScope(tc.scope, tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodMatchesQuotaOnlyWithScopeAndResource(t *testing.T) {
	e := NewPodEvaluator(nil, testingclock.NewFakePassiveClock(now))
	quota := func(hard corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes}, Status: corev1.ResourceQuotaStatus{Hard: hard}}
	}
	tests := []struct {
		name  string
		quota *corev1.ResourceQuota
		want  bool
	}{
		{"a quota on pods matches", quota(resources("pods", "2")), true},
		{"a quota on requests.example.com/gpu matches", quota(resources("requests.example.com/gpu", "2")), true},
		{"a quota on requests.hugepages-1Gi matches", quota(resources("requests.hugepages-1Gi", "2Gi")), true},
		{"a quota only on services does not match", quota(resources("services", "2")), false},
		{"a quota scoped to terminating pods does not match a pod without deadline", quota(resources("pods", "2"), corev1.ResourceQuotaScopeTerminating), false},
		{"a quota scoped to best-effort pods matches a best-effort pod", quota(resources("pods", "2"), corev1.ResourceQuotaScopeBestEffort), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Matches(tc.quota, pod(container("app", nil, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodHandlesCreateAndResize(t *testing.T) {
	e := NewPodEvaluator(nil, testingclock.NewFakePassiveClock(now))
	gvr := podsResource
	tests := []struct {
		op          admission.Operation
		subresource string
		want        bool
	}{
		{admission.Create, "", true},
		{admission.Update, "", false},
		{admission.Update, "status", false},
		{admission.Update, "resize", true},
		{admission.Create, "binding", false},
		{admission.Delete, "", false},
	}
	for _, tc := range tests {
		a := admission.NewAttributesRecord(nil, nil, gvr.GroupVersion().WithKind("Pod"), "ns", "p", gvr, tc.subresource, tc.op, nil, false, nil)
		if got := e.Handles(a); got != tc.want {
			t.Errorf("Handles(%s %q) = %v, want %v", tc.op, tc.subresource, got, tc.want)
		}
	}
	if gr := e.GroupResource(); gr != (schema.GroupResource{Resource: "pods"}) {
		t.Errorf("group resource %v", gr)
	}
}
