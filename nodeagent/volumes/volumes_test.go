package volumes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/testenv"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounts tmpfs: needs root")
	}
}

// objects are the sources as the agent's informers would hold them, missing ones NotFound as the
// API says it.
type objects struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	claims     map[string]*corev1.PersistentVolumeClaim
	volumes    map[string]*corev1.PersistentVolume
}

func (o *objects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := o.configMaps[ns+"/"+name]; ok {
		return cm.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (o *objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[ns+"/"+name]; ok {
		return s.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (o *objects) PersistentVolumeClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if c, ok := o.claims[ns+"/"+name]; ok {
		return c.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumeclaims"), name)
}

func (o *objects) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	if v, ok := o.volumes[name]; ok {
		return v.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumes"), name)
}

func podWith(volumes ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: uuid.NewUUID(),
			Labels:      map[string]string{"tier": `a"b`, "app": "web"},
			Annotations: map[string]string{"note": "line1\nline2\t\u00e9"}},
		Spec: corev1.PodSpec{Volumes: volumes, Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			}}}},
	}
}

func sourceObjects() *objects {
	return &objects{
		configMaps: map[string]*corev1.ConfigMap{"default/cfg": {
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cfg"},
			Data:       map[string]string{"k": "v1", "other": "o"},
			BinaryData: map[string][]byte{"bin": {0, 1, 2, 0xff}},
		}},
		secrets: map[string]*corev1.Secret{"default/sec": {
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sec"},
			Data:       map[string][]byte{"password": []byte("hunter2")},
		}},
	}
}

// isMount says whether path is a mount point of fstype.
func isMount(t *testing.T, path, fstype string) bool {
	t.Helper()
	for line := range strings.Lines(read(t, "/proc/self/mountinfo")) {
		fields := strings.Fields(line)
		if len(fields) > 4 && fields[4] == path {
			_, post, _ := strings.Cut(line, " - ")
			return strings.HasPrefix(post, fstype+" ")
		}
	}
	return false
}

// mountedUnder says whether anything is mounted under dir.
func mountedUnder(t *testing.T, dir string) bool {
	t.Helper()
	return strings.Contains(read(t, "/proc/self/mountinfo"), " "+dir+"/")
}

type wantFiles map[string]struct {
	content string
	mode    os.FileMode
}

func TestContentVolumes(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		source  corev1.VolumeSource
		token   TokenFunc
		want    wantFiles
		tmpfs   bool
		wantErr string
	}{
		{
			name:   "a configMap gives every key, binaryData too, 0644 by default",
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			want:   wantFiles{"k": {"v1", 0o644}, "other": {"o", 0o644}, "bin": {"\x00\x01\x02\xff", 0o644}},
		},
		{
			name: "configMap items choose keys, paths and modes, under defaultMode",
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				DefaultMode: ptr.To(int32(0o440)),
				Items:       []corev1.KeyToPath{{Key: "k", Path: "conf/k.txt"}, {Key: "other", Path: "o", Mode: ptr.To(int32(0o600))}}}},
			want: wantFiles{"conf/k.txt": {"v1", 0o440}, "o": {"o", 0o600}},
		},
		{
			name:    "a missing configMap is an error naming it",
			source:  corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}},
			wantErr: `configmap "nope" not found`,
		},
		{
			name: "a missing optional configMap is an empty volume",
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"},
				Optional: ptr.To(true)}},
			want: wantFiles{},
		},
		{
			name: "an item of a missing key is an error",
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items: []corev1.KeyToPath{{Key: "absent", Path: "a"}}}},
			wantErr: `configmap "cfg" references non-existent key: absent`,
		},
		{
			name: "an item of a missing key of an optional configMap is left out",
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Optional: ptr.To(true), Items: []corev1.KeyToPath{{Key: "absent", Path: "a"}, {Key: "k", Path: "k"}}}},
			want: wantFiles{"k": {"v1", 0o644}},
		},
		{
			name: "an item path climbing out is refused",
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items: []corev1.KeyToPath{{Key: "k", Path: "../../k"}}}},
			wantErr: "invalid file path",
		},
		{
			name:   "a secret is on a tmpfs, 0644 by default",
			source: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}},
			want:   wantFiles{"password": {"hunter2", 0o644}},
			tmpfs:  true,
		},
		{
			name:    "a missing secret is an error naming it",
			source:  corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gone"}},
			wantErr: `secret "gone" not found`,
		},
		{
			name: "downwardAPI files as upstream formats them",
			source: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
				{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
				{Path: "cpu-req", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}},
				{Path: "cpu-limit", Mode: ptr.To(int32(0o400)), ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu"}},
			}}},
			want: wantFiles{
				"labels": {"app=\"web\"\ntier=\"a\\\"b\"", 0o644},
				// strconv.Quote rules, as upstream's %q: escapes for controls, printable Unicode kept.
				"annotations": {`note="line1\nline2\té"`, 0o644},
				"name":        {"p", 0o644},
				"namespace":   {"default", 0o644},
				"mem":         {"64", 0o644},
				"cpu-req":     {"250", 0o644},
				// No limit: the node's allocatable, 2 cores.
				"cpu-limit": {"2", 0o400},
			},
		},
		{
			name: "a projected volume gathers configMap, secret, downwardAPI and token on a tmpfs",
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr.To(int32(0o600)), Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "k", Path: "k"}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "api"}},
			}}},
			token: func(_ context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) ([]byte, error) {
				return []byte("token-for-" + pod.Name + "-" + p.Audience), nil
			},
			want:  wantFiles{"k": {"v1", 0o600}, "password": {"hunter2", 0o600}, "ns": {"default", 0o600}, "token": {"token-for-p-api", 0o600}},
			tmpfs: true,
		},
		{
			name: "a projected token without a token maker is refused",
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}},
			wantErr: "serviceAccountToken token: this node makes no service account tokens",
		},
		{
			name: "a failing token maker is an error",
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}},
			token: func(context.Context, *corev1.Pod, *corev1.ServiceAccountTokenProjection) ([]byte, error) {
				return nil, errors.New("denied")
			},
			wantErr: "serviceAccountToken token: denied",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manager{Root: t.TempDir(), Sources: sourceObjects(), Token: tc.token,
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}}
			pod := podWith(corev1.Volume{Name: "v", VolumeSource: tc.source})
			t.Cleanup(func() {
				if err := m.TearDown(context.Background(), pod.UID); err != nil {
					t.Error(err)
				}
			})
			vols, err := m.SetUp(context.Background(), pod)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("SetUp: %v, want an error with %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), `volume "v"`) {
					t.Errorf("error %q does not name the volume", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := vols["v"]
			if !v.ReadOnly {
				t.Error("content volume not read-only")
			}
			if !strings.HasPrefix(v.HostPath, filepath.Join(m.Root, string(pod.UID), "volumes", "kubernetes.io~")) {
				t.Errorf("host path %s is not in the pod's volumes dir", v.HostPath)
			}
			var names []string
			for p, w := range tc.want {
				wantFile(t, filepath.Join(v.HostPath, p), w.content, w.mode)
				names = append(names, strings.SplitN(p, "/", 2)[0])
			}
			slices.Sort(names)
			if got := visible(t, v.HostPath); !slices.Equal(got, slices.Compact(names)) {
				t.Errorf("volume holds %v, want %v", got, names)
			}
			if isMount(t, v.HostPath, "tmpfs") != tc.tmpfs {
				t.Errorf("volume on a tmpfs: %v, want %v", !tc.tmpfs, tc.tmpfs)
			}
		})
	}
}

func TestUpdateMovesDataOnlyOnAChange(t *testing.T) {
	requireRoot(t)
	src := sourceObjects()
	m := &Manager{Root: t.TempDir(), Sources: src}
	pod := podWith(
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	ctx := context.Background()
	t.Cleanup(func() { _ = m.TearDown(ctx, pod.UID) })
	vols, err := m.SetUp(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	data := func(vol string) string {
		target, err := os.Readlink(filepath.Join(vols[vol].HostPath, dataLink))
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	cfg0, sec0 := data("cfg"), data("sec")
	if err := m.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if data("cfg") != cfg0 || data("sec") != sec0 {
		t.Error("..data moved without a change of the sources")
	}

	src.configMaps["default/cfg"].Data = map[string]string{"k": "v2", "added": "a"}
	src.configMaps["default/cfg"].BinaryData = nil
	if err := m.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if data("cfg") == cfg0 {
		t.Error("..data of the configMap did not move on a change")
	}
	if data("sec") != sec0 {
		t.Error("..data of the unchanged secret moved")
	}
	wantFile(t, filepath.Join(vols["cfg"].HostPath, "k"), "v2", 0o644)
	if got := visible(t, vols["cfg"].HostPath); !slices.Equal(got, []string{"added", "k"}) {
		t.Errorf("configMap volume holds %v after the update, want [added k]", got)
	}

	// A source gone is an error, and the volume keeps its last content.
	delete(src.secrets, "default/sec")
	if err := m.Update(ctx, pod); err == nil || !strings.Contains(err.Error(), `secret "sec" not found`) {
		t.Errorf("Update with the secret gone: %v", err)
	}
	wantFile(t, filepath.Join(vols["sec"].HostPath, "password"), "hunter2", 0o644)
}

func TestEmptyDirs(t *testing.T) {
	requireRoot(t)
	m := &Manager{Root: t.TempDir()}
	pod := podWith(
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("8Mi"))}}},
		corev1.Volume{Name: "mem-unsized", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	ctx := context.Background()
	vols, err := m.SetUp(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	// Again: idempotent, no second mount stacked on the first.
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	mem := vols["mem"].HostPath
	if mem != filepath.Join(m.Root, string(pod.UID), "volumes", "kubernetes.io~empty-dir", "mem") {
		t.Errorf("memory emptyDir at %s", mem)
	}
	var memMounts int
	for line := range strings.Lines(read(t, "/proc/self/mountinfo")) {
		if strings.Contains(line, " "+mem+" ") {
			memMounts++
			if !strings.Contains(line, " - tmpfs ") || !strings.Contains(line, "size=8192k") {
				t.Errorf("memory emptyDir mount %q, want an 8Mi tmpfs", line)
			}
		}
	}
	if memMounts != 1 {
		t.Errorf("memory emptyDir mounted %d times, want once", memMounts)
	}
	if !isMount(t, vols["mem-unsized"].HostPath, "tmpfs") {
		t.Error("memory emptyDir without a size limit is not a tmpfs")
	}
	if isMount(t, vols["disk"].HostPath, "tmpfs") {
		t.Error("disk emptyDir is a mount")
	}
	for name, want := range map[string]os.FileMode{"disk": os.ModeDir | 0o777, "mem": os.ModeDir | os.ModeSticky | 0o777} {
		if st, err := os.Stat(vols[name].HostPath); err != nil || st.Mode() != want {
			t.Errorf("%s emptyDir: %v %v, want %v", name, st.Mode(), err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(mem, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if mountedUnder(t, m.podDir(pod.UID)) {
		t.Error("mounts of the pod left after TearDown")
	}
	if _, err := os.Stat(m.podDir(pod.UID)); !os.IsNotExist(err) {
		t.Errorf("pod volume dir left: %v", err)
	}
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Errorf("TearDown again: %v", err)
	}
	bad := podWith(corev1.Volume{Name: "huge", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumHugePages}}})
	if _, err := m.SetUp(ctx, bad); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("hugepages emptyDir: %v", err)
	}
	_ = m.TearDown(ctx, bad.UID)
}

func TestBadNamesAreRefusedBeforeAnythingIsMade(t *testing.T) {
	m := &Manager{Root: t.TempDir()}
	for _, pod := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{UID: "../escape"}},
		{ObjectMeta: metav1.ObjectMeta{UID: ""}},
		podWith(corev1.Volume{Name: "../x", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
	} {
		if _, err := m.SetUp(context.Background(), pod); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("pod %q volumes %v: %v, want an invalid name error", pod.UID, pod.Spec.Volumes, err)
		}
	}
	if _, err := m.SetUp(context.Background(), nil); err == nil {
		t.Error("a nil pod set up")
	}
	if err := m.TearDown(context.Background(), "../.."); err == nil {
		t.Error("TearDown of a UID climbing out succeeded")
	}
	if ents, _ := os.ReadDir(m.Root); len(ents) != 0 {
		t.Errorf("made %d entries for refused pods", len(ents))
	}
}

func TestPersistentVolumeClaims(t *testing.T) {
	base := t.TempDir()
	claimed := func(name string) *corev1.ObjectReference {
		return &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: name}
	}
	src := &objects{
		claims: map[string]*corev1.PersistentVolumeClaim{
			"default/data":    boundClaim("data", "pv-data"),
			"default/local":   boundClaim("local", "pv-local"),
			"default/pending": {ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pending"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			"default/nfs":     boundClaim("nfs", "pv-nfs"),
			"default/stolen":  boundClaim("stolen", "pv-data"),
		},
		volumes: map[string]*corev1.PersistentVolume{
			// As the local-path provisioner makes them: a hostPath directory created on mount.
			"pv-data": {ObjectMeta: metav1.ObjectMeta{Name: "pv-data"}, Spec: corev1.PersistentVolumeSpec{ClaimRef: claimed("data"),
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: filepath.Join(base, "storage", "pv-data_default_data"), Type: ptr.To(corev1.HostPathDirectoryOrCreate)}}}},
			"pv-local": {ObjectMeta: metav1.ObjectMeta{Name: "pv-local"}, Spec: corev1.PersistentVolumeSpec{ClaimRef: claimed("local"),
				PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: filepath.Join(base, "local")}}}},
			"pv-nfs": {ObjectMeta: metav1.ObjectMeta{Name: "pv-nfs"}, Spec: corev1.PersistentVolumeSpec{ClaimRef: claimed("nfs"),
				PersistentVolumeSource: corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}}},
		},
	}
	tests := []struct {
		claim    string
		readOnly bool
		want     string
		wantErr  string
	}{
		{claim: "data", want: filepath.Join(base, "storage", "pv-data_default_data")},
		{claim: "local", readOnly: true, want: filepath.Join(base, "local")},
		{claim: "pending", wantErr: `persistentvolumeclaim "pending" is not bound`},
		{claim: "missing", wantErr: `persistentvolumeclaim "missing" not found`},
		{claim: "nfs", wantErr: "neither local nor hostPath"},
		{claim: "stolen", wantErr: `persistentvolume "pv-data" is not bound to persistentvolumeclaim default/stolen`},
	}
	for _, tc := range tests {
		t.Run(tc.claim, func(t *testing.T) {
			m := &Manager{Root: t.TempDir(), Sources: src}
			pod := podWith(corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: tc.claim, ReadOnly: tc.readOnly}}})
			vols, err := m.SetUp(context.Background(), pod)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("SetUp: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if vols["v"].HostPath != tc.want || vols["v"].ReadOnly != tc.readOnly {
				t.Errorf("volume %+v, want %s read-only %v", vols["v"], tc.want, tc.readOnly)
			}
			if st, err := os.Stat(tc.want); err != nil || st.Mode() != os.ModeDir|0o777 {
				t.Errorf("claim directory: %v %v, want a 0777 directory", st, err)
			}
			if err := os.WriteFile(filepath.Join(tc.want, "kept"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := m.TearDown(context.Background(), pod.UID); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(tc.want, "kept")); err != nil {
				t.Errorf("TearDown touched the persistent volume: %v", err)
			}
		})
	}
}

func boundClaim(name, volume string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
}

func TestHostPathVolumeIsTheHostPath(t *testing.T) {
	dir := t.TempDir()
	m := &Manager{Root: t.TempDir()}
	pod := podWith(corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
		Path: dir + "/made/", Type: ptr.To(corev1.HostPathDirectoryOrCreate)}}})
	vols, err := m.SetUp(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if vols["h"].HostPath != filepath.Join(dir, "made") || vols["h"].ReadOnly {
		t.Errorf("hostPath volume %+v, want %s", vols["h"], filepath.Join(dir, "made"))
	}
	if err := m.TearDown(context.Background(), pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "made")); err != nil {
		t.Errorf("TearDown removed the host path: %v", err)
	}
}

func TestPodsOnDisk(t *testing.T) {
	m := &Manager{Root: filepath.Join(t.TempDir(), "volumes")}
	if uids, err := m.PodsOnDisk(); err != nil || len(uids) != 0 {
		t.Fatalf("no root yet: %v %v, want none", uids, err)
	}
	a, b := podWith(corev1.Volume{Name: "x", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
		podWith(corev1.Volume{Name: "x", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	for _, p := range []*corev1.Pod{a, b} {
		if _, err := m.SetUp(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	uids, err := m.PodsOnDisk()
	if err != nil {
		t.Fatal(err)
	}
	want := []types.UID{a.UID, b.UID}
	slices.Sort(uids)
	slices.Sort(want)
	if !slices.Equal(uids, want) {
		t.Errorf("PodsOnDisk = %v, want %v", uids, want)
	}
	if err := m.TearDown(context.Background(), a.UID); err != nil {
		t.Fatal(err)
	}
	if uids, _ := m.PodsOnDisk(); !slices.Equal(uids, []types.UID{b.UID}) {
		t.Errorf("PodsOnDisk after a TearDown = %v, want [%s]", uids, b.UID)
	}
}

// ClientSources reads from a real API server, NotFound included.
func TestClientSourcesAgainstAnAPIServer(t *testing.T) {
	requireRoot(t)
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	m := &Manager{Root: t.TempDir(), Sources: ClientSources{Client: client}}
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cfg"}, Data: map[string]string{"k": "v1"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sec"}, Data: map[string][]byte{"password": []byte("hunter2")}}
	if _, err := client.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := podWith(
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptr.To(int32(0o400))}}},
		corev1.Volume{Name: "maybe", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}}},
	)
	t.Cleanup(func() { _ = m.TearDown(ctx, pod.UID) })
	vols, err := m.SetUp(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(vols["cfg"].HostPath, "k"), "v1", 0o644)
	wantFile(t, filepath.Join(vols["sec"].HostPath, "password"), "hunter2", 0o400)
	if got := visible(t, vols["maybe"].HostPath); len(got) != 0 {
		t.Errorf("optional missing configmap: volume holds %v, want it empty", got)
	}
	cm.Data["k"] = "v2"
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(vols["cfg"].HostPath, "k"), "v2", 0o644)

	missing := podWith(corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}})
	t.Cleanup(func() { _ = m.TearDown(ctx, missing.UID) })
	if _, err := m.SetUp(ctx, missing); err == nil || !strings.Contains(err.Error(), `configmap "nope" not found`) {
		t.Errorf("missing configmap: %v", err)
	}
}

func TestMountTablePathsAreUnescaped(t *testing.T) {
	for in, want := range map[string]string{
		`/plain/path`:         "/plain/path",
		`/data\040dir/vol`:    "/data dir/vol",
		`/tab\011and\134back`: "/tab\tand\\back",
		`/trailing\04`:        `/trailing\04`,
		`/not\0octal9`:        `/not\0octal9`,
	} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}
