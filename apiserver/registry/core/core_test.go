package core_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/testenv"
)

const ns = metav1.NamespaceDefault

func newClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	return kubernetes.NewForConfigOrDie(testenv.New(t).Config)
}

func pod(name string, containers ...corev1.Container) *corev1.Pod {
	if len(containers) == 0 {
		containers = []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example/app:1",
		Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func cpuMem(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func bind(ctx context.Context, client kubernetes.Interface, name, node string) error {
	return client.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
}

func TestCreatedPodsArePendingWithTheirQOSClass(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want corev1.PodQOSClass
	}{
		{"no resources", pod("besteffort"), corev1.PodQOSBestEffort},
		{"requests only", pod("burstable-requests", container("app", cpuMem("100m", "64Mi"), nil)), corev1.PodQOSBurstable},
		{"limits above requests", pod("burstable-limits", container("app", cpuMem("100m", "64Mi"), cpuMem("200m", "64Mi"))), corev1.PodQOSBurstable},
		{"only cpu limited", pod("burstable-cpu", container("app", cpuMem("1", ""), cpuMem("1", ""))), corev1.PodQOSBurstable},
		{"requests equal limits", pod("guaranteed", container("app", cpuMem("500m", "128Mi"), cpuMem("500m", "128Mi"))), corev1.PodQOSGuaranteed},
		{"limits only (requests default to them)", pod("guaranteed-limits", container("app", nil, cpuMem("1", "1Gi"))), corev1.PodQOSGuaranteed},
		{"one guaranteed and one best-effort container", pod("mixed",
			container("a", cpuMem("1", "1Gi"), cpuMem("1", "1Gi")), container("b", nil, nil)), corev1.PodQOSBurstable},
		{"every container guaranteed", pod("guaranteed-two",
			container("a", cpuMem("1", "1Gi"), cpuMem("1", "1Gi")), container("b", cpuMem("200m", "1Mi"), cpuMem("200m", "1Mi"))), corev1.PodQOSGuaranteed},
		{"init container with requests", func() *corev1.Pod {
			p := pod("burstable-init")
			p.Spec.InitContainers = []corev1.Container{container("init", cpuMem("100m", ""), nil)}
			return p
		}(), corev1.PodQOSBurstable},
		{"status sent by the client is dropped", func() *corev1.Pod {
			p := pod("status-dropped")
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, QOSClass: corev1.PodQOSGuaranteed, PodIP: "10.42.0.9"}
			return p
		}(), corev1.PodQOSBestEffort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created, err := client.CoreV1().Pods(ns).Create(ctx, tc.pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			stored, err := client.CoreV1().Pods(ns).Get(ctx, tc.pod.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for what, p := range map[string]*corev1.Pod{"response": created, "stored": stored} {
				if p.Status.Phase != corev1.PodPending || p.Status.QOSClass != tc.want || p.Status.PodIP != "" {
					t.Errorf("%s: phase %q qosClass %q podIP %q; want Pending %s and no IP", what,
						p.Status.Phase, p.Status.QOSClass, p.Status.PodIP, tc.want)
				}
			}
		})
	}
}

func TestBindingAssignsAPodToANodeOnce(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := bind(ctx, client, "web", "node-a"); err != nil {
		t.Fatalf("first binding: %v", err)
	}
	got, err := client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "node-a" {
		t.Errorf("spec.nodeName = %q, want node-a", got.Spec.NodeName)
	}
	var scheduled *corev1.PodCondition
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == corev1.PodScheduled {
			scheduled = &got.Status.Conditions[i]
		}
	}
	if scheduled == nil || scheduled.Status != corev1.ConditionTrue || scheduled.LastTransitionTime.IsZero() {
		t.Errorf("PodScheduled condition = %+v, want True with a transition time", scheduled)
	}

	for _, tc := range []struct {
		name  string
		pod   string
		node  string
		check func(error) bool
		want  string
	}{
		{"second binding to another node", "web", "node-b", apierrors.IsConflict, "409 Conflict"},
		{"second binding to the same node", "web", "node-a", apierrors.IsConflict, "409 Conflict"},
		// Upstream answers this with the storage's own error (500), not 404.
		{"binding of a missing pod", "missing", "node-a", func(err error) bool { return err != nil }, "an error"},
		{"binding without a node", "web", "", apierrors.IsInvalid, "422 Invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := bind(ctx, client, tc.pod, tc.node); !tc.check(err) {
				t.Errorf("binding = %v, want %s", err, tc.want)
			}
		})
	}
	got, err = client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "node-a" {
		t.Errorf("after refused bindings spec.nodeName = %q, want node-a", got.Spec.NodeName)
	}
}

func TestBindingForAPreviousPodOfTheSameNameIsRefused(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	pods := client.CoreV1().Pods(ns)
	first, err := pods.Create(ctx, pod("again"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "again", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	second, err := pods.Create(ctx, pod("again"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		meta metav1.ObjectMeta
		want string // the node the pod is on afterwards
	}{
		{"uid of the deleted pod", metav1.ObjectMeta{Name: "again", UID: first.UID}, ""},
		{"stale resourceVersion", metav1.ObjectMeta{Name: "again", ResourceVersion: first.ResourceVersion}, ""},
		{"uid of the current pod", metav1.ObjectMeta{Name: "again", UID: second.UID}, "node-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: tc.meta, Target: corev1.ObjectReference{Kind: "Node", Name: "node-a"}},
				metav1.CreateOptions{})
			if (err == nil) != (tc.want != "") {
				t.Errorf("binding = %v, want accepted %v", err, tc.want != "")
			}
			got, err := pods.Get(ctx, "again", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec.NodeName != tc.want {
				t.Errorf("spec.nodeName = %q, want %q", got.Spec.NodeName, tc.want)
			}
		})
	}
}

func TestPodFieldSelectorsSelectByNodeAndPhase(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	pods := client.CoreV1().Pods(ns)
	for _, name := range []string{"on-a", "running-on-b", "unscheduled"} {
		if _, err := pods.Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bind(ctx, client, "on-a", "node-a"); err != nil {
		t.Fatal(err)
	}
	if err := bind(ctx, client, "running-on-b", "node-b"); err != nil {
		t.Fatal(err)
	}
	running, err := pods.Get(ctx, "running-on-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	running.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, running, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		selector string
		want     []string
	}{
		{"spec.nodeName=node-a", []string{"on-a"}},
		{"spec.nodeName=node-b", []string{"running-on-b"}},
		{"spec.nodeName=", []string{"unscheduled"}},
		{"spec.nodeName!=", []string{"on-a", "running-on-b"}},
		{"status.phase=Pending", []string{"on-a", "unscheduled"}},
		{"status.phase=Running", []string{"running-on-b"}},
		{"status.phase!=Running", []string{"on-a", "unscheduled"}},
		{"spec.nodeName=node-b,status.phase=Running", []string{"running-on-b"}},
		{"spec.nodeName=node-a,status.phase=Running", nil},
		{"metadata.name=unscheduled", []string{"unscheduled"}},
	} {
		t.Run(tc.selector, func(t *testing.T) {
			for _, rv := range []string{"", "0"} { // from etcd, and from the watch cache
				list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: tc.selector, ResourceVersion: rv})
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, p := range list.Items {
					names = append(names, p.Name)
				}
				slices.Sort(names)
				if !slices.Equal(names, tc.want) {
					t.Errorf("resourceVersion %q: selected %v, want %v", rv, names, tc.want)
				}
			}
		})
	}
	if _, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unknown field selector = %v, want 400 BadRequest", err)
	}
}

func TestPodDeletionWaitsOnlyForPodsANodeRuns(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	pods := client.CoreV1().Pods(ns)
	for _, tc := range []struct {
		name  string
		grace *int64 // terminationGracePeriodSeconds of the pod
		node  string
		phase corev1.PodPhase
		opts  metav1.DeleteOptions
		// kept says the pod stays, marked, with this grace period; otherwise it is gone at once.
		kept      bool
		keptGrace int64
		// thenForce deletes the marked pod again with a zero grace period, as the node does once its
		// containers are stopped; the pod must then be gone.
		thenForce bool
	}{
		{name: "unscheduled", opts: metav1.DeleteOptions{}},
		{name: "unscheduled with a grace period asked for", opts: metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(60))}},
		{name: "bound", node: "node-a", kept: true, keptGrace: 30},
		{name: "bound with its own grace period", node: "node-a", grace: ptr.To(int64(5)), kept: true, keptGrace: 5},
		{name: "bound with a grace period asked for", node: "node-a", opts: metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(10))}, kept: true, keptGrace: 10},
		// kubectl delete --force --grace-period=0: the object goes at once, as upstream.
		{name: "bound and forced", node: "node-a", opts: metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}},
		{name: "bound, then forced while terminating", node: "node-a", kept: true, keptGrace: 30, thenForce: true},
		{name: "bound and succeeded", node: "node-a", phase: corev1.PodSucceeded},
		{name: "bound and failed", node: "node-a", phase: corev1.PodFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			p := pod(name)
			p.Spec.TerminationGracePeriodSeconds = tc.grace
			if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if tc.node != "" {
				if err := bind(ctx, client, name, tc.node); err != nil {
					t.Fatal(err)
				}
			}
			if tc.phase != "" {
				cur, err := pods.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				cur.Status.Phase = tc.phase
				if _, err := pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			before, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := pods.Delete(ctx, name, tc.opts); err != nil {
				t.Fatal(err)
			}
			got, err := pods.Get(ctx, name, metav1.GetOptions{})
			if !tc.kept {
				if !apierrors.IsNotFound(err) {
					t.Errorf("after delete: %v (deletionTimestamp %v), want the pod gone", err, deletionTimestamp(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("after delete: %v, want the pod kept until its node stops it", err)
			}
			if got.DeletionTimestamp == nil || ptr.Deref(got.DeletionGracePeriodSeconds, -1) != tc.keptGrace {
				t.Fatalf("deletionTimestamp %v deletionGracePeriodSeconds %v, want set and %d",
					got.DeletionTimestamp, ptr.Deref(got.DeletionGracePeriodSeconds, -1), tc.keptGrace)
			}
			// The deadline is the grace period after the delete (creationTimestamp is in whole seconds).
			if earliest := before.CreationTimestamp.Add(time.Duration(tc.keptGrace-1) * time.Second); got.DeletionTimestamp.Time.Before(earliest) {
				t.Errorf("deletionTimestamp %v is before creation %v + grace period %ds",
					got.DeletionTimestamp, before.CreationTimestamp, tc.keptGrace)
			}
			if !tc.thenForce {
				return
			}
			if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0)),
				Preconditions: metav1.NewUIDPreconditions(string(got.UID))}); err != nil {
				t.Fatal(err)
			}
			if got, err := pods.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("after the forced delete: %v (deletionTimestamp %v), want the pod gone", err, deletionTimestamp(got))
			}
		})
	}
}

func TestDeletingAJustBoundPodAlwaysGivesItsGracePeriod(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	pods := client.CoreV1().Pods(ns)
	// The delete follows the binding at once, while the watch cache may still hold the unbound pod:
	// what the store first sees must not decide for the pod as it is.
	for i := range 40 {
		name := fmt.Sprintf("just-bound-%d", i)
		if _, err := pods.Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := bind(ctx, client, name, "node-a"); err != nil {
			t.Fatal(err)
		}
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s after delete: %v, want it kept for its grace period", name, err)
		}
		if g := ptr.Deref(got.DeletionGracePeriodSeconds, -1); got.DeletionTimestamp == nil || g != 30 {
			t.Fatalf("%s: deletionTimestamp %v deletionGracePeriodSeconds %d, want set and 30", name, got.DeletionTimestamp, g)
		}
	}
}

func deletionTimestamp(p *corev1.Pod) any {
	if p == nil {
		return nil
	}
	return p.DeletionTimestamp
}

func TestNamespaceLifecycle(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	namespaces := client.CoreV1().Namespaces()

	created, err := namespaces.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a",
		Labels: map[string]string{"owner": "alice"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Labels["kubernetes.io/metadata.name"] != "team-a" || created.Labels["owner"] != "alice" {
		t.Errorf("labels = %v, want kubernetes.io/metadata.name=team-a beside owner=alice", created.Labels)
	}
	if !slices.Equal(created.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes}) {
		t.Errorf("spec.finalizers = %v, want [kubernetes]", created.Spec.Finalizers)
	}
	if created.Status.Phase != corev1.NamespaceActive {
		t.Errorf("status.phase = %q, want Active", created.Status.Phase)
	}
	if _, err := client.CoreV1().ConfigMaps("team-a").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}},
		metav1.CreateOptions{}); err != nil {
		t.Fatalf("create in an active namespace: %v", err)
	}

	t.Run("the name label cannot be changed or removed", func(t *testing.T) {
		cur, err := namespaces.Get(ctx, "team-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Labels = map[string]string{"kubernetes.io/metadata.name": "other"}
		updated, err := namespaces.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if updated.Labels["kubernetes.io/metadata.name"] != "team-a" {
			t.Errorf("labels after update = %v", updated.Labels)
		}
	})

	if err := namespaces.Delete(ctx, "team-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Run("deleted namespace is terminating and kept", func(t *testing.T) {
		got, err := namespaces.Get(ctx, "team-a", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("after delete: %v, want the namespace kept", err)
		}
		if got.Status.Phase != corev1.NamespaceTerminating || got.DeletionTimestamp == nil {
			t.Errorf("phase %q deletionTimestamp %v, want Terminating and set", got.Status.Phase, got.DeletionTimestamp)
		}
		if !slices.Equal(got.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes}) {
			t.Errorf("spec.finalizers = %v, want [kubernetes]", got.Spec.Finalizers)
		}
	})
	t.Run("nothing new may be made in a terminating namespace", func(t *testing.T) {
		_, err := client.CoreV1().ConfigMaps("team-a").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}},
			metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("create in a terminating namespace = %v, want 403 Forbidden", err)
		}
		// What is there can still be read and deleted, so the namespace can be emptied.
		if err := client.CoreV1().ConfigMaps("team-a").Delete(ctx, "before", metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete in a terminating namespace: %v", err)
		}
	})
	t.Run("spec.finalizers change only through finalize", func(t *testing.T) {
		cur, err := namespaces.Get(ctx, "team-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.Finalizers = nil
		updated, err := namespaces.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(updated.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes}) {
			t.Errorf("spec.finalizers after a plain update = %v, want [kubernetes]", updated.Spec.Finalizers)
		}
	})
	t.Run("a status write keeps a terminating namespace whose spec.finalizers remain", func(t *testing.T) {
		cur, err := namespaces.Get(ctx, "team-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Status.Conditions = append(cur.Status.Conditions, corev1.NamespaceCondition{Type: corev1.NamespaceContentRemaining,
			Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain", LastTransitionTime: metav1.Now()})
		if _, err := namespaces.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := namespaces.Get(ctx, "team-a", metav1.GetOptions{}); err != nil {
			t.Errorf("after a status write: %v, want the namespace kept until finalized", err)
		}
	})
	t.Run("finalize with no finalizers left removes the namespace", func(t *testing.T) {
		cur, err := namespaces.Get(ctx, "team-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.Finalizers = nil
		if _, err := namespaces.Finalize(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("finalize: %v", err)
		}
		if got, err := namespaces.Get(ctx, "team-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after finalize: %v (phase %q), want the namespace gone", err, got.Status.Phase)
		}
	})

	for _, name := range []string{"default", "kube-system", "kube-public"} {
		t.Run("deleting "+name+" is refused", func(t *testing.T) {
			if err := namespaces.Delete(ctx, name, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
				t.Errorf("delete %s = %v, want 403 Forbidden", name, err)
			}
			got, err := namespaces.Get(ctx, name, metav1.GetOptions{})
			if err != nil || got.DeletionTimestamp != nil || got.Status.Phase != corev1.NamespaceActive {
				t.Errorf("%s after a refused delete: %v, phase %q", name, err, got.Status.Phase)
			}
		})
	}
}

func nodePorts(s *corev1.Service) []int32 {
	var out []int32
	for _, p := range s.Spec.Ports {
		out = append(out, p.NodePort)
	}
	return out
}

func service(name string, typ corev1.ServiceType, ports ...int32) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name}},
	}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", p), Port: p, TargetPort: intstr.FromInt32(p)})
	}
	return s
}

var serviceCIDR = netip.MustParsePrefix("10.43.0.0/16")

func inServiceCIDR(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && serviceCIDR.Contains(a)
}

func TestServicesGetTheAddressesAndPortsTheirTypeNeeds(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		svc   *corev1.Service
		check func(t *testing.T, s *corev1.Service)
	}{
		{"cluster ip allocated", service("plain", corev1.ServiceTypeClusterIP, 80), func(t *testing.T, s *corev1.Service) {
			if !inServiceCIDR(s.Spec.ClusterIP) || s.Spec.ClusterIP == "10.43.0.1" || !slices.Equal(s.Spec.ClusterIPs, []string{s.Spec.ClusterIP}) {
				t.Errorf("clusterIP %q clusterIPs %v, want one free address of 10.43.0.0/16", s.Spec.ClusterIP, s.Spec.ClusterIPs)
			}
			if slices.ContainsFunc(nodePorts(s), func(p int32) bool { return p != 0 }) {
				t.Errorf("ClusterIP service got node ports %v", nodePorts(s))
			}
		}},
		{"requested cluster ip kept", func() *corev1.Service {
			s := service("fixed", corev1.ServiceTypeClusterIP, 80)
			s.Spec.ClusterIP = "10.43.200.10"
			return s
		}(), func(t *testing.T, s *corev1.Service) {
			if s.Spec.ClusterIP != "10.43.200.10" || !slices.Equal(s.Spec.ClusterIPs, []string{"10.43.200.10"}) {
				t.Errorf("clusterIP %q clusterIPs %v, want 10.43.200.10", s.Spec.ClusterIP, s.Spec.ClusterIPs)
			}
		}},
		{"headless keeps None", func() *corev1.Service {
			s := service("headless", corev1.ServiceTypeClusterIP, 80)
			s.Spec.ClusterIP = corev1.ClusterIPNone
			return s
		}(), func(t *testing.T, s *corev1.Service) {
			if s.Spec.ClusterIP != corev1.ClusterIPNone || !slices.Equal(s.Spec.ClusterIPs, []string{corev1.ClusterIPNone}) {
				t.Errorf("clusterIP %q clusterIPs %v, want None", s.Spec.ClusterIP, s.Spec.ClusterIPs)
			}
		}},
		{"external name has no cluster ip", func() *corev1.Service {
			s := service("external", corev1.ServiceTypeExternalName)
			s.Spec.Selector = nil
			s.Spec.ExternalName = "db.example.com"
			return s
		}(), func(t *testing.T, s *corev1.Service) {
			if s.Spec.ClusterIP != "" || len(s.Spec.ClusterIPs) != 0 || s.Spec.ExternalName != "db.example.com" {
				t.Errorf("clusterIP %q clusterIPs %v externalName %q, want no address", s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.ExternalName)
			}
		}},
		{"node port allocated", service("nodeport", corev1.ServiceTypeNodePort, 80), func(t *testing.T, s *corev1.Service) {
			if !inServiceCIDR(s.Spec.ClusterIP) {
				t.Errorf("clusterIP %q, want an address of 10.43.0.0/16", s.Spec.ClusterIP)
			}
			if p := s.Spec.Ports[0].NodePort; p < 30000 || p > 32767 {
				t.Errorf("nodePort %d, want one in 30000-32767", p)
			}
		}},
		{"requested node port kept", func() *corev1.Service {
			s := service("nodeport-fixed", corev1.ServiceTypeNodePort, 80)
			s.Spec.Ports[0].NodePort = 30080
			return s
		}(), func(t *testing.T, s *corev1.Service) {
			if s.Spec.Ports[0].NodePort != 30080 {
				t.Errorf("nodePort %d, want 30080", s.Spec.Ports[0].NodePort)
			}
		}},
		{"each port its own node port", service("multi", corev1.ServiceTypeNodePort, 80, 443, 8080, 8443, 9000, 9090, 9443, 10000), func(t *testing.T, s *corev1.Service) {
			ports := nodePorts(s)
			seen := map[int32]bool{}
			for _, p := range ports {
				if p < 30000 || p > 32767 || seen[p] {
					t.Errorf("node ports %v, want distinct ports in 30000-32767", ports)
					return
				}
				seen[p] = true
			}
		}},
		{"load balancer gets node ports", service("lb", corev1.ServiceTypeLoadBalancer, 443), func(t *testing.T, s *corev1.Service) {
			if p := s.Spec.Ports[0].NodePort; p < 30000 || p > 32767 || !inServiceCIDR(s.Spec.ClusterIP) {
				t.Errorf("clusterIP %q nodePort %d, want both allocated", s.Spec.ClusterIP, p)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created, err := client.CoreV1().Services(ns).Create(ctx, tc.svc, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, created)
			stored, err := client.CoreV1().Services(ns).Get(ctx, tc.svc.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if stored.Spec.ClusterIP != created.Spec.ClusterIP || !slices.Equal(nodePorts(stored), nodePorts(created)) {
				t.Errorf("stored service differs from the response: %q %v vs %q %v",
					stored.Spec.ClusterIP, nodePorts(stored), created.Spec.ClusterIP, nodePorts(created))
			}
		})
	}
}

func TestServiceAllocationErrorsNameTheField(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	taken := service("taken", corev1.ServiceTypeNodePort, 80)
	taken.Spec.Ports[0].NodePort = 30500
	if _, err := client.CoreV1().Services(ns).Create(ctx, taken, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		mutate  func(s *corev1.Service)
		field   string
		message string
	}{
		{"cluster ip out of range", func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10" }, "spec.clusterIPs[0]", "10.43.0.0/16"},
		{"cluster ip of the kubernetes service", func(s *corev1.Service) { s.Spec.ClusterIP = "10.43.0.1" }, "spec.clusterIPs[0]", "already allocated"},
		{"node port out of range", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 8080
		}, "spec.ports[0].nodePort", "30000-32767"},
		{"node port of another service", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30500
		}, "spec.ports[0].nodePort", "already allocated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := service("refused", corev1.ServiceTypeClusterIP, 80)
			tc.mutate(s)
			_, err := client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create = %v, want 422 Invalid", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
			status := err.(apierrors.APIStatus).Status()
			if status.Details == nil || !slices.ContainsFunc(status.Details.Causes, func(c metav1.StatusCause) bool { return c.Field == tc.field }) {
				t.Errorf("causes %+v, want one for %s", status.Details, tc.field)
			}
			if _, err := client.CoreV1().Services(ns).Get(ctx, "refused", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("a refused service was stored: %v", err)
			}
		})
	}
}

func TestServiceUpdatesKeepOrReleaseTheirAllocations(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	services := client.CoreV1().Services(ns)
	created, err := services.Create(ctx, service("web", corev1.ServiceTypeNodePort, 80), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip, port := created.Spec.ClusterIP, created.Spec.Ports[0].NodePort

	t.Run("update with the allocated values keeps them", func(t *testing.T) {
		cur, err := services.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Labels = map[string]string{"tier": "front"}
		updated, err := services.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if updated.Spec.ClusterIP != ip || updated.Spec.Ports[0].NodePort != port {
			t.Errorf("after update %s:%d, want %s:%d", updated.Spec.ClusterIP, updated.Spec.Ports[0].NodePort, ip, port)
		}
	})
	t.Run("update that leaves them out keeps them", func(t *testing.T) {
		cur, err := services.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.ClusterIP, cur.Spec.ClusterIPs = "", nil
		cur.Spec.Ports[0].NodePort = 0
		updated, err := services.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if updated.Spec.ClusterIP != ip || updated.Spec.Ports[0].NodePort != port {
			t.Errorf("after update %s:%d, want %s:%d", updated.Spec.ClusterIP, updated.Spec.Ports[0].NodePort, ip, port)
		}
	})
	t.Run("the held node port is refused to another service", func(t *testing.T) {
		other := service("other", corev1.ServiceTypeNodePort, 80)
		other.Spec.Ports[0].NodePort = port
		if _, err := services.Create(ctx, other, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("create with a held node port = %v, want 422", err)
		}
	})
	t.Run("type change to ClusterIP releases the node port", func(t *testing.T) {
		cur, err := services.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.Type = corev1.ServiceTypeClusterIP
		updated, err := services.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if updated.Spec.Ports[0].NodePort != 0 || updated.Spec.ClusterIP != ip {
			t.Errorf("after the type change %s:%d, want %s and no node port", updated.Spec.ClusterIP, updated.Spec.Ports[0].NodePort, ip)
		}
		taker := service("taker", corev1.ServiceTypeNodePort, 80)
		taker.Spec.Ports[0].NodePort = port
		got, err := services.Create(ctx, taker, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a new service asking for the released node port %d: %v", port, err)
		}
		if got.Spec.Ports[0].NodePort != port {
			t.Errorf("new service got node port %d, want %d", got.Spec.Ports[0].NodePort, port)
		}
	})
	t.Run("deletion releases the cluster ip", func(t *testing.T) {
		if err := services.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		reuse := service("reuse", corev1.ServiceTypeClusterIP, 80)
		reuse.Spec.ClusterIP = ip
		if _, err := services.Create(ctx, reuse, metav1.CreateOptions{}); err != nil {
			t.Errorf("a new service asking for the released cluster ip %s: %v", ip, err)
		}
	})
}

func TestServiceTypeChangesDropWhatTheNewTypeDoesNotUse(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	services := client.CoreV1().Services(ns)
	for _, tc := range []struct {
		from, to corev1.ServiceType
		check    func(t *testing.T, s *corev1.Service)
		// released says the old cluster ip and node port are free again.
		releasedIP, releasedPort bool
	}{
		{from: corev1.ServiceTypeNodePort, to: corev1.ServiceTypeClusterIP, releasedPort: true,
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 0 || s.Spec.ExternalTrafficPolicy != "" || !inServiceCIDR(s.Spec.ClusterIP) {
					t.Errorf("nodePort %d externalTrafficPolicy %q clusterIP %q, want no node port or policy and an address",
						s.Spec.Ports[0].NodePort, s.Spec.ExternalTrafficPolicy, s.Spec.ClusterIP)
				}
			}},
		{from: corev1.ServiceTypeLoadBalancer, to: corev1.ServiceTypeNodePort,
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.AllocateLoadBalancerNodePorts != nil || s.Spec.Ports[0].NodePort == 0 {
					t.Errorf("allocateLoadBalancerNodePorts %v nodePort %d, want unset and the node port kept",
						s.Spec.AllocateLoadBalancerNodePorts, s.Spec.Ports[0].NodePort)
				}
			}},
		{from: corev1.ServiceTypeNodePort, to: corev1.ServiceTypeExternalName, releasedIP: true, releasedPort: true,
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.ClusterIP != "" || len(s.Spec.ClusterIPs) != 0 || s.Spec.Ports[0].NodePort != 0 {
					t.Errorf("clusterIP %q clusterIPs %v nodePort %d, want none", s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports[0].NodePort)
				}
			}},
		{from: corev1.ServiceTypeClusterIP, to: corev1.ServiceTypeNodePort,
			check: func(t *testing.T, s *corev1.Service) {
				if p := s.Spec.Ports[0].NodePort; p < 30000 || p > 32767 || s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
					t.Errorf("nodePort %d externalTrafficPolicy %q, want a node port and Cluster", p, s.Spec.ExternalTrafficPolicy)
				}
			}},
	} {
		name := strings.ToLower(string(tc.from) + "-to-" + string(tc.to))
		t.Run(name, func(t *testing.T) {
			created, err := services.Create(ctx, service(name, tc.from, 80), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// As kubectl edit does: the object as read, with only the type changed.
			created.Spec.Type = tc.to
			if tc.to == corev1.ServiceTypeExternalName {
				created.Spec.ExternalName = "db.example.com"
				created.Spec.Selector = nil
			}
			updated, err := services.Update(ctx, created, metav1.UpdateOptions{})
			if err != nil {
				t.Fatalf("type change: %v", err)
			}
			tc.check(t, updated)
			oldIP, oldPort := created.Spec.ClusterIP, created.Spec.Ports[0].NodePort
			if tc.releasedIP || tc.releasedPort {
				taker := service(name+"-taker", corev1.ServiceTypeNodePort, 80)
				if tc.releasedIP {
					taker.Spec.ClusterIP = oldIP
				}
				if tc.releasedPort {
					taker.Spec.Ports[0].NodePort = oldPort
				}
				if _, err := services.Create(ctx, taker, metav1.CreateOptions{}); err != nil {
					t.Errorf("a new service asking for the released %s:%d: %v", oldIP, oldPort, err)
				}
			}
		})
	}
}

// allocations reads the ClusterIPs and node ports the server holds, from its embedded etcd.
func allocations(t *testing.T, env *testenv.Env) (ips, ports map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.DataDir, "etcd", "ports"))
	if err != nil {
		t.Fatal(err)
	}
	var clientPort, peerPort int
	if _, err := fmt.Sscanf(string(b), "%d %d", &clientPort, &peerPort); err != nil {
		t.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", clientPort)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func(prefix string) map[string]string {
		resp, err := c.Get(context.Background(), prefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, kv := range resp.Kvs {
			out[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
		}
		return out
	}
	return read("/registry/ranges/serviceips/"), read("/registry/ranges/servicenodeports/")
}

func TestServiceUpdatesRightAfterEachOtherLeaveNoAllocationBehind(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	services := client.CoreV1().Services(ns)
	// Each update follows the last at once, while the watch cache may still hold an older service:
	// what an attempt on that older copy takes must not stay taken.
	for i := range 15 {
		name := fmt.Sprintf("grow-%d", i)
		svc, err := services.Create(ctx, service(name, corev1.ServiceTypeNodePort, 80), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// As kubectl patch does: a strategic merge patch adding one port, without a resourceVersion.
		for _, port := range []int32{81, 82, 83} {
			patch := fmt.Sprintf(`{"spec":{"ports":[{"name":"p%d","port":%d,"targetPort":%d}]}}`, port, port, port)
			if svc, err = services.Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if len(svc.Spec.Ports) != 4 {
			t.Fatalf("after the patches the service has ports %v, want 4", nodePorts(svc))
		}
		held := map[string]bool{}
		for _, p := range svc.Spec.Ports {
			held[fmt.Sprint(p.NodePort)] = true
		}
		_, ports := allocations(t, env)
		for port, owner := range ports {
			if owner == ns+"/"+name && !held[port] {
				t.Errorf("node port %s is allocated to %s, which holds %v", port, owner, nodePorts(svc))
			}
		}
		if err := services.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ips, ports := allocations(t, env)
	if len(ports) != 0 {
		t.Errorf("after every service was deleted node ports %v are still allocated", ports)
	}
	if len(ips) != 1 || ips["10.43.0.1"] != "default/kubernetes" {
		t.Errorf("after every service but kubernetes was deleted cluster IPs %v are allocated", ips)
	}
}

func TestDryRunServiceCreateAllocatesNothing(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	services := client.CoreV1().Services(ns)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
	}{
		{"allocated values", service("dry", corev1.ServiceTypeNodePort, 80)},
		{"requested values", func() *corev1.Service {
			s := service("dry-fixed", corev1.ServiceTypeNodePort, 80)
			s.Spec.ClusterIP = "10.43.33.33"
			s.Spec.Ports[0].NodePort = 30333
			return s
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answered, err := services.Create(ctx, tc.svc, dry)
			if err != nil {
				t.Fatal(err)
			}
			ip, port := answered.Spec.ClusterIP, answered.Spec.Ports[0].NodePort
			if !inServiceCIDR(ip) || port < 30000 || port > 32767 {
				t.Fatalf("dry run answered %s:%d, want the values a real create would give", ip, port)
			}
			if _, err := services.Get(ctx, tc.svc.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("dry-run service was stored: %v", err)
			}
			real := service(tc.svc.Name+"-real", corev1.ServiceTypeNodePort, 80)
			real.Spec.ClusterIP = ip
			real.Spec.Ports[0].NodePort = port
			if _, err := services.Create(ctx, real, metav1.CreateOptions{}); err != nil {
				t.Errorf("the address and port a dry run answered are not free: %v", err)
			}
		})
	}
}
