package runc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/crilog"
)

// mountRootfs mounts the container's overlay root in dir: the image's layers read-only below dir/upper.
func mountRootfs(dir string, layers []string) (string, error) {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	if len(layers) == 0 {
		return "", errors.New("image has no layers")
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(layers, ":"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if len(opts) >= os.Getpagesize() {
		return "", fmt.Errorf("overlay options of %d layers are longer than a page", len(layers))
	}
	if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mount overlay root: %w", err)
	}
	return rootfs, nil
}

// unmountRootfs unmounts dir/rootfs if it is mounted. Detaching lets a root that something still
// holds open go once it is let go.
func unmountRootfs(dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	for {
		err := unix.Unmount(rootfs, unix.MNT_DETACH)
		switch {
		case err == nil:
			continue // stacked mounts: unmount them all
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		default:
			return fmt.Errorf("unmount container root %s: %w", rootfs, err)
		}
	}
}

// cgroupRoot is where cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// removeCgroup removes the cgroup path (such as /skiff/pod<uid>) in every hierarchy, children first:
// on cgroup v1 each controller has its own tree, on v2 there is one.
func removeCgroup(path string) error {
	dirs := []string{filepath.Join(cgroupRoot, path)}
	if ents, err := os.ReadDir(cgroupRoot); err == nil {
		for _, e := range ents {
			if e.IsDir() || e.Type()&os.ModeSymlink == 0 {
				dirs = append(dirs, filepath.Join(cgroupRoot, e.Name(), path))
			}
		}
	}
	var errs []error
	for _, d := range dirs {
		if err := removeCgroupDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func removeCgroupDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeCgroupDir(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// writeEtcFiles writes the pod's hosts, hostname and resolv.conf, shared by its containers.
func (r *Runtime) writeEtcFiles(pod *corev1.Pod, podIP string) error {
	dir := filepath.Join(r.podDir(pod.UID), "etc")
	hostname := podHostname(pod)
	var hosts []byte
	if pod.Spec.HostNetwork {
		var err error
		if hosts, err = os.ReadFile("/etc/hosts"); err != nil {
			return fmt.Errorf("read the node's /etc/hosts: %w", err)
		}
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	} else {
		hosts = hostsFile(pod, podIP, hostname, r.opts.ClusterDomain)
	}
	resolv, err := r.opts.ResolvConf(pod)
	if err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	for name, data := range map[string][]byte{"hosts": hosts, "hostname": []byte(hostname + "\n"), "resolv.conf": resolv} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("pod %s: %w", name, err)
		}
	}
	return nil
}

// podHostname is spec.hostname, else the pod's name, cut to 63 characters as upstream.
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// hostsFile is the /etc/hosts the kubelet writes for a pod with its own network.
func hostsFile(pod *corev1.Pod, podIP, hostname, domain string) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if pod.Spec.Subdomain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", podIP, hostname, pod.Spec.Subdomain, pod.Namespace, domain, hostname)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// nodeResolvConf is the node's resolv.conf without loopback nameservers, which a pod cannot reach; with
// none left, the pod gets none.
func nodeResolvConf(*corev1.Pod) ([]byte, error) {
	data, err := os.ReadFile("/etc/resolv.conf")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" &&
			(strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), sc.Err()
}

// readHead returns at most n bytes of the file, "" if it cannot be read.
func readHead(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return string(b)
}

// logTail returns the last lines of a CRI log, at most maxBytes of them, as the kubelet's fallback
// termination message.
func logTail(path string, lines int64, maxBytes int) string {
	var buf bytes.Buffer
	if err := crilog.Read(context.Background(), path, crilog.Options{TailLines: &lines}, &buf, &buf); err != nil {
		return ""
	}
	out := buf.Bytes()
	if len(out) > maxBytes {
		out = out[len(out)-maxBytes:]
	}
	return string(out)
}
