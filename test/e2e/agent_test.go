package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentProcess is a `skiff agent` process started by a test.
type agentProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan error
}

// startAgent runs `skiff agent args...` until stop, or the end of the test.
func startAgent(t *testing.T, args ...string) *agentProcess {
	t.Helper()
	a := &agentProcess{t: t, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	a.cmd = exec.Command(skiffBin, append([]string{"agent"}, args...)...)
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start skiff agent: %v", err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(a.stop)
	return a
}

// stop ends the agent with SIGTERM and checks that it exits 0.
func (a *agentProcess) stop() {
	a.t.Helper()
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		if err != nil {
			a.t.Errorf("agent exited with %v\n%s", err, a.logs.String())
		}
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
		a.t.Errorf("agent did not stop within 30s of SIGTERM\n%s", a.logs.String())
	}
}

// waitFor polls kubectl until its output satisfies ok.
func (c *cluster) waitFor(what string, ok func(string) bool, args ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.kubectlErr(nil, args...)
		if err == nil && ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not within 60s; last kubectl %s: %v\n%s", what, strings.Join(args, " "), err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const readyNodes = `{range .items[*]}{.metadata.name}={range .status.conditions[?(@.type=="Ready")]}{.status}{end} {end}`

func TestAgentJoinsSimulatedNodesWithTheToken(t *testing.T) {
	c := startCluster(t)
	agentDir := t.TempDir()
	args := []string{"--server", fmt.Sprintf("https://127.0.0.1:%d", c.port), "--token-file", filepath.Join(c.dataDir, "node-token"),
		"--simulate", "--nodes", "3", "--node-name", "e2e", "--node-ip", "192.0.2.7", "--data-dir", agentDir}
	first := startAgent(t, args...)
	want := "e2e-0=True e2e-1=True e2e-2=True "
	c.waitFor("3 Ready nodes", func(out string) bool { return out == want }, "get", "nodes", "-o", "jsonpath="+readyNodes)
	out := c.kubectl("get", "nodes")
	contains(t, out, "e2e-0", "e2e-1", "e2e-2", "Ready")
	wide := c.kubectl("get", "node", "e2e-1", "-o", "wide")
	contains(t, wide, "192.0.2.7", "simulated://0.1")

	// A pod bound to a node runs there once the node has a pod CIDR.
	c.kubectl("patch", "node", "e2e-1", "--type=merge", "-p", `{"spec":{"podCIDR":"10.42.1.0/24","podCIDRs":["10.42.1.0/24"]}}`)
	c.kubectlIn(`apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  nodeName: e2e-1
  containers: [{name: main, image: busybox, command: [sleep, "3600"]}]
`, "apply", "-f", "-")
	c.waitFor("pod hello Running", func(out string) bool { return strings.HasPrefix(out, "Running 10.42.1.") },
		"get", "pod", "hello", "-o", "jsonpath={.status.phase} {.status.podIP}")

	for _, f := range []string{"kubeconfig", "pki/node-client.crt", "pki/node-client.key", "pki/ca.crt"} {
		if _, err := os.Stat(filepath.Join(agentDir, f)); err != nil {
			t.Errorf("agent data dir lacks %s: %v", f, err)
		}
	}
	first.stop()

	// Started again with the same flags, the agent runs the same nodes with the credentials it kept.
	before := c.kubectl("get", "lease", "-n", "kube-node-lease", "e2e-2", "-o", "jsonpath={.spec.renewTime}")
	second := startAgent(t, args...)
	c.waitFor("lease of e2e-2 renewed by the restarted agent", func(out string) bool { return out != "" && out != before },
		"get", "lease", "-n", "kube-node-lease", "e2e-2", "-o", "jsonpath={.spec.renewTime}")
	if got := c.kubectl("get", "nodes", "-o", "jsonpath="+readyNodes); got != want {
		t.Errorf("nodes after the restart: %q, want %q", got, want)
	}
	if got := c.kubectl("get", "pod", "hello", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"); got != "0" {
		t.Errorf("pod restarted by the restarted agent: restartCount %s", got)
	}
	c.kubectl("delete", "pod", "hello", "--wait=true", "--timeout=60s")
	second.stop()
	contains(t, second.logs.String(), "skiff agent: 3 simulated node(s)")
}

func TestAgentRefusesAWrongTokenClearly(t *testing.T) {
	c := startCluster(t)
	token, err := os.ReadFile(filepath.Join(c.dataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _, _ := strings.Cut(strings.TrimSpace(string(token)), "::")
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, skiffBin, append([]string{"agent", "--data-dir", t.TempDir(), "--node-ip", "192.0.2.7"}, args...)...).CombinedOutput()
		return string(out), err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", c.port)

	out, err := run("--server", server, "--token", hash+"::node:wrong", "--simulate")
	if code := exitCode(err); code == 0 {
		t.Errorf("agent with a wrong token exited %d:\n%s", code, out)
	}
	contains(t, out, "refused the join token")

	out, err = run("--server", server, "--token", "K10"+strings.Repeat("0", 64)+"::node:whatever", "--simulate")
	if exitCode(err) == 0 {
		t.Errorf("agent with another cluster's token succeeded:\n%s", out)
	}
	contains(t, out, "not the one the join token names")

	out, err = run("--server", server, "--token", strings.TrimSpace(string(token)), "--nodes", "3")
	if exitCode(err) == 0 {
		t.Errorf("agent with --nodes 3 without --simulate succeeded:\n%s", out)
	}
	contains(t, out, "--nodes runs simulated nodes: add --simulate")
}
