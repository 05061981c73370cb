package shim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

func TestFramesRoundTripAndRejectCorruptStreams(t *testing.T) {
	var stream bytes.Buffer
	fw := shim.NewFrameWriter(&stream)
	sent := []struct {
		t shim.FrameType
		p string
	}{{shim.FrameStdout, "out"}, {shim.FrameCloseStdin, ""}, {shim.FrameExit, `{"exitCode":3}`}}
	for _, f := range sent {
		if err := fw.Write(f.t, []byte(f.p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range sent {
		typ, payload, err := shim.ReadFrame(&stream, nil)
		if err != nil || typ != want.t || string(payload) != want.p {
			t.Fatalf("frame = %d %q %v, want %d %q", typ, payload, err, want.t, want.p)
		}
	}
	if _, _, err := shim.ReadFrame(&stream, nil); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}

	tests := []struct {
		name string
		raw  []byte
	}{
		{"a header cut short", []byte{1, 0, 0}},
		{"a payload cut short", []byte{1, 0, 0, 0, 5, 'a', 'b'}},
		{"a length over the limit", []byte{1, 0x7f, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := shim.ReadFrame(bytes.NewReader(tt.raw), nil)
			if err == nil || errors.Is(err, io.EOF) {
				t.Errorf("ReadFrame = %v, want an error that is not a clean EOF", err)
			}
		})
	}
	if err := shim.WriteFrame(io.Discard, shim.FrameStdin, make([]byte, shim.MaxFramePayload+1)); err == nil {
		t.Error("a payload over the limit was written")
	}
}

// toolSource is a small multi-call program, in the spirit of busybox, for the exec and attach tests;
// it is built into the tests' rootfs as /tool. Its first argument picks what it does.
const toolSource = `package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	switch os.Args[1] {
	case "streams": // streams OUT ERR CODE, as sh -c 'echo OUT; echo ERR >&2; exit CODE'
		fmt.Println(os.Args[2])
		fmt.Fprintln(os.Stderr, os.Args[3])
		code, _ := strconv.Atoi(os.Args[4])
		os.Exit(code)
	case "killself": // killself SIG
		n, _ := strconv.Atoi(os.Args[2])
		syscall.Kill(os.Getpid(), syscall.Signal(n))
		time.Sleep(time.Hour)
	case "cat": // cat [FILE]
		in := io.Reader(os.Stdin)
		if len(os.Args) > 2 {
			f, err := os.Open(os.Args[2])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			in = f
		}
		io.Copy(os.Stdout, in)
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	case "id": // uid, gid and working directory
		wd, _ := os.Getwd()
		fmt.Printf("uid=%d gid=%d cwd=%s\n", os.Getuid(), os.Getgid(), wd)
	case "initcmd": // the command line of pid 1
		b, _ := os.ReadFile("/proc/1/cmdline")
		fmt.Println(strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")))
	case "init": // init FILE TEXT: write TEXT to FILE, say ready, then run until killed
		if err := os.WriteFile(os.Args[2], []byte(os.Args[3]), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "pidsleep": // print our pid, then run until killed
		fmt.Println(os.Getpid())
		time.Sleep(time.Hour)
	case "pids": // the pids in /proc
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				fmt.Println(e.Name())
			}
		}
	case "echoloop": // tick N every 10ms, forever
		for i := 0; ; i++ {
			fmt.Printf("tick %d\n", i)
			time.Sleep(10 * time.Millisecond)
		}
	case "spew": // spew BYTES LINE: BYTES of output in numbered lines of LINE bytes, then exit 0
		total, _ := strconv.Atoi(os.Args[2])
		line, _ := strconv.Atoi(os.Args[3])
		w := bufio.NewWriter(os.Stdout)
		for i, n := 0, 0; n < total; i++ {
			s := fmt.Sprintf("%08d ", i)
			s += strings.Repeat("x", line-len(s)-1) + "\n"
			w.WriteString(s)
			n += len(s)
		}
		w.Flush()
	case "floodonsignal": // floodonsignal BYTES LINE: say waiting until SIGUSR1, then spew
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		for waiting := true; waiting; {
			fmt.Println("waiting")
			select {
			case <-ch:
				waiting = false
			case <-time.After(10 * time.Millisecond):
			}
		}
		os.Args = []string{os.Args[0], "spew", os.Args[2], os.Args[3]}
		main()
	case "ttyshell": // read commands on a terminal: tty, size, exit
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case "tty":
				name, _ := os.Readlink("/proc/self/fd/0")
				fmt.Println("tty:", name)
			case "size":
				var ws struct{ Row, Col, X, Y uint16 }
				syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
				fmt.Printf("size: %d %d\n", ws.Row, ws.Col)
			case "exit":
				os.Exit(0)
			}
		}
		os.Exit(5)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(100)
	}
}
`

var buildTool = sync.OnceValue(func() error {
	src, err := os.MkdirTemp("", "skiff-tool-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module skifftool\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(toolSource), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(rootfs, "tool"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build test tool: %v\n%s", err, out)
	}
	return nil
})

// toolPod is newPod with /tool in the rootfs.
func toolPod(t *testing.T) *pod {
	t.Helper()
	p := newPod(t)
	if err := buildTool(); err != nil {
		t.Fatal(err)
	}
	return p
}

// toolRequest returns a create request running /tool with args.
func (p *pod) toolRequest(id string, args ...string) shim.CreateRequest {
	req := p.request(id)
	req.Spec.Process.Args = append([]string{"/tool"}, args...)
	return req
}

// syncBuffer is a bytes.Buffer that the stream and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// execOutput runs args in id and returns its stdout, stderr and exit code.
func execOutput(t *testing.T, c *shim.Client, id string, req shim.ExecRequest) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code, err := c.Exec(ctx, id, req, shim.ExecIO{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("exec %q in %s: %v", req.Args, id, err)
	}
	return stdout.String(), stderr.String(), code
}

func TestExecRunsInTheContainersNamespacesWithItsDefaults(t *testing.T) {
	p := toolPod(t)
	req := p.toolRequest("target", "init", "/tmp/marker", "written by the container")
	req.Spec.Process.Env = append(req.Spec.Process.Env, "FROM_SPEC=spec", "OVERRIDDEN=spec")
	// /tmp is a tmpfs of the container's own mount namespace: only a process inside it sees the file.
	req.Spec.Mounts = append(req.Spec.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
	ctr := p.create(t, req)
	waitLog(t, req.LogPath)

	tests := []struct {
		name       string
		req        shim.ExecRequest
		wantStdout string // a regexp
		wantStderr string // exactly
		wantCode   int
	}{
		{name: "stdout and stderr come back apart with the exit code",
			req:        shim.ExecRequest{Args: []string{"/tool", "streams", "out", "err", "3"}},
			wantStdout: `^out\n$`, wantStderr: "err\n", wantCode: 3},
		{name: "a process killed by a signal exits 128+n",
			req:      shim.ExecRequest{Args: []string{"/tool", "killself", "15"}},
			wantCode: 128 + 15},
		{name: "the container's filesystem is seen, mounts included",
			req:        shim.ExecRequest{Args: []string{"/tool", "cat", "/tmp/marker"}},
			wantStdout: `^written by the container$`},
		{name: "pid 1 is the container's init",
			req:        shim.ExecRequest{Args: []string{"/tool", "initcmd"}},
			wantStdout: `^/tool init /tmp/marker written by the container\n$`},
		{name: "the container's env is the base and the request's wins",
			req:        shim.ExecRequest{Args: []string{"/tool", "env"}, Env: []string{"OVERRIDDEN=exec", "FROM_EXEC=exec"}},
			wantStdout: `(?s)^PATH=[^\n]*\n.*FROM_SPEC=spec\nOVERRIDDEN=exec\n.*FROM_EXEC=exec\n`},
		{name: "user and cwd default to the container's process",
			req:        shim.ExecRequest{Args: []string{"/tool", "id"}},
			wantStdout: `^uid=0 gid=0 cwd=/\n$`},
		{name: "user and cwd can be set",
			req:        shim.ExecRequest{Args: []string{"/tool", "id"}, User: &specs.User{UID: 1000, GID: 1001}, Cwd: "/tmp"},
			wantStdout: `^uid=1000 gid=1001 cwd=/tmp\n$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := execOutput(t, p.client, "target", tt.req)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stdout %q stderr %q)", code, tt.wantCode, stdout, stderr)
			}
			if !regexp.MustCompile(tt.wantStdout).MatchString(stdout) {
				t.Errorf("stdout %q, want it to match %q", stdout, tt.wantStdout)
			}
			if stderr != tt.wantStderr {
				t.Errorf("stderr %q, want %q", stderr, tt.wantStderr)
			}
		})
	}

	// Exec'd processes are the shim's children too; none of their exits may pass for the container's.
	got, err := p.client.Get(context.Background(), "target")
	if err != nil || got.State != shim.StateRunning || got.Pid != ctr.Pid {
		t.Fatalf("after the execs the container is %s pid %d (%v), want running pid %d", got.State, got.Pid, err, ctr.Pid)
	}
	if err := p.client.Signal(context.Background(), "target", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got := p.wait(t, "target", 5*time.Second); got.ExitCode != 137 || got.Signal != int(syscall.SIGKILL) {
		t.Errorf("container exit %d signal %d, want 137 and SIGKILL", got.ExitCode, got.Signal)
	}
}

func TestExecStdinIsStreamedUntilClosed(t *testing.T) {
	p := toolPod(t)
	p.create(t, p.request("target", "sleep"))
	big := strings.Repeat("0123456789abcdef", 20<<10) // 320 KiB: many frames each way
	tests := []struct {
		name  string
		input string
	}{
		{"cat echoes its input and ends when stdin closes", "hello\nworld\n"},
		{"input larger than a frame arrives whole and in order", big},
		{"empty input closes stdin at once", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout bytes.Buffer
			code, err := p.client.Exec(ctx, "target", shim.ExecRequest{Args: []string{"/tool", "cat"}, Stdin: true},
				shim.ExecIO{Stdin: strings.NewReader(tt.input), Stdout: &stdout})
			if err != nil || code != 0 {
				t.Fatalf("exec cat: code %d, %v", code, err)
			}
			if stdout.String() != tt.input {
				t.Errorf("cat gave %d bytes, want the %d sent back unchanged", stdout.Len(), len(tt.input))
			}
		})
	}
}

func TestExecWithTTYHasATerminalThatResizes(t *testing.T) {
	p := toolPod(t)
	p.create(t, p.request("target", "sleep"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inR, inW := io.Pipe()
	defer inW.Close()
	resize := make(chan shim.TerminalSize, 1)
	var stdout, stderr syncBuffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := p.client.Exec(ctx, "target", shim.ExecRequest{Args: []string{"/tool", "ttyshell"}, TTY: true, Stdin: true},
			shim.ExecIO{Stdin: inR, Stdout: &stdout, Stderr: &stderr, Resize: resize})
		done <- result{code, err}
	}()

	if _, err := io.WriteString(inW, "tty\n"); err != nil {
		t.Fatal(err)
	}
	ttyLine := regexp.MustCompile(`tty: /dev/pts/\d+\r?\n`)
	waitFor(t, "the tty name", func() bool { return ttyLine.MatchString(stdout.String()) })

	resize <- shim.TerminalSize{Width: 123, Height: 45}
	// The resize and the next command travel apart: ask until the new size shows.
	waitFor(t, "the new size", func() bool {
		if strings.Contains(stdout.String(), "size: 45 123") {
			return true
		}
		_, _ = io.WriteString(inW, "size\n")
		time.Sleep(20 * time.Millisecond)
		return false
	})
	if _, err := io.WriteString(inW, "exit\n"); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || res.code != 0 {
		t.Fatalf("exec with tty: code %d, %v; output %q", res.code, res.err, stdout.String())
	}
	if stderr.String() != "" {
		t.Errorf("a terminal's output must all come as stdout; stderr got %q", stderr.String())
	}
}

func TestExecWorksInAContainerAdoptedAfterAShimRestart(t *testing.T) {
	p := toolPod(t)
	ctx := context.Background()
	req := p.request("survivor", "sleep")
	ctr := p.create(t, req)
	// Its one line is out before the shim, which holds the other end of its stdout, dies.
	waitLog(t, req.LogPath)
	info, err := p.client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(info.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, info.Pid)
	p.client.Close()
	p.client = p.start(t)

	stdout, stderr, code := execOutput(t, p.client, "survivor", shim.ExecRequest{Args: []string{"/tool", "streams", "adopted", "still", "7"}})
	if stdout != "adopted\n" || stderr != "still\n" || code != 7 {
		t.Errorf("exec in adopted container: stdout %q stderr %q code %d, want adopted/still/7", stdout, stderr, code)
	}
	if got, err := p.client.Get(ctx, "survivor"); err != nil || got.State != shim.StateRunning || got.Pid != ctr.Pid {
		t.Errorf("after exec the adopted container is %s pid %d (%v), want running pid %d", got.State, got.Pid, err, ctr.Pid)
	}
}

func TestExecRefusesWhatCannotRun(t *testing.T) {
	p := toolPod(t)
	p.create(t, p.request("running", "sleep"))
	p.create(t, p.request("exited", "print", "0"))
	p.wait(t, "exited", 5*time.Second)
	tests := []struct {
		name string
		id   string
		args []string
		want error
		text string
	}{
		{"an exited container", "exited", []string{"/tool", "env"}, shim.ErrNotRunning, "exited with code 0"},
		{"an unknown container", "nope", []string{"/tool", "env"}, shim.ErrNotFound, "nope"},
		{"no args", "running", nil, shim.ErrInvalid, "args"},
		{"a program the container does not have", "running", []string{"/missing"}, nil, "/missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := p.client.Exec(ctx, tt.id, shim.ExecRequest{Args: tt.args}, shim.ExecIO{})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("exec = %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
	if got, err := p.client.Get(context.Background(), "running"); err != nil || got.State != shim.StateRunning {
		t.Errorf("failed execs disturbed the container: %s (%v)", got.State, err)
	}
}

func TestExecCancelledKillsTheProcess(t *testing.T) {
	p := toolPod(t)
	p.create(t, p.request("target", "sleep"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := p.client.Exec(ctx, "target", shim.ExecRequest{Args: []string{"/tool", "pidsleep"}}, shim.ExecIO{Stdout: &stdout})
		done <- err
	}()
	waitFor(t, "the exec'd pid", func() bool { return strings.HasSuffix(stdout.String(), "\n") })
	pid := strings.TrimSpace(stdout.String())
	if pids, _, _ := execOutput(t, p.client, "target", shim.ExecRequest{Args: []string{"/tool", "pids"}}); !containsLine(pids, pid) {
		t.Fatalf("exec'd pid %s not in the container's /proc (%q): the test would prove nothing", pid, pids)
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled exec = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exec did not return after cancel")
	}
	waitFor(t, "the exec'd process to be gone from the container's /proc", func() bool {
		pids, _, _ := execOutput(t, p.client, "target", shim.ExecRequest{Args: []string{"/tool", "pids"}})
		return !containsLine(pids, pid)
	})
}

func containsLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

func TestAttachReceivesOutputWhileTheLogKeepsIt(t *testing.T) {
	p := toolPod(t)
	req := p.toolRequest("ticker", "echoloop")
	p.create(t, req)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() { done <- p.client.Attach(ctx, "ticker", shim.ExecIO{Stdout: &stdout}) }()
	waitFor(t, "five ticks through attach", func() bool { return strings.Count(stdout.String(), "\n") >= 5 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("detach by cancel = %v, want context.Canceled", err)
	}

	attached := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	logged := map[string]bool{}
	waitFor(t, "the attached ticks in the log", func() bool {
		for _, e := range logEntries(t, req.LogPath) {
			logged[e] = true
		}
		return logged["stdout F "+attached[len(attached)-1]]
	})
	for _, line := range attached {
		if !logged["stdout F "+line] {
			t.Errorf("attached line %q is missing from the log", line)
		}
	}
	if got, err := p.client.Get(context.Background(), "ticker"); err != nil || got.State != shim.StateRunning {
		t.Errorf("detaching stopped the container: %s (%v)", got.State, err)
	}
}

func TestAttachWithStdinFeedsTheContainer(t *testing.T) {
	p := toolPod(t)
	req := p.toolRequest("cat", "cat")
	req.Stdin = true
	p.create(t, req)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout bytes.Buffer
	// The input ends, so the container's stdin is closed: cat ends, and so does the attach.
	err := p.client.Attach(ctx, "cat", shim.ExecIO{Stdin: strings.NewReader("ping\npong\n"), Stdout: &stdout})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if stdout.String() != "ping\npong\n" {
		t.Errorf("attach got %q, want the input echoed", stdout.String())
	}
	if ctr := p.wait(t, "cat", 5*time.Second); ctr.ExitCode != 0 {
		t.Errorf("cat exited %d, want 0", ctr.ExitCode)
	}
	if got := strings.Join(logEntries(t, req.LogPath), "|"); got != "stdout F ping|stdout F pong" {
		t.Errorf("log %q, want both lines", got)
	}
}

func TestAttachRefusesWhatItCannotDo(t *testing.T) {
	p := toolPod(t)
	p.create(t, p.request("nostdin", "sleep"))
	p.create(t, p.request("exited", "print", "0"))
	p.wait(t, "exited", 5*time.Second)
	tests := []struct {
		name  string
		id    string
		stdin io.Reader
		want  error
		text  string
	}{
		{"stdin to a container created without it", "nostdin", strings.NewReader("x"), shim.ErrInvalid, "not created with stdin"},
		{"an exited container", "exited", nil, shim.ErrNotRunning, "exited"},
		{"an unknown container", "nope", nil, shim.ErrNotFound, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := p.client.Attach(ctx, tt.id, shim.ExecIO{Stdin: tt.stdin})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("attach = %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
}

// stallingWriter takes its first write, then blocks every later one until released: an attached
// client that stopped reading.
type stallingWriter struct {
	first   chan struct{}
	once    *sync.Once
	release chan struct{}
}

func (w stallingWriter) Write(p []byte) (int, error) {
	first := false
	w.once.Do(func() { first = true; close(w.first) })
	if !first {
		<-w.release
	}
	return len(p), nil
}

func TestAttachedClientThatStopsReadingDoesNotStallTheContainer(t *testing.T) {
	p := toolPod(t)
	// 32 MiB of output once signalled: far more than the socket and the attach queue hold.
	const lineLen = 1024
	total := 32 << 20
	req := p.toolRequest("flood", "floodonsignal", strconv.Itoa(total), strconv.Itoa(lineLen))
	req.LogMaxSize, req.LogMaxFiles = 4<<20, 2
	p.create(t, req)

	stuck := stallingWriter{first: make(chan struct{}), once: &sync.Once{}, release: make(chan struct{})}
	defer close(stuck.release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = p.client.Attach(ctx, "flood", shim.ExecIO{Stdout: stuck}) }()
	select {
	case <-stuck.first:
	case <-time.After(5 * time.Second):
		t.Fatal("attach never delivered output")
	}
	if err := p.client.Signal(context.Background(), "flood", syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	ctr, err := p.client.Wait(context.Background(), "flood", 20*time.Second)
	if err != nil || ctr.ExitCode != 0 {
		t.Fatalf("flooding container with a stalled attach: code %d, %v; want it to finish", ctr.ExitCode, err)
	}
	entries := logEntries(t, req.LogPath)
	last := fmt.Sprintf("stdout F %08d ", total/lineLen-1)
	if len(entries) == 0 || !strings.HasPrefix(entries[len(entries)-1], last) {
		t.Errorf("the log does not end with the last line %q...", last)
	}
}

func TestLogIsRotatedBySize(t *testing.T) {
	p := toolPod(t)
	const lineLen = 1000
	total := 3 << 20
	req := p.toolRequest("chatty", "spew", strconv.Itoa(total), strconv.Itoa(lineLen))
	req.LogMaxSize, req.LogMaxFiles = 1<<20, 3
	p.create(t, req)
	if ctr := p.wait(t, "chatty", 10*time.Second); ctr.ExitCode != 0 {
		t.Fatalf("exit code %d", ctr.ExitCode)
	}

	// Oldest first: path.2, path.1, path. The lines they hold follow each other without a gap and
	// end with the last one written; what came before fell off with the dropped file.
	next := -1
	for _, path := range []string{req.LogPath + ".2", req.LogPath + ".1", req.LogPath} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > req.LogMaxSize {
			t.Errorf("%s is %d bytes, over the %d limit", path, fi.Size(), req.LogMaxSize)
		}
		for _, e := range logEntries(t, path) {
			var n int
			if _, err := fmt.Sscanf(e, "stdout F %08d ", &n); err != nil {
				t.Fatalf("%s: entry %.40q: %v", path, e, err)
			}
			if next >= 0 && n != next {
				t.Fatalf("%s: line %d follows %d", path, n, next-1)
			}
			next = n + 1
		}
	}
	if want := (total + lineLen - 1) / lineLen; next != want {
		t.Errorf("the newest file ends before line %d, want %d", next, want)
	}
	if _, err := os.Stat(req.LogPath + ".3"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a fourth file is kept (%v); LogMaxFiles is 3", err)
	}
}
