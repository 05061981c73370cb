package podnet

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// errExist is what the kernel answers to adding what exists.
const errExist = unix.EEXIST

// isNotFound reports whether err says that a link does not exist.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// addrList lists the IPv4 addresses of a link. A dump that the kernel reports as interrupted (the
// addresses changed meanwhile) is asked again.
func addrList(list func(netlink.Link, int) ([]netlink.Addr, error), l netlink.Link) ([]netlink.Addr, error) {
	for try := 0; ; try++ {
		addrs, err := list(l, netlink.FAMILY_V4)
		if errors.Is(err, netlink.ErrDumpInterrupted) && try < 5 {
			continue
		}
		return addrs, err
	}
}

// ensureRunDir makes the run dir exist as a shared mount point, as `ip netns` does: a namespace mount
// below it then propagates to mount namespaces made later (a container's, before it pivots away), and
// its unmount too, so that no copy keeps a torn-down namespace alive.
func (n *Network) ensureRunDir() error {
	n.runDirMu.Lock()
	defer n.runDirMu.Unlock()
	if err := os.MkdirAll(n.runDir, 0o755); err != nil {
		return fmt.Errorf("make run dir: %w", err)
	}
	err := unix.Mount("", n.runDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make run dir %s shared: %w", n.runDir, err)
	}
	// EINVAL: not a mount point. Bind it on itself (recursively, to keep namespace mounts already
	// there), leave the parent's peer group so that mounts below do not propagate back into the parent
	// mount under our own, then make it a peer group of its own.
	if err := unix.Mount(n.runDir, n.runDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind run dir %s on itself: %w", n.runDir, err)
	}
	if err := unix.Mount("", n.runDir, "none", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make run dir %s private: %w", n.runDir, err)
	}
	if err := unix.Mount("", n.runDir, "none", unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("make run dir %s shared: %w", n.runDir, err)
	}
	return nil
}

// UnmountRunDir unmounts the run dir's own mount (the one Setup makes when the run dir is not a mount
// point) once no pod's namespace is left in it. It unmounts once: a mount that was there before Setup
// made its own is unmounted too if Setup made none. It is meant for uninstalling and tests; a run dir
// that is not a mount point is no error.
func (n *Network) UnmountRunDir() error {
	n.runDirMu.Lock()
	defer n.runDirMu.Unlock()
	left, err := n.List()
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("run dir %s still holds the namespaces of %d pods", n.runDir, len(left))
	}
	// One unmount only: a mount that was there before ours stays.
	err = unix.Unmount(n.runDir, unix.UMOUNT_NOFOLLOW)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount run dir %s: %w", n.runDir, err)
	}
	return nil
}

// isNamespaceMount reports whether path is a mounted namespace file (nsfs), as opposed to missing or
// a plain file left by an interrupted setup.
func isNamespaceMount(path string) (bool, error) {
	var st unix.Statfs_t
	err := unix.Statfs(path, &st)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// createNamespace makes a new network namespace and bind-mounts it at path, which must not exist.
func createNamespace(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create namespace file: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it leaves the agent's namespace for good, so the goroutine ends
		// with it locked and the Go runtime ends the thread instead of reusing it elsewhere.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mount network namespace at %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path) // the error that matters is the one above; Teardown retries the removal
		return err
	}
	return nil
}

// removeNamespace unmounts the namespace file at path, however often it is mounted, and removes it.
// What is already gone is no error.
func removeNamespace(path string) error {
	for {
		err := unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // not mounted (any more), or no file at all
		}
		if err != nil {
			return fmt.Errorf("unmount namespace %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove namespace file: %w", err)
	}
	return nil
}

// InNamespace runs fn with its OS thread in the network namespace mounted at path, e.g. to open a
// socket there (a socket stays in the namespace it was made in). fn runs on a goroutine of its own,
// locked to its thread; goroutines fn starts do not run in the namespace. If the thread cannot be moved
// back, it is not reused: the goroutine ends with it locked, and the runtime ends the thread.
func InNamespace(path string, fn func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		var fnErr error
		func() {
			// A panic in fn must not leave the thread in the namespace: it is reported as an error.
			defer func() {
				if r := recover(); r != nil {
					fnErr = fmt.Errorf("in network namespace %s: panic: %v", path, r)
				}
			}()
			fnErr = fn()
		}()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(fnErr, fmt.Errorf("leave network namespace %s: %w", path, err))
			return // still locked: the thread dies with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}
