package runc

import (
	goruntime "runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deniedSyscalls are the system calls the RuntimeDefault profile refuses: those that reach beyond the
// container (the kernel's modules, clock, keyring, swap, other processes' memory, new namespaces and
// mounts) and that the default capabilities do not already keep from it. It is a deny list, where
// containerd's default profile is an allow list of about 350 calls: the effect on what a container may
// do is the same for these calls, and a call the kernel adds later stays allowed, as it would for an
// unconfined one.
var deniedSyscalls = []string{
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
	"finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
	"init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
	"mbind", "mount", "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
	"open_by_handle_at", "open_tree", "perf_event_open", "pivot_root", "process_vm_readv",
	"process_vm_writev", "ptrace", "query_module", "quotactl", "quotactl_fd", "reboot", "request_key",
	"set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon", "sysfs", "_sysctl", "umount",
	"umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
}

// defaultSeccomp is the RuntimeDefault seccomp profile: everything allowed but deniedSyscalls, which
// fail with EPERM.
func defaultSeccomp() *specs.LinuxSeccomp {
	eperm := uint(1) // EPERM
	arch := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	if goruntime.GOARCH == "arm64" {
		arch = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	}
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: arch,
		Syscalls: []specs.LinuxSyscall{{
			Names: deniedSyscalls, Action: specs.ActErrno, ErrnoRet: &eperm,
		}},
	}
}
