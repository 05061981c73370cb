package history

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/skiffhq/skiff/testenv"
)

var setKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

func testSet(image string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-web",
			Annotations: map[string]string{"kubernetes.io/change-cause": "set image " + image}},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
		},
	}
}

func rev(name string, revision int64, created time.Time, data string) *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Revision:   revision,
		Data:       runtime.RawExtension{Raw: []byte(data)},
	}
}

func names(revs []*appsv1.ControllerRevision) []string {
	var out []string
	for _, r := range revs {
		out = append(out, r.Name)
	}
	return out
}

func TestNameCutsLongPrefixesToFitADNSSubdomain(t *testing.T) {
	tests := []struct {
		prefix, hash, want string
	}{
		{"web", "abc", "web-abc"},
		{strings.Repeat("x", 223), "h", strings.Repeat("x", 223) + "-h"},
		{strings.Repeat("x", 300), "h", strings.Repeat("x", 223) + "-h"},
	}
	for _, tc := range tests {
		if got := Name(tc.prefix, tc.hash); got != tc.want {
			t.Errorf("Name(%d chars, %q) = %d chars, want %d", len(tc.prefix), tc.hash, len(got), len(tc.want))
		}
	}
}

func TestHashDependsOnDataAndCollisionCount(t *testing.T) {
	data := []byte(`{"spec":{}}`)
	if Hash(data, nil) != Hash(data, nil) {
		t.Fatal("hash of the same data differs")
	}
	if Hash(data, nil) == Hash([]byte(`{"spec":{"x":1}}`), nil) {
		t.Error("different data hash the same")
	}
	if Hash(data, ptr.To[int32](0)) == Hash(data, ptr.To[int32](1)) {
		t.Error("collision count does not change the hash")
	}
	for _, c := range Hash(data, ptr.To[int32](7)) {
		if strings.ContainsRune("aeiou", c) {
			t.Errorf("hash %q has a vowel", Hash(data, ptr.To[int32](7)))
		}
	}
}

func TestTemplatePatchReplacesTheTemplateAndRestoresIt(t *testing.T) {
	v1 := testSet("nginx:1")
	patch, err := TemplatePatch(v1)
	if err != nil {
		t.Fatal(err)
	}
	var decoded map[string]map[string]map[string]any
	if err := json.Unmarshal(patch, &decoded); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	if len(decoded) != 1 || len(decoded["spec"]) != 1 {
		t.Fatalf("patch %s holds more than spec.template", patch)
	}
	if decoded["spec"]["template"]["$patch"] != "replace" {
		t.Errorf("patch %s does not replace the template", patch)
	}

	v2 := testSet("nginx:2")
	v2.Spec.Template.Spec.Containers = append(v2.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
	restored, err := Apply(v2, &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: patch}})
	if err != nil {
		t.Fatal(err)
	}
	if got := restored.Spec.Template.Spec.Containers; len(got) != 1 || got[0].Image != "nginx:1" {
		t.Errorf("restored containers = %+v, want only web with nginx:1", got)
	}
	if *restored.Spec.Replicas != 3 || restored.Name != "web" {
		t.Errorf("apply changed more than the template: %+v", restored.ObjectMeta)
	}
}

func TestTemplatePatchOfAnObjectWithoutTemplateFails(t *testing.T) {
	if _, err := TemplatePatch(&corev1.ConfigMap{}); err == nil {
		t.Fatal("want an error for an object without spec.template")
	}
}

func TestNewNamesLabelsAndOwnsTheRevision(t *testing.T) {
	set := testSet("nginx:1")
	data, _ := TemplatePatch(set)
	r := New(set, setKind, set.Spec.Template.Labels, data, 4, ptr.To[int32](2))
	hash := Hash(data, ptr.To[int32](2))
	if r.Name != "web-"+hash || r.Labels[HashLabel] != hash || r.Labels["app"] != "web" {
		t.Errorf("name %q labels %v, want web-%s with app=web and the hash", r.Name, r.Labels, hash)
	}
	if r.Revision != 4 || r.Namespace != "default" {
		t.Errorf("revision %d namespace %q", r.Revision, r.Namespace)
	}
	if ref := metav1.GetControllerOf(r); ref == nil || ref.UID != set.UID || ref.Kind != "StatefulSet" {
		t.Errorf("controller = %+v", ref)
	}
	if r.Annotations["kubernetes.io/change-cause"] != "set image nginx:1" {
		t.Errorf("annotations = %v, want the owner's", r.Annotations)
	}
	set.Spec.Template.Labels["app"] = "changed"
	if r.Labels["app"] != "web" {
		t.Error("revision shares its label map with the template")
	}
}

func TestSortOrdersByRevisionThenCreationThenName(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	revs := []*appsv1.ControllerRevision{
		rev("c", 2, t0, ""),
		rev("b", 1, t0.Add(time.Second), ""),
		rev("a", 1, t0.Add(time.Second), ""),
		rev("d", 1, t0, ""),
		rev("e", 3, t0, ""),
	}
	Sort(revs)
	if got, want := strings.Join(names(revs), ","), "d,a,b,c,e"; got != want {
		t.Errorf("sorted = %s, want %s", got, want)
	}
}

func TestNextFollowsTheHighestRevision(t *testing.T) {
	t0 := time.Now()
	tests := []struct {
		revs []*appsv1.ControllerRevision
		want int64
	}{
		{nil, 1},
		{[]*appsv1.ControllerRevision{rev("a", 1, t0, "")}, 2},
		{[]*appsv1.ControllerRevision{rev("a", 7, t0, ""), rev("b", 3, t0, "")}, 8},
	}
	for _, tc := range tests {
		if got := Next(tc.revs); got != tc.want {
			t.Errorf("Next(%v) = %d, want %d", names(tc.revs), got, tc.want)
		}
	}
}

func TestFindEqualComparesRecordedState(t *testing.T) {
	t0 := time.Now()
	revs := []*appsv1.ControllerRevision{rev("a", 1, t0, "x"), rev("b", 2, t0, "y"), rev("c", 3, t0, "x")}
	if got := strings.Join(names(FindEqual(revs, rev("n", 9, t0, "x"))), ","); got != "a,c" {
		t.Errorf("equal to x = %s, want a,c", got)
	}
	if got := FindEqual(revs, rev("n", 9, t0, "z")); len(got) != 0 {
		t.Errorf("equal to z = %v, want none", names(got))
	}
	if !Equal(nil, nil) || Equal(revs[0], nil) {
		t.Error("nil revisions compare wrongly")
	}
}

func TestExpiredDeletesOldestRevisionsNotLiveBeyondTheLimit(t *testing.T) {
	t0 := time.Now()
	revs := []*appsv1.ControllerRevision{
		rev("r1", 1, t0, ""), rev("r2", 2, t0, ""), rev("r3", 3, t0, ""), rev("r4", 4, t0, ""), rev("r5", 5, t0, ""),
	}
	liveSet := func(live ...string) func(*appsv1.ControllerRevision) bool {
		return func(r *appsv1.ControllerRevision) bool {
			for _, l := range live {
				if r.Name == l {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name  string
		live  []string
		limit int32
		want  string
	}{
		{"within the limit nothing goes", []string{"r5"}, 4, ""},
		{"oldest go first", []string{"r5"}, 2, "r1,r2"},
		{"live revisions are kept and not counted", []string{"r1", "r5"}, 1, "r2,r3"},
		{"zero keeps only live ones", []string{"r2", "r5"}, 0, "r1,r3,r4"},
		{"negative keeps everything", nil, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(names(Expired(revs, liveSet(tc.live...), tc.limit)), ","); got != tc.want {
				t.Errorf("expired = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStoreAgainstAnAPIServer proves the writes: creation, collisions, reuse on rollback, renumbering,
// adoption and deletion.
func TestStoreAgainstAnAPIServer(t *testing.T) {
	env := testenv.New(t)
	c, err := client.New(env.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "history-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	set := testSet("nginx:1")
	set.Namespace = ns.Name
	set.UID = ""
	if err := c.Create(ctx, set); err != nil {
		t.Fatal(err)
	}
	store := Store{Client: c}
	selector := labels.SelectorFromSet(set.Spec.Selector.MatchLabels)
	list := func() []*appsv1.ControllerRevision {
		t.Helper()
		revs, err := store.List(ctx, set, selector)
		if err != nil {
			t.Fatal(err)
		}
		Sort(revs)
		return revs
	}
	current := func(image string, count *int32) *appsv1.ControllerRevision {
		t.Helper()
		s := testSet(image)
		s.ObjectMeta = set.ObjectMeta
		data, err := TemplatePatch(s)
		if err != nil {
			t.Fatal(err)
		}
		r, err := store.Current(ctx, set, setKind, s.Spec.Template.Labels, data, list(), count)
		if err != nil {
			t.Fatalf("current revision for %s: %v", image, err)
		}
		return r
	}

	var count int32
	r1 := current("nginx:1", &count)
	if r1.Revision != 1 || !strings.HasPrefix(r1.Name, "web-") {
		t.Fatalf("first revision %s has number %d", r1.Name, r1.Revision)
	}
	if again := current("nginx:1", &count); again.Name != r1.Name || again.Revision != 1 {
		t.Errorf("unchanged template made revision %s/%d, want %s/1", again.Name, again.Revision, r1.Name)
	}
	r2 := current("nginx:2", &count)
	if r2.Revision != 2 || r2.Name == r1.Name {
		t.Fatalf("second template made %s/%d", r2.Name, r2.Revision)
	}
	back := current("nginx:1", &count)
	if back.Name != r1.Name || back.Revision != 3 {
		t.Errorf("rollback made %s/%d, want %s renumbered to 3", back.Name, back.Revision, r1.Name)
	}
	if got := len(list()); got != 2 {
		t.Errorf("%d revisions after a rollback, want 2", got)
	}

	t.Run("a name taken by other data is a collision", func(t *testing.T) {
		s := testSet("nginx:3")
		s.ObjectMeta = set.ObjectMeta
		data, _ := TemplatePatch(s)
		squatter := New(set, setKind, s.Spec.Template.Labels, []byte(`{"spec":{"template":{"$patch":"replace"}}}`), 99, &count)
		squatter.Name = Name(set.Name, Hash(data, &count))
		if err := c.Create(ctx, squatter); err != nil {
			t.Fatal(err)
		}
		before := count
		r, err := store.Create(ctx, set, New(set, setKind, s.Spec.Template.Labels, data, 4, &count), &count)
		if err != nil {
			t.Fatal(err)
		}
		if count != before+1 || r.Name != Name(set.Name, Hash(data, &count)) || r.Labels[HashLabel] != Hash(data, &count) {
			t.Errorf("after a collision: count %d (was %d), name %s, hash label %s", count, before, r.Name, r.Labels[HashLabel])
		}
		again, err := store.Create(ctx, set, New(set, setKind, s.Spec.Template.Labels, data, 4, &count), &count)
		if err != nil || again.Name != r.Name {
			t.Errorf("creating the same state again = %v, %v; want the existing %s", again, err, r.Name)
		}
	})

	t.Run("orphans are listed and adopted, others' revisions are not", func(t *testing.T) {
		orphan := New(set, setKind, set.Spec.Template.Labels, []byte(`{"orphan":true}`), 50, nil)
		orphan.OwnerReferences = nil
		foreign := New(set, setKind, set.Spec.Template.Labels, []byte(`{"foreign":true}`), 51, nil)
		foreign.OwnerReferences[0].UID = "someone-else"
		for _, r := range []*appsv1.ControllerRevision{orphan, foreign} {
			if err := c.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		var found *appsv1.ControllerRevision
		for _, r := range list() {
			if r.Name == foreign.Name {
				t.Errorf("revision of another owner listed")
			}
			if r.Name == orphan.Name {
				found = r
			}
		}
		if found == nil {
			t.Fatal("orphan not listed")
		}
		adopted, err := store.Adopt(ctx, set, setKind, found)
		if err != nil {
			t.Fatal(err)
		}
		if !metav1.IsControlledBy(adopted, set) {
			t.Errorf("adopted revision owners = %+v", adopted.OwnerReferences)
		}
		if _, err := store.Adopt(ctx, set, setKind, adopted); err == nil {
			t.Error("adopting a controlled revision succeeded")
		}
	})

	t.Run("delete removes a revision and tolerates one already gone", func(t *testing.T) {
		if err := store.Delete(ctx, r2); err != nil {
			t.Fatal(err)
		}
		if err := store.Delete(ctx, r2); err != nil {
			t.Errorf("deleting again: %v", err)
		}
		for _, r := range list() {
			if r.Name == r2.Name {
				t.Error("deleted revision still listed")
			}
		}
	})
}
