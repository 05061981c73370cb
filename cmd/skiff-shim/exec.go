package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// processDefaultsFile holds, in the container's libcontainer state directory, the spec's process of
// the container, which exec'd processes start from. It lives there so that Destroy removes it and a
// shim that adopts the container finds it; libcontainer keeps no copy of the env or user.
const processDefaultsFile = "skiff-process.json"

// outputDrainTimeout bounds the wait for a process's output after it exited: a child it left behind
// may hold its stdout open for good.
const outputDrainTimeout = 2 * time.Second

func (s *server) saveProcessDefaults(id string, p *specs.Process) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.lcRoot, id, processDefaultsFile), b); err != nil {
		return fmt.Errorf("save process defaults of %s: %w", id, err)
	}
	return nil
}

func (s *server) loadProcessDefaults(id string) (*specs.Process, error) {
	b, err := os.ReadFile(filepath.Join(s.lcRoot, id, processDefaultsFile))
	if err != nil {
		return nil, fmt.Errorf("process defaults of %s: %w", id, err)
	}
	var p specs.Process
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("process defaults of %s: %w", id, err)
	}
	return &p, nil
}

// running returns the container id and its libcontainer handle if its init runs.
func (s *server) running(id string) (*container, *libcontainer.Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("%w: %s", shim.ErrNotFound, id)
	case c.rec.State == shim.StateCreated:
		return nil, nil, fmt.Errorf("%w: container %s is still starting", shim.ErrNotRunning, id)
	case c.rec.State == shim.StateExited:
		return nil, nil, fmt.Errorf("%w: container %s exited with code %d", shim.ErrNotRunning, id, c.rec.ExitCode)
	case c.removing:
		return nil, nil, fmt.Errorf("%w: container %s is being removed", shim.ErrNotRunning, id)
	case c.lc == nil:
		return nil, nil, fmt.Errorf("container %s: no libcontainer state to run a process through", id)
	}
	return c, c.lc, nil
}

func validateExec(req *shim.ExecRequest) error {
	if len(req.Args) == 0 || req.Args[0] == "" {
		return fmt.Errorf("%w: exec needs args", shim.ErrInvalid)
	}
	if req.Cwd != "" && !filepath.IsAbs(req.Cwd) {
		return fmt.Errorf("%w: exec cwd %q is not absolute", shim.ErrInvalid, req.Cwd)
	}
	for _, kv := range req.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("%w: exec env %q is not NAME=VALUE", shim.ErrInvalid, kv)
		}
	}
	return nil
}

// execProcess is one exec'd process while it runs: our ends of its stdio and its exit status.
type execProcess struct {
	pid    int
	status chan unix.WaitStatus // the reaper's, for this pid
	// pidfd names the process for kill even after its pid is reaped and reused; -1 once closed, so
	// that a late kill never reaches whatever reuses the descriptor's number.
	pidMu sync.Mutex
	pidfd int
	// outputs are read to their end and sent as frames; console is also outputs' only member with a
	// terminal. stdin is where FrameStdin goes (the pipe, or the terminal).
	outputs []execOutput
	stdin   *os.File
	console *os.File
	closers []*os.File
}

type execOutput struct {
	frame shim.FrameType
	r     *os.File
}

func (p *execProcess) close() {
	for _, f := range p.closers {
		f.Close()
	}
	p.pidMu.Lock()
	defer p.pidMu.Unlock()
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// startExec runs req in the container of lc and registers the process with the reaper.
func (s *server) startExec(lc *libcontainer.Container, req *shim.ExecRequest) (_ *execProcess, retErr error) {
	id := lc.ID()
	defaults, err := s.loadProcessDefaults(id)
	if err != nil {
		return nil, err
	}
	process, err := newProcess(defaults)
	if err != nil {
		return nil, err
	}
	process.Init = false
	process.Args = req.Args
	process.Env = shim.MergeEnv(defaults.Env, req.Env)
	if req.Cwd != "" {
		process.Cwd = req.Cwd
	}
	if u := req.User; u != nil {
		process.UID, process.GID = int(u.UID), int(u.GID)
		process.AdditionalGroups = nil
		for _, g := range u.AdditionalGids {
			process.AdditionalGroups = append(process.AdditionalGroups, int(g))
		}
	}

	p := &execProcess{pidfd: -1, status: make(chan unix.WaitStatus, 1)}
	var child []*os.File
	defer func() {
		for _, f := range child {
			f.Close()
		}
		if retErr != nil {
			p.close()
		}
	}()
	var consoleParent *os.File
	if req.TTY {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		consoleParent = os.NewFile(uintptr(fds[0]), "console-parent")
		p.closers = append(p.closers, consoleParent)
		process.ConsoleSocket = os.NewFile(uintptr(fds[1]), "console-child")
		child = append(child, process.ConsoleSocket)
		if size := req.ConsoleSize; size != nil {
			process.ConsoleWidth, process.ConsoleHeight = size.Width, size.Height
		}
	} else {
		config := lc.Config()
		rootUID, err := config.HostRootUID()
		if err != nil {
			return nil, err
		}
		rootGID, err := config.HostRootGID()
		if err != nil {
			return nil, err
		}
		for _, frame := range []shim.FrameType{shim.FrameStdout, shim.FrameStderr} {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			child, p.closers = append(child, w), append(p.closers, r)
			// With a user namespace the container's root must own its ends to reopen them.
			if err := w.Chown(rootUID, rootGID); err != nil {
				return nil, fmt.Errorf("chown exec pipe: %w", err)
			}
			p.outputs = append(p.outputs, execOutput{frame, r})
		}
		process.Stdout, process.Stderr = child[0], child[1]
		if req.Stdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			child, p.closers = append(child, r), append(p.closers, w)
			process.Stdin = r
			p.stdin = w
		}
	}

	s.starting.RLock()
	err = lc.Run(process)
	if err == nil {
		p.pid, err = process.Pid()
	}
	if err == nil {
		// Still our unreaped child here, so the pid cannot name anything else yet.
		var pidfd int
		pidfd, err = unix.PidfdOpen(p.pid, 0)
		if err != nil {
			_ = unix.Kill(p.pid, unix.SIGKILL)
			err = fmt.Errorf("pidfd of exec'd process: %w", err)
		} else {
			p.pidfd = pidfd
		}
		s.mu.Lock()
		s.execs[p.pid] = p.status
		s.mu.Unlock()
	}
	s.starting.RUnlock()
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotRunning) {
			return nil, fmt.Errorf("%w: container %s: %v", shim.ErrNotRunning, id, err)
		}
		// A process that did start is registered with the reaper, which collects it.
		return nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	if req.TTY {
		process.ConsoleSocket.Close()
		master, err := recvPollable(consoleParent)
		if err != nil {
			p.kill()
			return nil, fmt.Errorf("exec in %s: %w", id, err)
		}
		p.closers = append(p.closers, master)
		p.console = master
		p.outputs = append(p.outputs, execOutput{shim.FrameStdout, master})
		if req.Stdin {
			p.stdin = master
		}
	}
	return p, nil
}

func (p *execProcess) kill() {
	p.pidMu.Lock()
	defer p.pidMu.Unlock()
	if p.pidfd >= 0 {
		_ = unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
	}
}

// recvPollable receives a terminal's master from sock as a non-blocking file, so that closing it
// ends a read that waits on it (a process left behind may hold the terminal open without a word).
func recvPollable(sock *os.File) (*os.File, error) {
	f, err := recvFile(sock)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("terminal: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// handleExec runs a process in a container and streams it over the hijacked connection.
func (s *server) handleExec(w http.ResponseWriter, r *http.Request) {
	var req shim.ExecRequest
	if err := decodeStreamRequest(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := validateExec(&req); err != nil {
		writeError(w, err)
		return
	}
	_, lc, err := s.running(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.startExec(lc, &req)
	if err != nil {
		writeError(w, err)
		return
	}
	conn, br, err := upgrade(w)
	if err != nil {
		p.kill()
		go func() { <-p.status; p.close() }()
		s.logger.Printf("exec in %s: %v", lc.ID(), err)
		return
	}
	s.runExecSession(conn, br, p)
}

// runExecSession pumps one exec'd process's stdio through conn until it exits; a client that goes
// away first gets the process killed.
func (s *server) runExecSession(conn net.Conn, br *bufio.Reader, p *execProcess) {
	defer conn.Close()
	defer p.close()
	fw := shim.NewFrameWriter(conn)

	var outputs sync.WaitGroup
	for _, out := range p.outputs {
		outputs.Add(1)
		go func() {
			defer outputs.Done()
			copyFrames(fw, out.frame, out.r)
		}()
	}
	go func() {
		err := readClientFrames(br, p.stdin, p.console)
		if err != nil {
			// No exit status can reach a client that is gone: what it ran goes too.
			p.kill()
		}
	}()

	ws := <-p.status
	if !waitTimeout(&outputs, outputDrainTimeout) {
		// Closing our ends ends the reads; the deferred close does it again, harmlessly.
		for _, out := range p.outputs {
			out.r.Close()
		}
		outputs.Wait()
	}
	code, _ := exitStatus(ws)
	_ = fw.WriteJSON(shim.FrameExit, shim.ExitStatus{ExitCode: code})
}

// copyFrames sends what r gives as frames of type t until r ends. After a failed write it still
// drains r, so that the process never blocks on a full pipe.
func copyFrames(fw *shim.FrameWriter, t shim.FrameType, r io.Reader) {
	buf := make([]byte, 32<<10)
	failed := false
	for {
		n, err := r.Read(buf)
		if n > 0 && !failed {
			failed = fw.Write(t, buf[:n]) != nil
		}
		if err != nil {
			return
		}
	}
}

// readClientFrames applies the client's frames until its side ends: stdin to stdin (ignored if nil),
// a close of stdin, and resizes of console. It returns nil when the client closed stdin and then the
// connection cleanly, an error when the connection broke or carried garbage.
func readClientFrames(br *bufio.Reader, stdin, console *os.File) error {
	buf := make([]byte, 32<<10)
	stdinOpen := stdin != nil
	for {
		t, payload, err := shim.ReadFrame(br, buf)
		if err != nil {
			return err
		}
		switch t {
		case shim.FrameStdin:
			if stdinOpen {
				if _, err := stdin.Write(payload); err != nil {
					stdinOpen = false
				}
			}
		case shim.FrameCloseStdin:
			if stdinOpen {
				closeInput(stdin, console)
				stdinOpen = false
			}
		case shim.FrameResize:
			var size shim.TerminalSize
			if err := json.Unmarshal(payload, &size); err != nil {
				return fmt.Errorf("resize frame: %w", err)
			}
			if console != nil {
				_ = setWinsize(console, size)
			}
		default:
			return fmt.Errorf("unexpected frame type %d from the client", t)
		}
	}
}

// closeInput ends the input of stdin: a pipe is closed; a terminal gets its end-of-file character,
// since closing the master would hang up the process.
func closeInput(stdin, console *os.File) {
	if stdin != console {
		stdin.Close()
		return
	}
	eof := byte(4) // ^D, the default VEOF
	if rc, err := console.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS); err == nil {
				eof = t.Cc[unix.VEOF]
			}
		})
	}
	_, _ = console.Write([]byte{eof})
}

// setWinsize sets the size of the terminal whose master is console.
func setWinsize(console *os.File, size shim.TerminalSize) error {
	rc, err := console.SyscallConn()
	if err != nil {
		return err
	}
	var ioctlErr error
	err = rc.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: size.Height, Col: size.Width})
	})
	if err != nil {
		return err
	}
	return ioctlErr
}

// waitTimeout waits for wg for at most d and says whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// decodeStreamRequest reads the JSON body of an exec or attach request, which must ask for the
// stream protocol.
func decodeStreamRequest(w http.ResponseWriter, r *http.Request, v any) error {
	if !strings.EqualFold(r.Header.Get("Upgrade"), shim.StreamProtocol) ||
		!strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		return fmt.Errorf("%w: %s needs Connection: Upgrade and Upgrade: %s", shim.ErrInvalid, r.URL.Path, shim.StreamProtocol)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: read request: %v", shim.ErrInvalid, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: decode request: %v", shim.ErrInvalid, err)
	}
	return nil
}

// upgrade answers 101 and takes the connection over from the HTTP server; what the client sent
// after its request is in the returned reader.
func upgrade(w http.ResponseWriter) (net.Conn, *bufio.Reader, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("take over the connection: %w", err)
	}
	// The server's header timeout may still be armed on the connection.
	_ = conn.SetDeadline(time.Time{})
	resp := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + shim.StreamProtocol + "\r\n\r\n"
	if _, err := conn.Write([]byte(resp)); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("answer upgrade: %w", err)
	}
	return conn, brw.Reader, nil
}
