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
// directory of its bound local or hostPath PersistentVolume (made here if missing, as local-path
// provisioners leave it to the node).
//
// Files of configMap, secret, downwardAPI and projected volumes are written atomically, as upstream's
// atomic writer: each version in its own timestamped directory, a `..data` link swapped by rename, and
// each top-level name a link into `..data`; so a reader sees the old set or the new one, never a mix.
// SetUp again rewrites them only when their content changed.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/nodeagent/downward"
)

// Sources are the API objects volumes are made from.
type Sources interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// ClientSources reads the sources from the API server.
type ClientSources struct{ Client kubernetes.Interface }

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

// Manager sets up and tears down pods' volumes under Root.
type Manager struct {
	Root    string
	Sources Sources
	// Allocatable is the node's, the limit of containers that set none, for resourceFieldRef.
	Allocatable corev1.ResourceList
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

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.podDir(uid), "volumes", plugin, name)
}

// SetUp prepares every volume of the pod and returns them by name. It is idempotent, and refreshes
// the content of configMap, secret, downwardAPI and projected volumes.
func (m *Manager) SetUp(ctx context.Context, pod *corev1.Pod) (map[string]Volume, error) {
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

func (m *Manager) setUp(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (Volume, error) {
	src := v.VolumeSource
	switch {
	case src.EmptyDir != nil:
		dir := m.volumeDir(pod.UID, pluginEmptyDir, v.Name)
		if src.EmptyDir.Medium == corev1.StorageMediumMemory {
			opts := "mode=0777"
			if l := src.EmptyDir.SizeLimit; l != nil && !l.IsZero() {
				opts += fmt.Sprintf(",size=%d", l.Value())
			}
			return Volume{HostPath: dir}, mountTmpfs(dir, opts)
		}
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir}, os.Chmod(dir, 0o777)
	case src.HostPath != nil:
		return Volume{HostPath: src.HostPath.Path}, checkHostPath(src.HostPath)
	case src.ConfigMap != nil:
		dir := m.volumeDir(pod.UID, pluginConfigMap, v.Name)
		files, err := m.configMapFiles(ctx, pod.Namespace, src.ConfigMap.LocalObjectReference.Name, src.ConfigMap.Items,
			src.ConfigMap.Optional, modeOr(src.ConfigMap.DefaultMode, 0o644))
		if err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir, ReadOnly: true}, writeAtomic(dir, files)
	case src.Secret != nil:
		dir := m.volumeDir(pod.UID, pluginSecret, v.Name)
		// Secrets never reach the disk.
		if err := mountTmpfs(dir, "mode=0755"); err != nil {
			return Volume{}, err
		}
		files, err := m.secretFiles(ctx, pod.Namespace, src.Secret.SecretName, src.Secret.Items, src.Secret.Optional,
			modeOr(src.Secret.DefaultMode, 0o644))
		if err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir, ReadOnly: true}, writeAtomic(dir, files)
	case src.DownwardAPI != nil:
		dir := m.volumeDir(pod.UID, pluginDownward, v.Name)
		files, err := m.downwardFiles(pod, src.DownwardAPI.Items, modeOr(src.DownwardAPI.DefaultMode, 0o644))
		if err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir, ReadOnly: true}, writeAtomic(dir, files)
	case src.Projected != nil:
		dir := m.volumeDir(pod.UID, pluginProjected, v.Name)
		if err := mountTmpfs(dir, "mode=0755"); err != nil {
			return Volume{}, err
		}
		files, err := m.projectedFiles(ctx, pod, src.Projected)
		if err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: dir, ReadOnly: true}, writeAtomic(dir, files)
	case src.PersistentVolumeClaim != nil:
		path, err := m.claimPath(ctx, pod.Namespace, src.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return Volume{}, err
		}
		return Volume{HostPath: path, ReadOnly: src.PersistentVolumeClaim.ReadOnly}, nil
	}
	return Volume{}, errors.New("volume type not supported on this node")
}

func modeOr(mode *int32, def os.FileMode) os.FileMode {
	if mode == nil {
		return def
	}
	return os.FileMode(*mode) & os.ModePerm
}

// file is one file of an atomically written volume.
type file struct {
	data []byte
	mode os.FileMode
}

func notFound(err error) bool { return apierrors.IsNotFound(err) }

// keyFiles maps data to files by items (every key when there are none), as upstream.
func keyFiles(kind, namespace, name string, data map[string][]byte, items []corev1.KeyToPath, optional bool, mode os.FileMode) (map[string]file, error) {
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
			return nil, fmt.Errorf("%s %s/%s references non-existent %s key: %s", kind, namespace, name, kind, it.Key)
		}
		files[it.Path] = file{v, modeOr(it.Mode, mode)}
	}
	return files, nil
}

func (m *Manager) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, mode os.FileMode) (map[string]file, error) {
	opt := optional != nil && *optional
	cm, err := m.Sources.ConfigMap(ctx, ns, name)
	if notFound(err) && opt {
		return map[string]file{}, nil
	}
	if notFound(err) {
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configmap", ns, name, data, items, opt, mode)
}

func (m *Manager) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, mode os.FileMode) (map[string]file, error) {
	opt := optional != nil && *optional
	s, err := m.Sources.Secret(ctx, ns, name)
	if notFound(err) && opt {
		return map[string]file{}, nil
	}
	if notFound(err) {
		return nil, fmt.Errorf("secret %q not found", name)
	}
	if err != nil {
		return nil, err
	}
	return keyFiles("secret", ns, name, s.Data, items, opt, mode)
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
		files[it.Path] = file{[]byte(v), modeOr(it.Mode, mode)}
	}
	return files, nil
}

func (m *Manager) projectedFiles(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) (map[string]file, error) {
	mode := modeOr(p.DefaultMode, 0o644)
	files := map[string]file{}
	for _, src := range p.Sources {
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
			err = errors.New("serviceAccountToken projections need the TokenRequest API, which this cluster does not serve yet")
		default:
			err = errors.New("projected source not supported on this node")
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

// claimPath is the directory of the PersistentVolume bound to the claim, made if missing.
func (m *Manager) claimPath(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := m.Sources.PersistentVolumeClaim(ctx, ns, claim)
	if err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %q: %w", claim, err)
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", claim)
	}
	pv, err := m.Sources.PersistentVolume(ctx, pvc.Spec.VolumeName)
	if err != nil {
		return "", fmt.Errorf("persistentvolume %q: %w", pvc.Spec.VolumeName, err)
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
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// As local-path provisioners: the directory is the node's to make, open to any user.
		if err := os.MkdirAll(path, 0o777); err != nil {
			return "", err
		}
		if err := os.Chmod(path, 0o777); err != nil {
			return "", err
		}
	}
	return path, nil
}

// checkHostPath checks a hostPath volume's type, creating what the *OrCreate types allow, with the
// kubelet's messages.
func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	path := hp.Path
	st, err := os.Stat(path)
	exists := err == nil
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(path, 0o755)
		}
		if !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", path)
		}
		return nil
	case corev1.HostPathFileOrCreate:
		if !exists {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			if f != nil {
				f.Close()
			}
			return nil
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", path)
		}
		return nil
	}
	if !exists {
		return fmt.Errorf("hostPath type check failed: %s does not exist", path)
	}
	ok := false
	what := ""
	switch t {
	case corev1.HostPathDirectory:
		ok, what = st.IsDir(), "a directory"
	case corev1.HostPathFile:
		ok, what = st.Mode().IsRegular(), "a file"
	case corev1.HostPathSocket:
		ok, what = st.Mode()&os.ModeSocket != 0, "a socket file"
	case corev1.HostPathCharDev:
		ok, what = st.Mode()&os.ModeCharDevice != 0, "a character device"
	case corev1.HostPathBlockDev:
		ok, what = st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0, "a block device"
	default:
		return fmt.Errorf("hostPath type %q is not supported", t)
	}
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not %s", path, what)
	}
	return nil
}

// mountTmpfs mounts a tmpfs on dir unless one is there.
func mountTmpfs(dir, opts string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var st, parent unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	if err := unix.Stat(filepath.Dir(dir), &parent); err != nil {
		return err
	}
	if st.Dev != parent.Dev {
		return nil // mounted already
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// TearDown unmounts and removes every volume directory of the pod. Host paths and persistent volumes
// are left alone: they are not under the pod's directory.
func (m *Manager) TearDown(_ context.Context, uid types.UID) error {
	dir := m.podDir(uid)
	plugins, err := os.ReadDir(filepath.Join(dir, "volumes"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, p := range plugins {
		vols, _ := os.ReadDir(filepath.Join(dir, "volumes", p.Name()))
		for _, v := range vols {
			path := filepath.Join(dir, "volumes", p.Name(), v.Name())
			for {
				err := unix.Unmount(path, unix.MNT_DETACH)
				if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
					break
				}
				if err != nil {
					return fmt.Errorf("unmount volume %s: %w", path, err)
				}
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove volumes of pod %s: %w", uid, err)
	}
	return nil
}

// ResolveSubPath returns subPath inside the volume directory, made if it does not exist. Absolute
// paths and paths that climb out are refused; symbolic links are resolved as if the volume were the
// root, so that none leads out of it.
func ResolveSubPath(volume, subPath string) (string, error) {
	if filepath.IsAbs(subPath) {
		return "", fmt.Errorf("subPath %q must be a relative path", subPath)
	}
	for _, part := range strings.Split(filepath.ToSlash(subPath), "/") {
		if part == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..'", subPath)
		}
	}
	path, err := securejoin.SecureJoin(volume, subPath)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(path, 0o755); err != nil {
			return "", err
		}
	}
	return path, nil
}
