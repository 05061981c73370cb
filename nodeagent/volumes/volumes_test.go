package volumes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAtomicWriterSwitchesVersionsAndRemovesWhatIsGone(t *testing.T) {
	dir := t.TempDir()
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	first, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "sub", "b")); got != "2" {
		t.Errorf("sub/b = %q", got)
	}
	if st, _ := os.Stat(filepath.Join(dir, "sub", "b")); st.Mode().Perm() != 0o600 {
		t.Errorf("sub/b mode %v, want 0600", st.Mode().Perm())
	}
	if target, _ := os.Readlink(filepath.Join(dir, "a")); target != "..data/a" {
		t.Errorf("a -> %q, want ..data/a", target)
	}
	// The same content again: nothing moves.
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(dir, dataLink)); again != first {
		t.Errorf("..data moved from %s to %s without a change", first, again)
	}
	// A reader that resolved the old version keeps reading it whole until the switch.
	oldA := filepath.Join(dir, first, "a")
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("new"), 0o644}, "c": {[]byte("3"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "a")); got != "new" {
		t.Errorf("a after the update = %q", got)
	}
	if got := read(t, filepath.Join(dir, "c")); got != "3" {
		t.Errorf("c = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("sub still there after it left the files: %v", err)
	}
	if _, err := os.Stat(oldA); !os.IsNotExist(err) {
		t.Errorf("old version still there: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 4 { // ..data, the version, a, c
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("entries %v, want ..data, one version, a and c", names)
	}
	if err := writeAtomic(dir, map[string]file{"../escape": {nil, 0o644}}); err == nil {
		t.Error("a path climbing out was written")
	}
}

// cluster is a real API server with the sources volumes read.
func cluster(t *testing.T) (kubernetes.Interface, *Manager) {
	t.Helper()
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	m := &Manager{Root: t.TempDir(), Sources: ClientSources{Client: client},
		Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
	return client, m
}

func podWith(volumes ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: uuid.NewUUID(),
			Labels: map[string]string{"app": "web", "tier": `a"b`}},
		Spec: corev1.PodSpec{Volumes: volumes, Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
}

func TestConfigMapSecretAndDownwardVolumes(t *testing.T) {
	requireRoot(t)
	client, m := cluster(t)
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
		corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		}}}},
		corev1.Volume{Name: "maybe", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}}},
	)
	vols, err := m.SetUp(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(vols["cfg"].HostPath, "k")); got != "v1" {
		t.Errorf("configmap file = %q", got)
	}
	if !vols["cfg"].ReadOnly {
		t.Error("configmap volume not read-only")
	}
	secretFile := filepath.Join(vols["sec"].HostPath, "password")
	if got := read(t, secretFile); got != "hunter2" {
		t.Errorf("secret file = %q", got)
	}
	if st, _ := os.Stat(secretFile); st.Mode().Perm() != 0o400 {
		t.Errorf("secret file mode %v, want the defaultMode 0400", st.Mode().Perm())
	}
	mounts := read(t, "/proc/self/mountinfo")
	if !strings.Contains(mounts, vols["sec"].HostPath+" ") {
		t.Errorf("the secret volume is not a mount of its own (tmpfs)")
	}
	if got := read(t, filepath.Join(vols["info"].HostPath, "labels")); got != "app=\"web\"\ntier=\"a\\\"b\"" {
		t.Errorf("labels file = %q", got)
	}
	if got := read(t, filepath.Join(vols["info"].HostPath, "mem")); got != "64" {
		t.Errorf("limits.memory in Mi = %q, want 64", got)
	}
	ents, err := os.ReadDir(vols["maybe"].HostPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "..") {
			t.Errorf("optional missing configmap: volume holds %s, want it empty", e.Name())
		}
	}

	// An edit reaches the volume at the next SetUp.
	cm.Data["k"] = "v2"
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(vols["cfg"].HostPath, "k")); got != "v2" {
		t.Errorf("configmap file after the edit = %q", got)
	}

	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(read(t, "/proc/self/mountinfo"), string(pod.UID)) {
		t.Error("mounts of the pod left after TearDown")
	}
	if _, err := os.Stat(m.podDir(pod.UID)); !os.IsNotExist(err) {
		t.Errorf("pod volume dir left: %v", err)
	}

	missing := podWith(corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}})
	if _, err := m.SetUp(ctx, missing); err == nil || !strings.Contains(err.Error(), `configmap "nope" not found`) {
		t.Errorf("missing configmap: %v", err)
	}
	_ = m.TearDown(ctx, missing.UID)
}

func TestEmptyDirMemoryIsATmpfsGoneAtTearDown(t *testing.T) {
	requireRoot(t)
	m := &Manager{Root: t.TempDir()}
	pod := podWith(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("8Mi"))}}},
		corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	vols, err := m.SetUp(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for line := range strings.Lines(read(t, "/proc/self/mountinfo")) {
		if strings.Contains(line, " "+vols["mem"].HostPath+" ") {
			found = strings.Contains(line, " tmpfs ") && strings.Contains(line, "size=8192k")
		}
	}
	if !found {
		t.Errorf("emptyDir Memory is not an 8Mi tmpfs")
	}
	if st, err := os.Stat(vols["disk"].HostPath); err != nil || st.Mode().Perm() != 0o777 {
		t.Errorf("disk emptyDir: %v %v, want a 0777 directory", st, err)
	}
	if err := m.TearDown(context.Background(), pod.UID); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(read(t, "/proc/self/mountinfo"), vols["mem"].HostPath) {
		t.Error("tmpfs left mounted")
	}
}

func TestHostPathTypesAreCheckedWithTheKubeletsMessages(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		typ     corev1.HostPathType
		wantErr string
	}{
		{dir, corev1.HostPathDirectory, ""},
		{file, corev1.HostPathDirectory, "hostPath type check failed: " + file + " is not a directory"},
		{dir, corev1.HostPathFile, "hostPath type check failed: " + dir + " is not a file"},
		{filepath.Join(dir, "none"), corev1.HostPathDirectory, "does not exist"},
		{filepath.Join(dir, "made"), corev1.HostPathDirectoryOrCreate, ""},
		{filepath.Join(dir, "sub", "made.txt"), corev1.HostPathFileOrCreate, ""},
		{dir, corev1.HostPathSocket, "is not a socket file"},
		{filepath.Join(dir, "anything"), corev1.HostPathUnset, ""},
	}
	for _, tc := range tests {
		err := checkHostPath(&corev1.HostPathVolumeSource{Path: tc.path, Type: &tc.typ})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s %s: %v", tc.typ, tc.path, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s %s: %v, want %q", tc.typ, tc.path, err, tc.wantErr)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "made")); err != nil || !st.IsDir() {
		t.Errorf("DirectoryOrCreate made no directory: %v", err)
	}
}

func TestSubPathStaysInsideTheVolume(t *testing.T) {
	vol := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(vol, "link")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"../x", "/etc", "a/../../x"} {
		if p, err := ResolveSubPath(vol, bad); err == nil {
			t.Errorf("subPath %q resolved to %s", bad, p)
		}
	}
	p, err := ResolveSubPath(vol, "link/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, vol+"/") {
		t.Errorf("a link to /etc led to %s, outside %s", p, vol)
	}
	made, err := ResolveSubPath(vol, "data/x")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(made); err != nil || !st.IsDir() || made != filepath.Join(vol, "data", "x") {
		t.Errorf("subPath data/x: %s %v", made, err)
	}
}
