package quota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/client-go/tools/cache"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func TestServiceUsage(t *testing.T) {
	e := NewServiceEvaluator(nil)
	ports := func(n int, nodePorts ...int32) []corev1.ServicePort {
		var list []corev1.ServicePort
		for i := range n {
			p := corev1.ServicePort{Port: int32(80 + i)}
			if i < len(nodePorts) {
				p.NodePort = nodePorts[i]
			}
			list = append(list, p)
		}
		return list
	}
	tests := []struct {
		name string
		spec corev1.ServiceSpec
		want corev1.ResourceList
	}{
		{"a ClusterIP service uses no node port", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports(2)},
			resources("services", "1", "count/services", "1", "services.nodeports", "0", "services.loadbalancers", "0")},
		{"a NodePort service uses a node port per port", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: ports(3)},
			resources("services", "1", "count/services", "1", "services.nodeports", "3", "services.loadbalancers", "0")},
		{"a LoadBalancer uses a load balancer and its node ports", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports(2)},
			resources("services", "1", "count/services", "1", "services.nodeports", "2", "services.loadbalancers", "1")},
		{"a LoadBalancer allocating no node ports uses only those it names",
			corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports(3, 30001), AllocateLoadBalancerNodePorts: ptr.To(false)},
			resources("services", "1", "count/services", "1", "services.nodeports", "1", "services.loadbalancers", "1")},
		{"an ExternalName service is one service", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"},
			resources("services", "1", "count/services", "1", "services.nodeports", "0", "services.loadbalancers", "0")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Usage(&corev1.Service{Spec: tc.spec})
			if err != nil {
				t.Fatal(err)
			}
			assertUsage(t, got, tc.want)
		})
	}
}

func claim(class *string, request string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: class,
			Resources:        corev1.VolumeResourceRequirements{Requests: resources("storage", request)},
		},
	}
}

func TestClaimUsage(t *testing.T) {
	e := NewPersistentVolumeClaimEvaluator(nil)
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		want  corev1.ResourceList
	}{
		{"a claim without class uses a claim and its storage", claim(nil, "1Gi"),
			resources("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi")},
		{"a claim of a class is also charged to that class", claim(ptr.To("gold"), "2Gi"),
			resources("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2Gi",
				"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1", "gold.storageclass.storage.k8s.io/requests.storage", "2Gi")},
		{"the beta class annotation names the class", func() *corev1.PersistentVolumeClaim {
			c := claim(nil, "1Gi")
			c.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "silver"}
			return c
		}(), resources("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi",
			"silver.storageclass.storage.k8s.io/persistentvolumeclaims", "1", "silver.storageclass.storage.k8s.io/requests.storage", "1Gi")},
		{"an allocation larger than the request is charged", func() *corev1.PersistentVolumeClaim {
			c := claim(nil, "1Gi")
			c.Status.AllocatedResources = resources("storage", "3Gi")
			return c
		}(), resources("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "3Gi")},
		{"an allocation smaller than the request is not", func() *corev1.PersistentVolumeClaim {
			c := claim(nil, "2Gi")
			c.Status.AllocatedResources = resources("storage", "1Gi")
			return c
		}(), resources("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2Gi")},
		{"storage is charged in whole bytes", claim(nil, "1500m"),
			resources("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Usage(tc.claim)
			if err != nil {
				t.Fatal(err)
			}
			assertUsage(t, got, tc.want)
		})
	}
}

func TestClaimMatchesStorageClassResources(t *testing.T) {
	e := NewPersistentVolumeClaimEvaluator(nil)
	got := e.MatchingResources([]corev1.ResourceName{"gold.storageclass.storage.k8s.io/requests.storage", "requests.storage",
		"count/persistentvolumeclaims", "pods", "gold.storageclass.storage.k8s.io/other"})
	want := []corev1.ResourceName{"gold.storageclass.storage.k8s.io/requests.storage", "requests.storage", "count/persistentvolumeclaims"}
	if !equalNames(got, want) {
		t.Errorf("matching = %v, want %v", got, want)
	}
}

func TestClaimVolumeAttributesClassScope(t *testing.T) {
	withClass := claim(nil, "1Gi")
	withClass.Spec.VolumeAttributesClassName = ptr.To("fast")
	moving := claim(nil, "1Gi")
	moving.Status.ModifyVolumeStatus = &corev1.ModifyVolumeStatus{TargetVolumeAttributesClassName: "slow"}
	vac := func(op corev1.ScopeSelectorOperator, values ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopeVolumeAttributesClass, Operator: op, Values: values}
	}
	tests := []struct {
		name  string
		scope corev1.ScopedResourceSelectorRequirement
		claim *corev1.PersistentVolumeClaim
		want  bool
	}{
		{"Exists matches a claim with a class", vac(corev1.ScopeSelectorOpExists), withClass, true},
		{"Exists does not match a claim without one", vac(corev1.ScopeSelectorOpExists), claim(nil, "1Gi"), false},
		{"In matches the class asked for", vac(corev1.ScopeSelectorOpIn, "fast"), withClass, true},
		{"In matches the class being moved to", vac(corev1.ScopeSelectorOpIn, "slow"), moving, true},
		{"In does not match another class", vac(corev1.ScopeSelectorOpIn, "slow"), withClass, false},
		{"DoesNotExist matches a claim without class", vac(corev1.ScopeSelectorOpDoesNotExist), claim(nil, "1Gi"), true},
		{"a scope of pods never matches a claim", corev1.ScopedResourceSelectorRequirement{
			ScopeName: corev1.ResourceQuotaScopeBestEffort, Operator: corev1.ScopeSelectorOpExists}, withClass, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := claimMatchesScope(tc.scope, tc.claim)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClaimStatusChangesUsage(t *testing.T) {
	old := claim(nil, "1Gi")
	same := old.DeepCopy()
	same.Status.Phase = corev1.ClaimBound
	grown := old.DeepCopy()
	grown.Status.AllocatedResources = resources("storage", "2Gi")
	reclassed := old.DeepCopy()
	reclassed.Status.CurrentVolumeAttributesClassName = ptr.To("fast")
	if ClaimStatusChangesUsage(old, same) {
		t.Error("a phase change changes no usage")
	}
	if !ClaimStatusChangesUsage(old, grown) {
		t.Error("an allocation changes usage")
	}
	if !ClaimStatusChangesUsage(old, reclassed) {
		t.Error("a new volume attributes class changes usage (scopes)")
	}
	e := NewPersistentVolumeClaimEvaluator(nil)
	status := func(obj, oldObj runtime.Object) admission.Attributes {
		return admission.NewAttributesRecord(obj, oldObj, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), "ns", "data",
			claimsResource, "status", admission.Update, nil, false, nil)
	}
	if e.Handles(status(same, old)) || !e.Handles(status(grown, old)) {
		t.Error("the claim evaluator handles exactly the status updates that change usage")
	}
}

func TestObjectCountResource(t *testing.T) {
	tests := []struct {
		name string
		want schema.GroupResource
		ok   bool
	}{
		{"count/pods", schema.GroupResource{Resource: "pods"}, true},
		{"count/deployments.apps", schema.GroupResource{Group: "apps", Resource: "deployments"}, true},
		{"count/widgets.example.com", schema.GroupResource{Group: "example.com", Resource: "widgets"}, true},
		{"count/", schema.GroupResource{}, false},
		{"count/.apps", schema.GroupResource{}, false},
		{"pods", schema.GroupResource{}, false},
		{"requests.cpu", schema.GroupResource{}, false},
	}
	for _, tc := range tests {
		got, ok := ObjectCountResource(corev1.ResourceName(tc.name))
		if got != tc.want || ok != tc.ok {
			t.Errorf("ObjectCountResource(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEvaluatorsWithoutListerFailUsageStats(t *testing.T) {
	for _, e := range NewEvaluators(nil, testingclock.NewFakePassiveClock(now)) {
		names := e.MatchingResources([]corev1.ResourceName{"pods", "services", "persistentvolumeclaims", "configmaps", "secrets",
			"resourcequotas", "replicationcontrollers"})
		if len(names) == 0 {
			t.Errorf("evaluator of %v matches none of the legacy names", e.GroupResource())
			continue
		}
		if _, err := e.UsageStats(quotav1.UsageStatsOptions{Namespace: "ns", Resources: names}); err == nil {
			t.Errorf("evaluator of %v computed usage stats without a lister", e.GroupResource())
		}
	}
}

// TestCalculateUsage sums a namespace's objects through listers the way the resourcequota
// controller does, with scopes and the legacy and count/ names.
func TestCalculateUsage(t *testing.T) {
	objects := map[schema.GroupResource][]runtime.Object{
		{Resource: "pods"}: {
			namespaced(pod(container("a", resources("cpu", "500m"), nil)), "ns", "web-1"),
			namespaced(pod(container("a", resources("cpu", "250m"), nil)), "ns", "web-2"),
			namespaced(func() *corev1.Pod {
				p := pod(container("a", resources("cpu", "1"), nil))
				p.Status.Phase = corev1.PodSucceeded
				return p
			}(), "ns", "job-1"),
			namespaced(pod(container("a", nil, nil)), "ns", "best-effort"),
			namespaced(pod(container("a", resources("cpu", "8"), nil)), "other", "elsewhere"),
		},
		{Resource: "services"}: {
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "np", Namespace: "ns"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}},
		},
		{Resource: "persistentvolumeclaims"}: {namespaced(claim(ptr.To("gold"), "5Gi"), "ns", "data")},
		{Resource: "configmaps"}: {
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}},
		},
	}
	listerFor := func(gvr schema.GroupVersionResource) (cache.GenericLister, error) {
		indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		for _, obj := range objects[gvr.GroupResource()] {
			if err := indexer.Add(obj); err != nil {
				return nil, err
			}
		}
		return cache.NewGenericLister(indexer, gvr.GroupResource()), nil
	}
	registry := generic.NewRegistry(NewEvaluators(listerFor, testingclock.NewFakePassiveClock(now)))

	tests := []struct {
		name   string
		hard   corev1.ResourceList
		scopes []corev1.ResourceQuotaScope
		want   corev1.ResourceList
	}{
		{
			name: "compute, counts and storage",
			hard: resources("pods", "10", "count/pods", "10", "requests.cpu", "4", "services", "5", "services.nodeports", "5",
				"configmaps", "10", "count/configmaps", "10", "requests.storage", "10Gi",
				"gold.storageclass.storage.k8s.io/requests.storage", "10Gi"),
			want: resources("pods", "3", "count/pods", "4", "requests.cpu", "750m", "services", "1", "services.nodeports", "2",
				"configmaps", "2", "count/configmaps", "2", "requests.storage", "5Gi",
				"gold.storageclass.storage.k8s.io/requests.storage", "5Gi"),
		},
		{
			name:   "a best-effort scope counts only best-effort pods",
			hard:   resources("pods", "10"),
			scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort},
			want:   resources("pods", "1"),
		},
		{
			name:   "a not-best-effort scope counts the others",
			hard:   resources("pods", "10", "requests.cpu", "10"),
			scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort},
			want:   resources("pods", "2", "requests.cpu", "750m"),
		},
		{
			name: "resources no evaluator knows get no usage",
			hard: resources("pods", "10", "count/widgets.example.com", "3"),
			want: resources("pods", "3"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := quotav1.CalculateUsage("ns", tc.scopes, tc.hard, registry, nil)
			if err != nil {
				t.Fatal(err)
			}
			assertUsage(t, got, tc.want)
		})
	}
}

func TestObjectCountEvaluatorCountsAnyResource(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, name := range []string{"a", "b", "c"} {
		if err := indexer.Add(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}); err != nil {
			t.Fatal(err)
		}
	}
	e := NewObjectCountEvaluator(gvr, func(schema.GroupVersionResource) (cache.GenericLister, error) {
		return cache.NewGenericLister(indexer, gvr.GroupResource()), nil
	})
	stats, err := e.UsageStats(quotav1.UsageStatsOptions{Namespace: "ns", Resources: []corev1.ResourceName{"count/deployments.apps"}})
	if err != nil {
		t.Fatal(err)
	}
	assertUsage(t, stats.Used, resources("count/deployments.apps", "3"))
}

func namespaced[T interface {
	runtime.Object
	SetNamespace(string)
	SetName(string)
}](obj T, ns, name string) T {
	obj.SetNamespace(ns)
	obj.SetName(name)
	return obj
}

func equalNames(a, b []corev1.ResourceName) bool {
	return quotav1.ToSet(a).Equal(quotav1.ToSet(b)) && len(a) == len(b)
}
