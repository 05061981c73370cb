package shim_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// The tests run real containers: skiff-shim built from this repository, and a small static program of
// the tests' own as the containers' process, in a rootfs directory made here.
var (
	shimBinary string // built skiff-shim
	rootfs     string // rootfs holding /prog
)

// progSource is the containers' program. Its first argument picks what it does.
const progSource = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	switch os.Args[1] {
	case "print": // print CODE: a line on each stream, a last line without newline, exit CODE
		code, _ := strconv.Atoi(os.Args[2])
		fmt.Println("hello")
		fmt.Fprintln(os.Stderr, "oops")
		fmt.Print("tail")
		os.Exit(code)
	case "long": // long N: one line of N x's
		n, _ := strconv.Atoi(os.Args[2])
		fmt.Println(strings.Repeat("x", n))
	case "sleep": // sleep: run until killed; as pid 1 SIGTERM does nothing
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("sleeping")
		for {
			time.Sleep(time.Hour)
		}
	case "graceful": // graceful: exit 0 on SIGTERM
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Println("ready")
		<-ch
		fmt.Println("terminated")
	case "stdin": // stdin: read stdin to its end, then exit 0
		buf := make([]byte, 4096)
		for {
			if _, err := os.Stdin.Read(buf); err != nil {
				break
			}
		}
		fmt.Println("stdin closed")
	case "alloc": // alloc MIB: touch MIB MiB of memory, then wait
		n, _ := strconv.Atoi(os.Args[2])
		var keep [][]byte
		for i := 0; i < n; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep))
		time.Sleep(time.Hour)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(100)
	}
}
`

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		// Every test here skips; nothing to build.
		os.Exit(m.Run())
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "skiff-shim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := build(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func build(tmp string) error {
	shimBinary = filepath.Join(tmp, "skiff-shim")
	cmd := exec.Command("go", "build", "-o", shimBinary, "github.com/skiffhq/skiff/cmd/skiff-shim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build skiff-shim: %v\n%s", err, out)
	}

	src := filepath.Join(tmp, "prog")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module prog\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(progSource), 0o644); err != nil {
		return err
	}
	rootfs = filepath.Join(tmp, "rootfs")
	for _, d := range []string{"proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	cmd = exec.Command("go", "build", "-o", filepath.Join(rootfs, "prog"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build test program: %v\n%s", err, out)
	}
	return nil
}

// pod is one shim on its own state directory, with a cgroup parent of its own; cleanup removes every
// container, shuts the shim down and removes the cgroup parents and the directory.
type pod struct {
	t       *testing.T
	dir     string
	cgroup  string // "/skiff-test-<random>"
	client  *shim.Client
	logsDir string
}

func newPod(t *testing.T) *pod {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs containers: needs root")
	}
	// Not t.TempDir: a unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "skiff-pod-")
	if err != nil {
		t.Fatal(err)
	}
	p := &pod{t: t, dir: dir, cgroup: "/skiff-test-" + randomSuffix(), logsDir: filepath.Join(dir, "logs")}
	t.Cleanup(p.cleanup)
	p.client = p.start(t)
	return p
}

func (p *pod) start(t *testing.T) *shim.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := shim.Start(ctx, shimBinary, p.dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *pod) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := shim.NewClient(shim.SocketPath(p.dir))
	if info, err := c.Info(ctx); err == nil {
		ctrs, _ := c.List(ctx)
		for _, ctr := range ctrs {
			if err := c.Remove(ctx, ctr.ID); err != nil {
				p.t.Errorf("cleanup: remove %s: %v", ctr.ID, err)
			}
		}
		if err := c.Shutdown(ctx); err != nil {
			p.t.Errorf("cleanup: shutdown: %v", err)
		}
		waitGone(p.t, info.Pid)
	}
	c.Close()
	for _, d := range cgroupDirs(p.cgroup) {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() {
				_ = os.Remove(filepath.Join(d, e.Name()))
			}
		}
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.t.Errorf("cleanup: remove cgroup %s: %v", d, err)
		}
	}
	if err := os.RemoveAll(p.dir); err != nil {
		p.t.Errorf("cleanup: %v", err)
	}
}

// cgroupDirs returns path under every mounted cgroup hierarchy, v1 and v2.
func cgroupDirs(path string) []string {
	dirs := []string{filepath.Join("/sys/fs/cgroup", path)}
	mounts, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, m := range mounts {
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			dirs = append(dirs, filepath.Join(m, path))
		}
	}
	return dirs
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
}

// request returns a create request running /prog with args in the pod's cgroup parent.
func (p *pod) request(id string, args ...string) shim.CreateRequest {
	spec := shim.DefaultSpec(rootfs, append([]string{"/prog"}, args...))
	spec.Linux.CgroupsPath = p.cgroup + "/" + id
	return shim.CreateRequest{ID: id, Name: "c-" + id, Spec: spec, LogPath: filepath.Join(p.logsDir, id, "0.log")}
}

func (p *pod) create(t *testing.T, req shim.CreateRequest) shim.Container {
	t.Helper()
	ctr, err := p.client.Create(context.Background(), req)
	if err != nil {
		t.Fatalf("create %s: %v", req.ID, err)
	}
	return ctr
}

func (p *pod) wait(t *testing.T, id string, timeout time.Duration) shim.Container {
	t.Helper()
	ctr, err := p.client.Wait(context.Background(), id, timeout)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return ctr
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("process %d still alive", pid)
}

// alive says whether pid runs: a zombie waiting for a parent that is not us to reap it does not.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || len(b) < i+3 || (b[i+2] != 'Z' && b[i+2] != 'X')
}

var criLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$`)

// logEntries reads a CRI log file as "stream tag text" strings, checking each line's format.
func logEntries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := criLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("log line %q is not in the CRI format", sc.Text())
		}
		entries = append(entries, m[1]+" "+m[2]+" "+m[3])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestExitedContainerKeepsItsCodeAndLogsInCRIFormat(t *testing.T) {
	p := newPod(t)
	long := strings.Repeat("x", 16*1024)
	tests := []struct {
		name       string
		args       []string
		tty        bool
		wantCode   int
		wantReason string
		wantLog    []string // in any order between streams
	}{
		{
			name: "exit 3 with a line on each stream and an unterminated last line",
			args: []string{"print", "3"}, wantCode: 3, wantReason: shim.ReasonError,
			wantLog: []string{"stdout F hello", "stderr F oops", "stdout P tail"},
		},
		{
			name: "exit 0 is Completed",
			args: []string{"print", "0"}, wantCode: 0, wantReason: shim.ReasonCompleted,
			wantLog: []string{"stdout F hello", "stderr F oops", "stdout P tail"},
		},
		{
			name: "a line longer than 16 KiB is split into a partial and a final entry",
			args: []string{"long", "16390"}, wantCode: 0, wantReason: shim.ReasonCompleted,
			wantLog: []string{"stdout P " + long, "stdout F xxxxxx"},
		},
		{
			name: "a terminal's output is logged as stdout without carriage returns",
			args: []string{"print", "0"}, tty: true, wantCode: 0, wantReason: shim.ReasonCompleted,
			wantLog: []string{"stdout F hello", "stdout F oops", "stdout P tail"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			events, err := p.client.Events(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("exit%d", i)
			req := p.request(id, tt.args...)
			req.TTY = tt.tty
			p.create(t, req)

			ctr := p.wait(t, id, 5*time.Second)
			if ctr.State != shim.StateExited || ctr.ExitCode != tt.wantCode || ctr.Reason != tt.wantReason || ctr.OOMKilled {
				t.Errorf("record = state %s code %d reason %q oom %v, want exited %d %q", ctr.State, ctr.ExitCode, ctr.Reason, ctr.OOMKilled, tt.wantCode, tt.wantReason)
			}
			if ctr.StartedAt.IsZero() || ctr.FinishedAt.Before(ctr.StartedAt) || ctr.Name != "c-"+id {
				t.Errorf("record times/name wrong: %+v", ctr)
			}
			got := logEntries(t, req.LogPath)
			sort.Strings(got)
			want := slices.Clone(tt.wantLog)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("log entries:\n got %q\nwant %q", got, want)
			}

			var types []shim.EventType
			for len(types) < 2 {
				select {
				case ev, ok := <-events:
					if !ok {
						t.Fatal("event stream closed")
					}
					if ev.ID != id {
						continue
					}
					types = append(types, ev.Type)
					if ev.Type == shim.EventExited && ev.Container.ExitCode != tt.wantCode {
						t.Errorf("exit event code %d, want %d", ev.Container.ExitCode, tt.wantCode)
					}
				case <-ctx.Done():
					t.Fatalf("events so far %v: %v", types, ctx.Err())
				}
			}
			if !slices.Equal(types, []shim.EventType{shim.EventStarted, shim.EventExited}) {
				t.Errorf("events = %v, want started then exited", types)
			}
		})
	}
}

func TestStopIsTermGraceThenKill(t *testing.T) {
	p := newPod(t)
	tests := []struct {
		name         string
		args         []string
		termEndsIt   bool
		wantCode     int
		wantSignal   int
		wantLastLine string
	}{
		{name: "pid 1 ignoring SIGTERM runs on until SIGKILL, exit 137", args: []string{"sleep"},
			wantCode: 137, wantSignal: int(syscall.SIGKILL), wantLastLine: "stdout F sleeping"},
		{name: "a process handling SIGTERM exits 0 at once", args: []string{"graceful"}, termEndsIt: true,
			wantCode: 0, wantLastLine: "stdout F terminated"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			id := fmt.Sprintf("stop%d", i)
			req := p.request(id, tt.args...)
			p.create(t, req)
			waitLog(t, req.LogPath)

			if err := p.client.Signal(ctx, id, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			ctr, err := p.client.Wait(ctx, id, 500*time.Millisecond)
			if tt.termEndsIt {
				if err != nil {
					t.Fatalf("wait after SIGTERM: %v", err)
				}
			} else {
				if !errors.Is(err, shim.ErrTimeout) || ctr.State != shim.StateRunning {
					t.Fatalf("after SIGTERM: state %s, err %v; want still running and ErrTimeout", ctr.State, err)
				}
				if err := p.client.Signal(ctx, id, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				ctr = p.wait(t, id, 5*time.Second)
			}
			if ctr.ExitCode != tt.wantCode || ctr.Signal != tt.wantSignal || ctr.OOMKilled {
				t.Errorf("exit code %d signal %d oom %v, want %d %d false", ctr.ExitCode, ctr.Signal, ctr.OOMKilled, tt.wantCode, tt.wantSignal)
			}
			if entries := logEntries(t, req.LogPath); entries[len(entries)-1] != tt.wantLastLine {
				t.Errorf("log %q, want last %q", entries, tt.wantLastLine)
			}
			// Signalling what has exited is no error: the agent's stop may race the exit.
			if err := p.client.Signal(ctx, id, syscall.SIGKILL); err != nil {
				t.Errorf("signal exited container: %v", err)
			}
		})
	}
}

func TestStdinIsHeldOpenOnlyWhenAsked(t *testing.T) {
	p := newPod(t)
	ctx := context.Background()
	tests := []struct {
		name        string
		stdin       bool
		wantRunning bool
	}{
		{name: "without stdin the container reads /dev/null and ends", stdin: false},
		{name: "with stdin the container's reads wait for input", stdin: true, wantRunning: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("stdin%d", i)
			req := p.request(id, "stdin")
			req.Stdin = tt.stdin
			p.create(t, req)
			ctr, err := p.client.Wait(ctx, id, 300*time.Millisecond)
			if running := errors.Is(err, shim.ErrTimeout); running != tt.wantRunning || (!running && err != nil) {
				t.Fatalf("after 300ms: state %s, err %v; want running %v", ctr.State, err, tt.wantRunning)
			}
			if !tt.wantRunning && ctr.ExitCode != 0 {
				t.Errorf("exit code %d, want 0", ctr.ExitCode)
			}
		})
	}
}

// waitLog waits until the container has written its first log line: it has set up its handlers.
func waitLog(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no output in %s", path)
}

func TestMemoryLimitExceededIsOOMKilled(t *testing.T) {
	p := newPod(t)
	req := p.request("oom", "alloc", "200")
	limit := int64(32 << 20)
	req.Spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	p.create(t, req)
	ctr := p.wait(t, "oom", 10*time.Second)
	if !ctr.OOMKilled || ctr.ExitCode != 137 || ctr.Reason != shim.ReasonOOMKilled {
		t.Errorf("record = code %d oom %v reason %q, want 137 true OOMKilled", ctr.ExitCode, ctr.OOMKilled, ctr.Reason)
	}
}

func TestNewClientOnSameSocketSeesRunningContainer(t *testing.T) {
	p := newPod(t)
	ctx := context.Background()
	first := p.create(t, p.request("long-running", "sleep"))

	again := p.start(t) // as a restarted agent does: finds the live shim, starts none
	defer again.Close()
	info1, err := p.client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info2, err := again.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info1.Pid != info2.Pid {
		t.Errorf("second Start reached shim %d, want the running one %d", info2.Pid, info1.Pid)
	}
	ctrs, err := again.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs) != 1 || ctrs[0].ID != "long-running" || ctrs[0].State != shim.StateRunning || ctrs[0].Pid != first.Pid {
		t.Errorf("new client lists %+v, want long-running running with pid %d", ctrs, first.Pid)
	}
	if _, err := again.Get(ctx, "nope"); !errors.Is(err, shim.ErrNotFound) {
		t.Errorf("get unknown = %v, want ErrNotFound", err)
	}
}

func TestRemoveLeavesNothingAndShutdownEndsTheShim(t *testing.T) {
	p := newPod(t)
	ctx := context.Background()
	req := p.request("doomed", "sleep")
	p.create(t, req)
	waitLog(t, req.LogPath)

	cgroups := cgroupDirs(p.cgroup + "/doomed")
	var before []string
	for _, d := range cgroups {
		if _, err := os.Stat(d); err == nil {
			before = append(before, d)
		}
	}
	if len(before) < 2 {
		t.Fatalf("container cgroup found in %v only; the test would prove nothing", before)
	}
	if err := p.client.Shutdown(ctx); !errors.Is(err, shim.ErrHasContainers) {
		t.Fatalf("shutdown with a container = %v, want ErrHasContainers", err)
	}

	if err := p.client.Remove(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	for _, d := range before {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s still there after remove (%v)", d, err)
		}
	}
	for _, gone := range []string{
		filepath.Join(p.dir, shim.LibcontainerDir, "doomed"),
		filepath.Join(p.dir, shim.ContainersDir, "doomed.json"),
	} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after remove (%v)", gone, err)
		}
	}
	if _, err := os.Stat(req.LogPath); err != nil {
		t.Errorf("log must outlive the container: %v", err)
	}
	if _, err := p.client.Get(ctx, "doomed"); !errors.Is(err, shim.ErrNotFound) {
		t.Errorf("get removed = %v, want ErrNotFound", err)
	}
	if err := p.client.Remove(ctx, "doomed"); err != nil {
		t.Errorf("removing twice: %v", err)
	}

	info, err := p.client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events, err := p.client.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.client.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(shim.SocketPath(p.dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after shutdown (%v)", err)
	}
	waitGone(t, info.Pid)
	select {
	case _, ok := <-events:
		if ok {
			t.Error("event after shutdown")
		}
	case <-time.After(2 * time.Second):
		t.Error("event stream still open after the shim exited")
	}
}

func TestSecondServeOnSameDirRefuses(t *testing.T) {
	p := newPod(t)
	info, err := p.client.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(shimBinary, "serve", "--dir", p.dir).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != shim.ExitAlreadyServing {
		t.Fatalf("second serve: %v, want exit %d", err, shim.ExitAlreadyServing)
	}
	if want := fmt.Sprintf("pid %d", info.Pid); !strings.Contains(string(out), "already serves") || !strings.Contains(string(out), want) {
		t.Errorf("second serve said %q, want it to name the serving shim (%s)", out, want)
	}
	if _, err := p.client.Info(context.Background()); err != nil {
		t.Errorf("first shim stopped answering: %v", err)
	}
}

func TestShimRestartAdoptsLiveContainersAndLosesCodesOfDeadOnes(t *testing.T) {
	p := newPod(t)
	ctx := context.Background()
	live := p.create(t, p.request("survivor", "sleep"))
	dead := p.create(t, p.request("casualty", "sleep"))
	p.create(t, p.request("finished", "print", "4"))
	p.wait(t, "finished", 5*time.Second)

	info, err := p.client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(info.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, info.Pid)
	// While no shim runs, one container dies: nobody can know its code.
	if err := syscall.Kill(dead.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, dead.Pid)

	c := p.start(t)
	defer c.Close()
	byID := map[string]shim.Container{}
	ctrs, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range ctrs {
		byID[ctr.ID] = ctr
	}
	if got := byID["survivor"]; got.State != shim.StateRunning || got.Pid != live.Pid {
		t.Errorf("survivor = %s pid %d, want running pid %d", got.State, got.Pid, live.Pid)
	}
	if got := byID["finished"]; got.State != shim.StateExited || got.ExitCode != 4 {
		t.Errorf("finished = %s code %d, want its recorded exit 4", got.State, got.ExitCode)
	}
	casualty, err := c.Wait(ctx, "casualty", 5*time.Second)
	if err != nil || casualty.ExitCode != shim.ExitCodeUnknown || casualty.Reason != shim.ReasonUnknown {
		t.Errorf("casualty = code %d reason %q (%v), want %d Unknown", casualty.ExitCode, casualty.Reason, err, shim.ExitCodeUnknown)
	}

	// The adopted container is not the new shim's child, yet its exit is seen.
	if err := c.Signal(ctx, "survivor", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	survivor, err := c.Wait(ctx, "survivor", 5*time.Second)
	if err != nil || survivor.ExitCode != shim.ExitCodeUnknown || survivor.Reason != shim.ReasonUnknown {
		t.Errorf("survivor after kill = code %d reason %q (%v), want %d Unknown", survivor.ExitCode, survivor.Reason, err, shim.ExitCodeUnknown)
	}
	p.client = c
}

func TestCreateRefusesBadRequests(t *testing.T) {
	p := newPod(t)
	ctx := context.Background()
	p.create(t, p.request("taken", "sleep"))
	tests := []struct {
		name   string
		mutate func(*shim.CreateRequest)
		want   error
		text   string
	}{
		{"id with a slash", func(r *shim.CreateRequest) { r.ID = "a/b" }, shim.ErrInvalid, "container id"},
		{"id in use", func(r *shim.CreateRequest) { r.ID = "taken" }, shim.ErrAlreadyExists, "taken"},
		{"no spec", func(r *shim.CreateRequest) { r.Spec = nil }, shim.ErrInvalid, "no spec"},
		{"relative rootfs", func(r *shim.CreateRequest) { r.Spec.Root.Path = "rootfs" }, shim.ErrInvalid, "absolute"},
		{"relative log path", func(r *shim.CreateRequest) { r.LogPath = "x.log" }, shim.ErrInvalid, "log path"},
		{"seccomp without the build tag", func(r *shim.CreateRequest) {
			r.Spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
		}, shim.ErrInvalid, "-tags seccomp"},
		{"missing program", func(r *shim.CreateRequest) { r.Spec.Process.Args = []string{"/nonexistent"} }, nil, "nonexistent"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := p.request(fmt.Sprintf("bad%d", i), "sleep")
			tt.mutate(&req)
			_, err := p.client.Create(ctx, req)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("create = %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
	// Failed starts leave no record and no libcontainer state behind.
	ctrs, err := p.client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs) != 1 || ctrs[0].ID != "taken" {
		t.Errorf("containers after failed creates: %+v, want only taken", ctrs)
	}
	states, _ := os.ReadDir(filepath.Join(p.dir, shim.LibcontainerDir))
	if len(states) != 1 {
		t.Errorf("libcontainer states after failed creates: %d, want 1", len(states))
	}
}

func TestContainerStartLatency(t *testing.T) {
	p := newPod(t)
	ctx := context.Background()
	var took []time.Duration
	for i := range 10 {
		req := p.request(fmt.Sprintf("fast%d", i), "print", "0")
		begin := time.Now()
		if _, err := p.client.Create(ctx, req); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(begin))
	}
	slices.Sort(took)
	median := (took[4] + took[5]) / 2
	t.Logf("container start (create to running) over 10: median %v, min %v, max %v", median, took[0], took[9])
	if median > time.Second {
		t.Errorf("median start %v, want well under a second", median)
	}
}
