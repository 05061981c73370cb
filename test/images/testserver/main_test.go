package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin is the test server built once for all tests, as the image has it.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "testserver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "testserver")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test server: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr is a 127.0.0.1 address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a running test server and its standard output.
type server struct {
	cmd    *exec.Cmd
	base   string
	stdout *syncBuffer
}

// start runs the test server with args and waits until addr answers.
func start(t *testing.T, addr string, env []string, args ...string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(bin, args...), base: "http://" + addr, stdout: &syncBuffer{}}
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = s.stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test server did not listen on %s within 10s; it printed %q", addr, s.stdout.String())
		}
	}
}

// wait waits for the process to end and returns its exit code.
func (s *server) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatal("the test server did not exit within 10s")
		return -1
	}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestServeAnswersEveryEndpointAndExitsZeroOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	unhealthy, notready := filepath.Join(dir, "unhealthy"), filepath.Join(dir, "notready")
	files := filepath.Join(dir, "srv")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "hello.txt"), []byte("hello from files\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s := start(t, addr, []string{"GREETING=hello"}, "serve", "--listen", addr, "--files", files,
		"--unhealthy-file", unhealthy, "--notready-file", notready)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	touch := func(p string) func() {
		return func() {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name   string
		before func()
		path   string
		code   int
		body   string // exact, unless contains is set
		substr bool
	}{
		{name: "root is the hostname", path: "/", code: 200, body: host + "\n"},
		{name: "hostname", path: "/hostname", code: 200, body: host + "\n"},
		{name: "echo returns msg", path: "/echo?msg=ping%20pong", code: 200, body: "ping pong"},
		{name: "env lists the environment", path: "/env", code: 200, body: "\nGREETING=hello\n", substr: true},
		{name: "clientip is the caller's address", path: "/clientip", code: 200, body: "127.0.0.1\n"},
		{name: "healthz is ok without the file", path: "/healthz", code: 200, body: "ok"},
		{name: "healthz fails while the file exists", before: touch(unhealthy), path: "/healthz", code: 500, body: "exists", substr: true},
		{name: "readyz is ok without the file", path: "/readyz", code: 200, body: "ok"},
		{name: "readyz fails while the file exists", before: touch(notready), path: "/readyz", code: 503, body: "exists", substr: true},
		{name: "dns resolves localhost", path: "/dns?name=localhost", code: 200, body: "127.0.0.1\n", substr: true},
		{name: "dns without a name is a bad request", path: "/dns", code: 400, body: "name is missing", substr: true},
		{name: "files serves the directory", path: "/files/hello.txt", code: 200, body: "hello from files\n"},
		{name: "files answers 404 for a missing file", path: "/files/missing", code: 404, body: "not found", substr: true},
		{name: "exit refuses a code that is not one", path: "/exit?code=300", code: 400, body: "exit code", substr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			code, body := get(t, s.base+c.path)
			if code != c.code || (!c.substr && body != c.body) || (c.substr && !strings.Contains("\n"+body, c.body)) {
				t.Errorf("GET %s: %d %q, want %d with %q", c.path, code, body, c.code, c.body)
			}
		})
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0; it printed %q", code, s.stdout.String())
	}
	if out := s.stdout.String(); !strings.Contains(out, "GET /echo?msg=ping%20pong 200") || !strings.Contains(out, "GET /healthz 500") {
		t.Errorf("request log lacks a line per request with its status:\n%s", out)
	}
}

func TestExitEndpointAnswersThenExitsWithItsCode(t *testing.T) {
	addr := freeAddr(t)
	t.Setenv("PORT", strings.Split(addr, ":")[1])
	// No --listen: PORT picks the port.
	s := start(t, addr, nil)
	if code, body := get(t, s.base+"/exit?code=7"); code != 200 || body != "exiting 7\n" {
		t.Errorf("GET /exit?code=7: %d %q", code, body)
	}
	if code := s.wait(t); code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
}

func TestExitCommandPrintsToBothStreamsAndExitsWithItsCode(t *testing.T) {
	cmd := exec.Command(bin, "exit", "3")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit 3: %v, want exit code 3", err)
	}
	if stdout.String() != "exiting 3\n" || stderr.String() != "exiting 3\n" {
		t.Errorf("stdout %q stderr %q, want \"exiting 3\\n\" on each", stdout.String(), stderr.String())
	}
}

func TestFileJobsWriteAndCat(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a", "b", "note")
	if out, err := exec.Command(bin, "write", file, "some text").CombinedOutput(); err != nil {
		t.Fatalf("write: %v %s", err, out)
	}
	out, err := exec.Command(bin, "cat", file).Output()
	if err != nil || string(out) != "some text" {
		t.Errorf("cat: %q %v, want %q", out, err, "some text")
	}
	start := time.Now()
	if err := exec.Command(bin, "sleep", "0.2").Run(); err != nil {
		t.Errorf("sleep 0.2: %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("sleep 0.2 returned after %v", took)
	}
}

func TestTCPEchoesWhatItReceives(t *testing.T) {
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	start(t, addr, nil, "tcp", port)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "marco\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "marco\n" {
		t.Errorf("echo: %q %v, want %q", line, err, "marco\n")
	}
}

func TestAllocHoldsTheMemoryItReports(t *testing.T) {
	cmd := exec.Command(bin, "alloc", "32")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "allocated\n" {
		t.Fatalf("alloc printed %q (%v), want \"allocated\"", line, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kib, _ := strconv.Atoi(f[1])
			if kib < 32<<10 {
				t.Errorf("resident %d KiB after allocating 32 MiB", kib)
			}
			return
		}
	}
	t.Errorf("no VmRSS in /proc/%d/status", cmd.Process.Pid)
}

func TestBadArgumentsFailWithAMessageNotAPanic(t *testing.T) {
	for _, args := range [][]string{
		{"alloc", "-1"},
		{"alloc", "lots"},
		{"exit", "300"},
		{"exit", "three"},
		{"sleep", "soon"},
		{"sleep", "-1"},
		{"write", "only-a-file"},
		{"cat", filepath.Join(t.TempDir(), "missing")},
		{"tcp"},
		{"serve", "--no-such-flag"},
		{"dance"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("%v, want exit code 2", err)
			}
			if !strings.Contains(stderr.String(), "testserver:") || strings.Contains(stderr.String(), "panic") {
				t.Errorf("stderr %q, want a testserver: message", stderr.String())
			}
		})
	}
}
