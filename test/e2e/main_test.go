// Package e2e runs the built skiff binary as a user would and drives it with the real kubectl and helm.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// skiffBin is the binary under test: $SKIFF_BIN, or one built for this run.
var skiffBin string

func TestMain(m *testing.M) {
	skiffBin = os.Getenv("SKIFF_BIN")
	if skiffBin == "" {
		abs, err := filepath.Abs("../../bin/skiff")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		skiffBin = abs
		// The Makefile's build stamps the version, as users get it.
		build := exec.Command("make", "-C", "../..", "build")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build skiff:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// cluster is a `skiff server` process started by a test.
type cluster struct {
	t          *testing.T
	dataDir    string
	port       int
	kubeconfig string
	cmd        *exec.Cmd
	logs       *bytes.Buffer
	// extraArgs are more flags of `skiff server`.
	extraArgs []string
	// disable is the server's --disable flag; empty means "agent,controllers" (the API server alone),
	// "-" means nothing disabled.
	disable string
}

// startCluster runs `skiff server` on a free loopback port and waits for /readyz.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dataDir: t.TempDir(), port: freePort(t)}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *cluster) start() {
	c.t.Helper()
	c.logs = &bytes.Buffer{}
	c.cmd = exec.Command(skiffBin, "server", "--data-dir", c.dataDir, "--bind-address", "127.0.0.1",
		"--https-port", fmt.Sprint(c.port))
	if c.disable != "-" {
		c.cmd.Args = append(c.cmd.Args, "--disable", cmp.Or(c.disable, "agent,controllers"))
	}
	c.cmd.Args = append(c.cmd.Args, c.extraArgs...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start skiff: %v", err)
	}
	c.kubeconfig = filepath.Join(c.dataDir, "admin.kubeconfig")
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command("kubectl", "--kubeconfig", c.kubeconfig, "get", "--raw", "/readyz").CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) == "ok" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("server not ready: %v %s\nserver log:\n%s", err, out, c.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM and checks that it exits cleanly.
func (c *cluster) stop() {
	if c.cmd == nil || c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("server exited with %v\n%s", err, c.logs.String())
		}
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-done
		c.t.Errorf("server did not stop within 30s of SIGINT")
	}
}

// kill ends the server with SIGKILL, as a crash would.
func (c *cluster) kill() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// kubectl runs kubectl against the cluster and returns its output; it fails the test on error.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectlErr(nil, args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// kubectlIn runs kubectl with stdin.
func (c *cluster) kubectlIn(stdin string, args ...string) string {
	c.t.Helper()
	out, err := c.kubectlErr(strings.NewReader(stdin), args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) kubectlErr(stdin *strings.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func contains(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
