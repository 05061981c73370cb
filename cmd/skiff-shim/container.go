package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// container is the shim's live view of one container; rec is guarded by server.mu.
type container struct {
	rec shim.Container
	// lc is libcontainer's handle: the one that started the container, or one loaded from its state
	// for a container adopted from a previous shim. Nil for an exited record whose state is gone.
	lc *libcontainer.Container
	// memCgroup is the container's memory cgroup directory, where its OOM kills are counted.
	memCgroup string
	oom       atomic.Bool
	removing  bool // guarded by server.mu
	// failed marks a container whose start was undone: its exit is no event.
	failed atomic.Bool

	started chan struct{} // closed once the started event is out (or will never be)
	exited  chan struct{} // closed once rec says exited
	fileMu  sync.Mutex    // serializes writes of the record file
	logs    sync.WaitGroup
	host    []*os.File // our ends of the container's stdio, closed after it exits
	// stdio is what attach reaches; set by start, nil for a container adopted from an earlier shim.
	stdio *attachStdio
}

func (c *container) snapshot() shim.Container {
	rec := c.rec
	rec.Labels = maps.Clone(rec.Labels)
	return rec
}

func (s *server) list() []shim.Container {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := make([]shim.Container, 0, len(s.containers))
	for _, c := range s.containers {
		recs = append(recs, c.snapshot())
	}
	slices.SortFunc(recs, func(a, b shim.Container) int { return strings.Compare(a.ID, b.ID) })
	return recs
}

func (s *server) get(id string) (shim.Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return shim.Container{}, fmt.Errorf("%w: %s", shim.ErrNotFound, id)
	}
	return c.snapshot(), nil
}

func validateCreate(req *shim.CreateRequest) error {
	if err := shim.ValidateID(req.ID); err != nil {
		return err
	}
	spec := req.Spec
	switch {
	case spec == nil:
		return fmt.Errorf("%w: no spec", shim.ErrInvalid)
	case spec.Process == nil || len(spec.Process.Args) == 0:
		return fmt.Errorf("%w: spec has no process args", shim.ErrInvalid)
	case spec.Root == nil || !filepath.IsAbs(spec.Root.Path):
		return fmt.Errorf("%w: spec.root.path must be an absolute path to a prepared rootfs", shim.ErrInvalid)
	case spec.Linux == nil:
		return fmt.Errorf("%w: spec has no linux section", shim.ErrInvalid)
	case spec.Linux.Seccomp != nil && !seccomp.Enabled:
		return fmt.Errorf("%w: seccomp profiles need skiff-shim built with -tags seccomp", shim.ErrInvalid)
	case req.LogPath == "" || !filepath.IsAbs(req.LogPath):
		return fmt.Errorf("%w: log path %q must be absolute", shim.ErrInvalid, req.LogPath)
	}
	if fi, err := os.Stat(spec.Root.Path); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: rootfs %s is not a directory", shim.ErrInvalid, spec.Root.Path)
	}
	return nil
}

// create creates and starts a container, and returns its record once it runs. A container that
// could not start leaves neither record nor libcontainer state.
func (s *server) create(req shim.CreateRequest) (shim.Container, error) {
	if err := validateCreate(&req); err != nil {
		return shim.Container{}, err
	}
	c := &container{
		rec: shim.Container{
			ID: req.ID, Name: req.Name, Labels: req.Labels, State: shim.StateCreated,
			LogPath: req.LogPath, CreatedAt: time.Now().UTC(),
		},
		started: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return shim.Container{}, errors.New("shim is shutting down")
	}
	if _, ok := s.containers[req.ID]; ok {
		s.mu.Unlock()
		return shim.Container{}, fmt.Errorf("%w: %s", shim.ErrAlreadyExists, req.ID)
	}
	s.containers[req.ID] = c
	s.mu.Unlock()

	// The record exists before libcontainer's state does, so that a shim that dies in between leaves
	// a record for its successor to settle rather than an unnamed leftover.
	err := s.persist(c)
	if err == nil {
		err = s.start(c, &req)
	}
	if err != nil {
		c.failed.Store(true)
		close(c.started)
		s.forget(c)
		return shim.Container{}, fmt.Errorf("start container %s: %w", req.ID, err)
	}
	if err := s.persist(c); err != nil {
		s.logger.Print(err)
	}
	s.mu.Lock()
	rec := c.snapshot()
	s.mu.Unlock()
	s.publish(shim.Event{ID: rec.ID, Type: shim.EventStarted, Container: rec})
	close(c.started)
	return rec, nil
}

// forget drops a container's record, in memory and on disk.
func (s *server) forget(c *container) {
	s.mu.Lock()
	delete(s.containers, c.rec.ID)
	s.mu.Unlock()
	c.fileMu.Lock()
	defer c.fileMu.Unlock()
	if err := os.Remove(s.recordPath(c.rec.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Printf("remove record of %s: %v", c.rec.ID, err)
	}
}

// start runs the container's init through libcontainer and wires its output to the log.
func (s *server) start(c *container, req *shim.CreateRequest) (retErr error) {
	spec := req.Spec
	spec.Process.Terminal = req.TTY
	config, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: req.ID, Spec: spec})
	if err != nil {
		return fmt.Errorf("%w: convert spec: %v", shim.ErrInvalid, err)
	}
	process, err := newProcess(spec.Process)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(req.LogPath), 0o755); err != nil {
		return fmt.Errorf("log dir: %w", err)
	}
	logFile, err := openRotatingLog(req.LogPath, req.LogMaxSize, req.LogMaxFiles)
	if err != nil {
		return err
	}
	out := &criLog{w: logFile, now: time.Now, logger: s.logger}
	stdio := &attachStdio{}

	// child are the container's ends, closed here once it runs; host are ours, kept until it exits.
	var child, host []*os.File
	defer func() {
		if retErr != nil {
			logFile.Close()
		}
		for _, f := range child {
			f.Close()
		}
		if retErr != nil {
			for _, f := range host {
				f.Close()
			}
		}
	}()
	type stream struct {
		name string
		r    *os.File
	}
	var streams []stream
	var consoleParent *os.File
	if req.TTY {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("console socket: %w", err)
		}
		consoleParent = os.NewFile(uintptr(fds[0]), "console-parent")
		host = append(host, consoleParent)
		process.ConsoleSocket = os.NewFile(uintptr(fds[1]), "console-child")
		child = append(child, process.ConsoleSocket)
	} else {
		rootUID, err := config.HostRootUID()
		if err != nil {
			return err
		}
		rootGID, err := config.HostRootGID()
		if err != nil {
			return err
		}
		for _, name := range []string{"stdout", "stderr"} {
			r, w, err := os.Pipe()
			if err != nil {
				return err
			}
			child, host = append(child, w), append(host, r)
			// With a user namespace the container's root must own its ends to reopen them.
			if err := w.Chown(rootUID, rootGID); err != nil {
				return fmt.Errorf("chown %s pipe: %w", name, err)
			}
			streams = append(streams, stream{name, r})
		}
		process.Stdout, process.Stderr = child[0], child[1]
	}
	if req.Stdin {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		child, host = append(child, r), append(host, w)
		if !req.TTY {
			process.Stdin = r
			stdio.stdin = w
		}
	}

	lc, err := libcontainer.Create(s.lcRoot, req.ID, config)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer func() {
		if retErr != nil {
			s.destroyWhenDead(lc)
		}
	}()
	if err := s.saveProcessDefaults(req.ID, spec.Process); err != nil {
		return err
	}

	s.starting.RLock()
	err = lc.Run(process)
	var master *os.File
	if err == nil && req.TTY {
		// Our copy of the child end goes first, so that an init that never sends a terminal
		// gives us EOF instead of a wait without end.
		process.ConsoleSocket.Close()
		if master, err = recvFile(consoleParent); err == nil {
			host = append(host, master)
			stdio.console = master
			if req.Stdin {
				stdio.stdin = master
			}
			err = clearONLCR(master)
		}
	}
	var pid int
	var startTime uint64
	if err == nil {
		pid, err = process.Pid()
	}
	if err == nil {
		startTime, err = procStartTime(pid)
		if errors.Is(err, os.ErrNotExist) {
			// Already exited and not yet reaped: the record still wants its pid.
			startTime, err = 0, nil
		}
	}
	if err == nil {
		s.mu.Lock()
		c.lc = lc
		c.host = host
		c.stdio = stdio
		c.rec.State = shim.StateRunning
		c.rec.Pid, c.rec.PidStartTime = pid, startTime
		c.rec.StartedAt = time.Now().UTC()
		s.byPid[pid] = c
		s.mu.Unlock()
	} else if pid, perr := process.Pid(); perr == nil {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	s.starting.RUnlock()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}

	if master != nil {
		streams = append(streams, stream{"stdout", master})
	}
	for _, st := range streams {
		c.logs.Add(1)
		go func() {
			defer c.logs.Done()
			out.copy(st.name, stdio.tee(st.name, st.r))
		}()
	}
	// The log outlives the pipes: it closes once both copies are done.
	go func() {
		c.logs.Wait()
		logFile.Close()
	}()
	if st, err := lc.State(); err == nil {
		c.memCgroup = st.CgroupPaths["memory"]
		if c.memCgroup == "" {
			c.memCgroup = st.CgroupPaths[""]
		}
	}
	if ch, err := lc.NotifyOOM(); err == nil {
		go func() {
			for range ch {
				c.oom.Store(true)
			}
		}()
	} else {
		s.logger.Printf("container %s: OOM notification: %v", req.ID, err)
	}
	return nil
}

// destroyWhenDead removes a container whose start failed; its init, killed, may take a moment to go.
func (s *server) destroyWhenDead(lc *libcontainer.Container) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := lc.Destroy()
		if err == nil {
			return
		}
		if !errors.Is(err, libcontainer.ErrRunning) || time.Now().After(deadline) {
			s.logger.Printf("destroy %s after a failed start: %v", lc.ID(), err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish records the exit of a container: code and signal as the reaper saw them, or unknown for one
// that ended while no shim was its parent.
func (s *server) finish(c *container, code, sig int, unknown bool, at time.Time) {
	// The output is complete once every writer is gone. In its own pid namespace they all die with the
	// init; a process outside it could hold the pipe open, so the wait is bounded.
	drained := make(chan struct{})
	go func() { c.logs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		s.logger.Printf("container %s: output still open 2s after exit; closing it", c.rec.ID)
	}
	oom := !unknown && sig == int(unix.SIGKILL) && (c.oom.Load() || oomKills(c.memCgroup) > 0)

	s.mu.Lock()
	c.rec.State = shim.StateExited
	c.rec.FinishedAt = at.UTC()
	c.rec.ExitCode, c.rec.Signal, c.rec.OOMKilled = code, sig, oom
	switch {
	case unknown:
		c.rec.ExitCode = shim.ExitCodeUnknown
		c.rec.Reason = shim.ReasonUnknown
		c.rec.Message = "the container exited while its shim was not running; its exit code is lost"
	case oom:
		c.rec.Reason = shim.ReasonOOMKilled
	case code == 0:
		c.rec.Reason = shim.ReasonCompleted
	default:
		c.rec.Reason = shim.ReasonError
	}
	host := c.host
	c.host = nil
	s.mu.Unlock()
	for _, f := range host {
		f.Close()
	}
	if err := s.persist(c); err != nil {
		s.logger.Print(err)
	}
	close(c.exited)
	<-c.started
	if c.failed.Load() {
		return
	}
	s.mu.Lock()
	rec := c.snapshot()
	s.mu.Unlock()
	s.publish(shim.Event{ID: rec.ID, Type: shim.EventExited, Container: rec})
}

// oomKills returns how many processes the OOM killer killed in the memory cgroup at path (v1:
// memory.oom_control, v2: memory.events). It covers the race where the exit is seen before the OOM
// notification.
func oomKills(path string) int {
	if path == "" {
		return 0
	}
	for _, name := range []string{"memory.oom_control", "memory.events"} {
		b, err := os.ReadFile(filepath.Join(path, name))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "oom_kill "); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
	}
	return 0
}

func (s *server) signal(id string, sig int) error {
	if sig <= 0 || sig > 64 {
		return fmt.Errorf("%w: signal %d", shim.ErrInvalid, sig)
	}
	s.mu.Lock()
	c, ok := s.containers[id]
	var state shim.State
	var lc *libcontainer.Container
	if ok {
		state, lc = c.rec.State, c.lc
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("%w: %s", shim.ErrNotFound, id)
	case state == shim.StateExited:
		return nil
	case state == shim.StateCreated:
		return fmt.Errorf("%w: container %s is still starting", shim.ErrInvalid, id)
	case lc == nil:
		return fmt.Errorf("container %s: no libcontainer state to signal it through", id)
	}
	if err := lc.Signal(unix.Signal(sig)); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("signal %s: %w", id, err)
	}
	return nil
}

// remove kills a running container, waits for its exit, destroys its libcontainer state and cgroup
// and deletes its record.
func (s *server) remove(ctx context.Context, id string) error {
	s.mu.Lock()
	c, ok := s.containers[id]
	switch {
	case !ok:
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", shim.ErrNotFound, id)
	case c.rec.State == shim.StateCreated:
		s.mu.Unlock()
		return fmt.Errorf("%w: container %s is still starting", shim.ErrInvalid, id)
	case c.removing:
		s.mu.Unlock()
		return fmt.Errorf("%w: container %s is being removed", shim.ErrInvalid, id)
	}
	c.removing = true
	s.mu.Unlock()
	err := s.removeLocked(ctx, c)
	if err != nil {
		s.mu.Lock()
		c.removing = false
		s.mu.Unlock()
	}
	return err
}

func (s *server) removeLocked(ctx context.Context, c *container) error {
	id := c.rec.ID
	if err := s.signal(id, int(unix.SIGKILL)); err != nil {
		return err
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("container %s did not exit 10s after SIGKILL", id)
	case <-ctx.Done():
		return ctx.Err()
	}
	lc := c.lc
	if lc == nil {
		loaded, err := libcontainer.Load(s.lcRoot, id)
		switch {
		case errors.Is(err, libcontainer.ErrNotExist):
		case err != nil:
			return fmt.Errorf("load %s: %w", id, err)
		default:
			lc = loaded
		}
	}
	if lc != nil {
		if err := lc.Destroy(); err != nil {
			return fmt.Errorf("destroy %s: %w", id, err)
		}
	}
	s.forget(c)
	return nil
}

// recover settles the records a previous shim left: exited ones stay; running ones whose init still
// lives are adopted (watched through a pidfd, since they are not our children); the others exited
// while no shim watched, with an unknown code.
func (s *server) recover() error {
	recs, err := readRecords(s.recDir)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		c := &container{rec: rec, started: make(chan struct{}), exited: make(chan struct{})}
		close(c.started)
		s.containers[rec.ID] = c
		if rec.State == shim.StateExited {
			close(c.exited)
			continue
		}
		if pidfd, ok := openInit(rec.Pid, rec.PidStartTime); ok {
			lc, err := libcontainer.Load(s.lcRoot, rec.ID)
			if err != nil {
				s.logger.Printf("adopt %s: load libcontainer state: %v", rec.ID, err)
			} else {
				c.lc = lc
				if st, err := lc.State(); err == nil {
					c.memCgroup = st.CgroupPaths["memory"]
				}
			}
			go s.watchAdopted(c, pidfd)
			continue
		}
		go s.finish(c, shim.ExitCodeUnknown, 0, true, time.Now())
	}
	return s.removeOrphanStates()
}

// openInit returns a pidfd of the process pid if it is still the one that started at startTime.
func openInit(pid int, startTime uint64) (int, bool) {
	if pid <= 0 || startTime == 0 {
		return -1, false
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, false
	}
	// Checked after the pidfd is open: from here on the pid cannot be reused under us.
	if st, err := procStartTime(pid); err != nil || st != startTime {
		unix.Close(pidfd)
		return -1, false
	}
	return pidfd, true
}

func (s *server) watchAdopted(c *container, pidfd int) {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	unix.Close(pidfd)
	s.finish(c, shim.ExitCodeUnknown, 0, true, time.Now())
}

// removeOrphanStates destroys libcontainer states that have no record: starts that a dying shim left
// half done.
func (s *server) removeOrphanStates() error {
	entries, err := os.ReadDir(s.lcRoot)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, ok := s.containers[e.Name()]; ok || !e.IsDir() {
			continue
		}
		lc, err := libcontainer.Load(s.lcRoot, e.Name())
		if err != nil {
			s.logger.Printf("orphan state %s: %v", e.Name(), err)
			continue
		}
		_ = lc.Signal(unix.SIGKILL)
		s.destroyWhenDead(lc)
	}
	return nil
}

// newProcess is the container's init as libcontainer wants it; what the spec's process shares with
// the container (capabilities, no_new_privs, labels) is in the config already.
func newProcess(p *specs.Process) (*libcontainer.Process, error) {
	proc := &libcontainer.Process{
		Args: p.Args,
		Env:  p.Env,
		UID:  int(p.User.UID),
		GID:  int(p.User.GID),
		Cwd:  p.Cwd,
		Init: true,
	}
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	for _, g := range p.User.AdditionalGids {
		proc.AdditionalGroups = append(proc.AdditionalGroups, int(g))
	}
	for _, rl := range p.Rlimits {
		t, ok := rlimits[rl.Type]
		if !ok {
			return nil, fmt.Errorf("%w: unknown rlimit %q", shim.ErrInvalid, rl.Type)
		}
		proc.Rlimits = append(proc.Rlimits, configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft})
	}
	return proc, nil
}

var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// recvFile receives the one file descriptor libcontainer's init sends over the console socket: the
// master side of the container's terminal.
func recvFile(sock *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receive terminal: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive terminal: no file descriptor sent (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive terminal: want one file descriptor (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// clearONLCR keeps the terminal from turning "\n" into "\r\n", so that logged lines end cleanly.
func clearONLCR(f *os.File) error {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return fmt.Errorf("terminal attributes: %w", err)
	}
	t.Oflag &^= unix.ONLCR
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		return fmt.Errorf("terminal attributes: %w", err)
	}
	return nil
}
