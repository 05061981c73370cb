// Package volumes prepares a pod's volumes on the node as host directories that the runtime
// bind-mounts into containers, as upstream's kubelet volume plugins do:
//
//	ROOT/<pod uid>/volumes/kubernetes.io~empty-dir/<name>     a directory, or a tmpfs for medium Memory
//	ROOT/<pod uid>/volumes/kubernetes.io~configmap/<name>     files of a ConfigMap
//	ROOT/<pod uid>/volumes/kubernetes.io~secret/<name>        files of a Secret, on a tmpfs
//	ROOT/<pod uid>/volumes/kubernetes.io~downward-api/<name>  the pod's own fields
//	ROOT/<pod uid>/volumes/kubernetes.io~projected/<name>     several of those in one directory
//
// hostPath volumes are the host path itself, after the type check; a persistentVolumeClaim is the
// directory of its bound local or hostPath PersistentVolume (made 0777 here if missing, as
// local-path provisioners leave it to the node). Secret and projected volumes live on a tmpfs of
// their own, so that secrets never reach the disk.
//
// Files of configMap, secret, downwardAPI and projected volumes are written atomically, as upstream's
// atomic writer: each version in its own timestamped directory, a `..data` link swapped by rename, and
// each top-level name a link into `..data`; so a reader sees the old set or the new one, never a mix.
// SetUp again, or Update, rewrites them only when their content changed.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/nodeagent/downward"
)

// Sources are the API objects volumes are made from, so that this package needs no client of its
// own: the agent may serve them from its informers. A missing object is an apierrors NotFound error.
type Sources interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// ClientSources reads the sources from the API server, one GET each.
type ClientSources struct{ Client kubernetes.Interface }

var _ Sources = ClientSources{}

func (s ClientSources) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return s.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
}

func (s ClientSources) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return s.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (s ClientSources) PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return s.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
}

func (s ClientSources) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	return s.Client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
}

// Volume is a volume ready on the host.
type Volume struct {
	HostPath string
	ReadOnly bool
}

// TokenFunc gives the content of a projected serviceAccountToken for pod. It is called at every
// SetUp and Update, so it should return the same token until that needs renewing, as the kubelet's
// token manager does; else the volume is rewritten each time.
type TokenFunc func(ctx context.Context, pod *corev1.Pod, projection *corev1.ServiceAccountTokenProjection) ([]byte, error)

// Manager sets up and tears down pods' volumes under Root, one directory per pod UID.
type Manager struct {
	Root    string
	Sources Sources
	// Allocatable is the node's, the limit of containers that set none, for resourceFieldRef.
	Allocatable corev1.ResourceList
	// Token makes projected serviceAccountToken files; without it they are refused.
	Token TokenFunc
	// Now names atomically written versions; time.Now when nil.
	Now func() time.Time
}

// Plugin directory names, as the kubelet's.
const (
	pluginEmptyDir  = "kubernetes.io~empty-dir"
	pluginConfigMap = "kubernetes.io~configmap"
	pluginSecret    = "kubernetes.io~secret"
	pluginDownward  = "kubernetes.io~downward-api"
	pluginProjected = "kubernetes.io~projected"
)

func (m *Manager) podDir(uid types.UID) string { return filepath.Join(m.Root, string(uid)) }

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.podDir(uid), "volumes", plugin, name)
}

// SetUp prepares every volume of the pod and returns them by name. It is idempotent, and refreshes
// the content of configMap, secret, downwardAPI and projected volumes.
func (m *Manager) SetUp(ctx context.Context, pod *corev1.Pod) (map[string]Volume, error) {
	if err := m.validPod(pod); err != nil {
		return nil, err
	}
	out := make(map[string]Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		vol, err := m.setUp(ctx, pod, v)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		out[v.Name] = vol
	}
	return out, nil
}

// Update rewrites the content of the pod's configMap, secret, downwardAPI and projected volumes
// whose sources changed, and leaves the others alone: for a running pod, whose other volumes are in
// use as they are. Every volume is tried; the errors are joined.
func (m *Manager) Update(ctx context.Context, pod *corev1.Pod) error {
	if err := m.validPod(pod); err != nil {
		return err
	}
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		src := v.VolumeSource
		if src.ConfigMap == nil && src.Secret == nil && src.DownwardAPI == nil && src.Projected == nil {
			continue
		}
		if _, err := m.setUp(ctx, pod, v); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}

// validPod refuses what would put the pod's volumes somewhere else than its own directory.
func (m *Manager) validPod(pod *corev1.Pod) error {
	if pod == nil {
		return errors.New("no pod")
	}
	if err := validName("pod UID", string(pod.UID)); err != nil {
		return err
	}
	for _, v := range pod.Spec.Volumes {
		if err := validName("volume name", v.Name); err != nil {
			return err
		}
	}
	return nil
}

// validName refuses names that are not one path element.
func validName(what, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("invalid %s %q", what, name)
	}
	return nil
}

func (m *Manager) setUp(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (Volume, error) {
	src := v.VolumeSource
	switch {
	case src.EmptyDir != nil:
		dir := m.volumeDir(pod.UID, pluginEmptyDir, v.Name)
		switch src.EmptyDir.Medium {
		case corev1.StorageMediumDefault:
			// 0777 whatever the umask, as the kubelet: containers run as any user.
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return Volume{}, err
			}
			return Volume{HostPath: dir}, os.Chmod(dir, 0o777)
		case corev1.StorageMediumMemory:
			var opts []string
			if l := src.EmptyDir.SizeLimit; l != nil && l.Sign() > 0 {
				opts = append(opts, "size="+strconv.FormatInt(l.Value(), 10))
			}
			return Volume{HostPath: dir}, mountTmpfs(dir, opts)
		}
		return Volume{}, fmt.Errorf("emptyDir medium %q is not supported on this node", src.EmptyDir.Medium)
	case src.HostPath != nil:
		return Volume{HostPath: filepath.Clean(src.HostPath.Path)}, checkHostPath(src.HostPath)
	case src.ConfigMap != nil:
		dir := m.volumeDir(pod.UID, pluginConfigMap, v.Name)
		files, err := m.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items,
			src.ConfigMap.Optional, modeOr(src.ConfigMap.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode))
		if err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir, ReadOnly: true}, writeAtomic(dir, files, m.now())
	case src.Secret != nil:
		dir := m.volumeDir(pod.UID, pluginSecret, v.Name)
		files, err := m.secretFiles(ctx, pod.Namespace, src.Secret.SecretName, src.Secret.Items, src.Secret.Optional,
			modeOr(src.Secret.DefaultMode, corev1.SecretVolumeSourceDefaultMode))
		if err != nil {
			return Volume{}, err
		}
		// Secrets never reach the disk.
		if err := mountTmpfs(dir, nil); err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir, ReadOnly: true}, writeAtomic(dir, files, m.now())
	case src.DownwardAPI != nil:
		dir := m.volumeDir(pod.UID, pluginDownward, v.Name)
		files, err := m.downwardFiles(pod, src.DownwardAPI.Items, modeOr(src.DownwardAPI.DefaultMode, corev1.DownwardAPIVolumeSourceDefaultMode))
		if err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir, ReadOnly: true}, writeAtomic(dir, files, m.now())
	case src.Projected != nil:
		dir := m.volumeDir(pod.UID, pluginProjected, v.Name)
		files, err := m.projectedFiles(ctx, pod, src.Projected)
		if err != nil {
			return Volume{}, err
		}
		// A projection may hold secrets and tokens: on a tmpfs too, as upstream.
		if err := mountTmpfs(dir, nil); err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir, ReadOnly: true}, writeAtomic(dir, files, m.now())
	case src.PersistentVolumeClaim != nil:
		path, err := m.claimPath(ctx, pod.Namespace, src.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: path, ReadOnly: src.PersistentVolumeClaim.ReadOnly}, nil
	}
	return Volume{}, errors.New("volume type not supported on this node")
}

// modeOr is mode's permission bits, or def when unset.
func modeOr(mode *int32, def int32) os.FileMode {
	if mode == nil {
		return os.FileMode(def) & os.ModePerm
	}
	return os.FileMode(*mode) & os.ModePerm
}

// keyFiles maps data to files by items (every key when there are none), as upstream: an item whose
// key is missing is an error unless the source is optional.
func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, optional bool, mode os.FileMode) (map[string]file, error) {
	files := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = file{v, mode}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %q references non-existent key: %s", kind, name, it.Key)
		}
		files[it.Path] = file{v, modeOr(it.Mode, int32(mode))}
	}
	return files, nil
}

func (m *Manager) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, mode os.FileMode) (map[string]file, error) {
	opt := optional != nil && *optional
	cm, err := m.Sources.ConfigMap(ctx, ns, name)
	switch {
	case apierrors.IsNotFound(err) && opt:
		return map[string]file{}, nil
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("configmap %q not found", name)
	case err != nil:
		return nil, fmt.Errorf("get configmap %q: %w", name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configmap", name, data, items, opt, mode)
}

func (m *Manager) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, mode os.FileMode) (map[string]file, error) {
	opt := optional != nil && *optional
	s, err := m.Sources.Secret(ctx, ns, name)
	switch {
	case apierrors.IsNotFound(err) && opt:
		return map[string]file{}, nil
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("secret %q not found", name)
	case err != nil:
		return nil, fmt.Errorf("get secret %q: %w", name, err)
	}
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		data[k] = v
	}
	// StringData is write-only on the API, but a Sources that is not the API may hold it.
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return keyFiles("secret", name, data, items, opt, mode)
}

func (m *Manager) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, mode os.FileMode) (map[string]file, error) {
	files := map[string]file{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = downward.FieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = downward.ResourceValue(pod, it.ResourceFieldRef.ContainerName, it.ResourceFieldRef, m.Allocatable)
		default:
			err = errors.New("one of fieldRef and resourceFieldRef is required")
		}
		if err != nil {
			return nil, fmt.Errorf("downward API file %s: %w", it.Path, err)
		}
		files[it.Path] = file{[]byte(v), modeOr(it.Mode, int32(mode))}
	}
	return files, nil
}

// projectedFiles gathers the files of every source of a projected volume into one directory; a
// later source's file wins over an earlier one of the same path.
func (m *Manager) projectedFiles(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) (map[string]file, error) {
	mode := modeOr(p.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
	files := map[string]file{}
	for i, src := range p.Sources {
		var part map[string]file
		var err error
		switch {
		case src.ConfigMap != nil:
			part, err = m.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, mode)
		case src.Secret != nil:
			part, err = m.secretFiles(ctx, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional, mode)
		case src.DownwardAPI != nil:
			part, err = m.downwardFiles(pod, src.DownwardAPI.Items, mode)
		case src.ServiceAccountToken != nil:
			part, err = m.tokenFile(ctx, pod, src.ServiceAccountToken, mode)
		default:
			err = fmt.Errorf("projected source %d: not supported on this node", i)
		}
		if err != nil {
			return nil, err
		}
		for k, v := range part {
			files[k] = v
		}
	}
	return files, nil
}

func (m *Manager) tokenFile(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection, mode os.FileMode) (map[string]file, error) {
	if m.Token == nil {
		return nil, fmt.Errorf("serviceAccountToken %s: this node makes no service account tokens", p.Path)
	}
	token, err := m.Token(ctx, pod, p)
	if err != nil {
		return nil, fmt.Errorf("serviceAccountToken %s: %w", p.Path, err)
	}
	return map[string]file{p.Path: {token, mode}}, nil
}

// claimPath is the directory of the PersistentVolume bound to the claim, made if missing.
func (m *Manager) claimPath(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := m.Sources.PersistentVolumeClaim(ctx, ns, claim)
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("persistentvolumeclaim %q not found", claim)
	}
	if err != nil {
		return "", fmt.Errorf("get persistentvolumeclaim %q: %w", claim, err)
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", claim)
	}
	pv, err := m.Sources.PersistentVolume(ctx, pvc.Spec.VolumeName)
	if err != nil {
		return "", fmt.Errorf("get persistentvolume %q: %w", pvc.Spec.VolumeName, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != ns || ref.Name != claim ||
		(ref.UID != "" && pvc.UID != "" && ref.UID != pvc.UID) {
		return "", fmt.Errorf("persistentvolume %q is not bound to persistentvolumeclaim %s/%s", pv.Name, ns, claim)
	}
	var path string
	switch {
	case pv.Spec.Local != nil:
		path = pv.Spec.Local.Path
	case pv.Spec.HostPath != nil:
		path = pv.Spec.HostPath.Path
	default:
		return "", fmt.Errorf("persistentvolume %q is neither local nor hostPath: not supported on this node", pv.Name)
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("persistentvolume %q: path %q is not absolute", pv.Name, path)
	}
	path = filepath.Clean(path)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// As local-path provisioners: the directory is the node's to make, open to any user.
		if err := os.MkdirAll(path, 0o777); err != nil {
			return "", fmt.Errorf("persistentvolume %q: %w", pv.Name, err)
		}
		if err := os.Chmod(path, 0o777); err != nil {
			return "", fmt.Errorf("persistentvolume %q: %w", pv.Name, err)
		}
	case err != nil:
		return "", fmt.Errorf("persistentvolume %q: %w", pv.Name, err)
	case !st.IsDir():
		return "", fmt.Errorf("persistentvolume %q: %s is not a directory", pv.Name, path)
	}
	return path, nil
}

// mountTmpfs mounts a tmpfs with opts on dir unless one is there already.
func mountTmpfs(dir string, opts []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, strings.Join(opts, ",")); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// isMountPoint says whether something is mounted on dir, by the mount table (a bind mount of the
// same file system would not show in device numbers).
func isMountPoint(dir string) (bool, error) {
	// The mount table holds paths without links.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, err
	}
	points, err := mountPoints()
	if err != nil {
		return false, err
	}
	return slices.Contains(points, real), nil
}

// mountPoints lists this mount namespace's mount points.
func mountPoints() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	var points []string
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		points = append(points, unescapeMountPath(fields[4]))
	}
	return points, nil
}

// unescapeMountPath undoes the kernel's octal escapes (\040 for a space) of mountinfo paths.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TearDown unmounts and removes every volume directory of the pod; a pod with nothing left is no
// error. Host paths and persistent volumes are left alone: they are not under the pod's directory.
// Nothing is removed while something under the pod's directory stays mounted, so that a removal
// never reaches into a mounted file system.
func (m *Manager) TearDown(_ context.Context, uid types.UID) error {
	if err := validName("pod UID", string(uid)); err != nil {
		return err
	}
	dir, err := filepath.EvalSymlinks(m.podDir(uid))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pod %s volumes: %w", uid, err)
	}
	points, err := mountPoints()
	if err != nil {
		return err
	}
	var under []string
	for _, p := range points {
		if within(dir, p) {
			under = append(under, p)
		}
	}
	// Deepest first; and as often as listed, for mounts stacked on one point.
	slices.SortFunc(under, func(a, b string) int { return len(b) - len(a) })
	for _, p := range under {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount volume %s: %w", p, err)
		}
	}
	if len(under) > 0 {
		left, err := mountPoints()
		if err != nil {
			return err
		}
		for _, p := range left {
			if within(dir, p) {
				return fmt.Errorf("volume %s of pod %s is still mounted", p, uid)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove volumes of pod %s: %w", uid, err)
	}
	return nil
}

// PodsOnDisk lists the UIDs of the pods that have a directory under Root, for the agent to tear down
// the volumes of pods it no longer runs, after a restart say.
func (m *Manager) PodsOnDisk() ([]types.UID, error) {
	ents, err := os.ReadDir(m.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod volume directories: %w", err)
	}
	var uids []types.UID
	for _, e := range ents {
		if e.IsDir() {
			uids = append(uids, types.UID(e.Name()))
		}
	}
	return uids, nil
}
