package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/nodeagent/podnet"
	"github.com/skiffhq/skiff/test/images"
)

// startNodeCluster runs `skiff server` with its own node agent and the runc runtime, with the test
// server image imported. When the test ends every pod is deleted, the server stopped, and the node
// bridge, the netns run dir mount and the cgroup parent removed by name.
func startNodeCluster(t *testing.T) *cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs pods with runc: needs root")
	}
	paths := images.ForTest(t)
	// Not t.TempDir: the shims' unix socket paths under the data dir must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "skiff-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dataDir: dir, port: freePort(t), disable: "-"}
	t.Cleanup(func() {
		if c.cmd != nil && c.cmd.ProcessState == nil {
			out, err := c.kubectlErr(nil, "delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait", "--timeout=60s")
			if err != nil {
				t.Errorf("cleanup: delete pods: %v\n%s", err, out)
			}
		}
		c.stop()
		network, err := podnet.New(podnet.Config{})
		if err != nil {
			t.Error(err)
			return
		}
		if err := network.DeleteBridge(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := network.UnmountRunDir(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/skiff")
		for _, cg := range append(cgroups, "/sys/fs/cgroup/skiff") {
			if err := os.Remove(cg); err != nil && !os.IsNotExist(err) {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	c.start()
	if out, err := exec.Command(skiffBin, "image", "import", "--data-dir", dir, paths.TestServer).CombinedOutput(); err != nil {
		t.Fatalf("skiff image import: %v\n%s", err, out)
	}
	c.waitFor("node Ready", func(out string) bool { return strings.Contains(out, "=True") }, "get", "nodes", "-o", "jsonpath="+readyNodes)
	return c
}

func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: server
        image: ` + images.TestServer + `
        ports: [{containerPort: 8080}]
        env:
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
`

// podsLine is name ip restartCount containerID per pod of app=web.
const podsLine = `{range .items[*]}{.metadata.name} {.status.podIP} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].containerID} {.metadata.uid}{"\n"}{end}`

func TestDeploymentOfRealPodsAnswersSurvivesAServerKillAndLeavesNothing(t *testing.T) {
	c := startNodeCluster(t)
	c.kubectlIn(webDeployment, "apply", "-f", "-")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
	before := strings.Fields(c.kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath="+podsLine))
	if len(before) != 15 {
		t.Fatalf("pods: %v, want 3", before)
	}
	for i := 0; i < len(before); i += 5 {
		name, ip := before[i], before[i+1]
		if got, err := httpGet("http://" + ip + ":8080/"); err != nil || got != name+"\n" {
			t.Errorf("pod %s on %s answered %q (%v), want its name", name, ip, got, err)
		}
		if env, err := httpGet("http://" + ip + ":8080/env"); err != nil || !strings.Contains(env, "POD_IP="+ip+"\n") {
			t.Errorf("pod %s: POD_IP from the downward API missing: %v\n%s", name, err, env)
		}
	}

	// The node's agent dies with the server; the pods keep running and are adopted, not restarted.
	c.kill()
	if got, err := httpGet("http://" + before[1] + ":8080/echo?msg=alive"); err != nil || got != "alive" {
		t.Errorf("pod after kill -9 of the server: %q %v", got, err)
	}
	c.start()
	c.waitFor("the same pods Running, not restarted", func(out string) bool {
		return out == strings.Join(before[:5], " ")+"\n"+strings.Join(before[5:10], " ")+"\n"+strings.Join(before[10:], " ")+"\n"
	}, "get", "pods", "-l", "app=web", "-o", "jsonpath="+podsLine)

	c.kubectl("delete", "deployment", "web")
	c.waitFor("pods gone", func(out string) bool { return strings.TrimSpace(out) == "" }, "get", "pods", "-l", "app=web", "-o", "name")
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(before); i += 5 {
		uid := types.UID(before[i+4])
		if strings.Contains(string(mounts), string(uid)) {
			t.Errorf("pod %s: mounts left", before[i])
		}
		if _, err := os.Stat(filepath.Join(podnet.DefaultRunDir, string(uid))); !os.IsNotExist(err) {
			t.Errorf("pod %s: network namespace left (%v)", before[i], err)
		}
		if out, _ := exec.Command("ip", "link", "show", podnet.HostVethName(uid)).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
			t.Errorf("pod %s: veth left: %s", before[i], out)
		}
		if cgs, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/skiff/pod%s", uid)); len(cgs) > 0 {
			t.Errorf("pod %s: cgroups left: %v", before[i], cgs)
		}
		if _, err := os.Stat(filepath.Join(c.dataDir, "pods", string(uid))); !os.IsNotExist(err) {
			t.Errorf("pod %s: state left (%v)", before[i], err)
		}
	}
}

func TestPodWithAMissingImageShowsErrImagePull(t *testing.T) {
	c := startNodeCluster(t)
	c.kubectl("run", "bad", "--image=127.0.0.1:1/nothere:v1", "--restart=Never")
	c.waitFor("ErrImagePull", func(out string) bool {
		return strings.Contains(out, "ErrImagePull") || strings.Contains(out, "ImagePullBackOff")
	},
		"get", "pod", "bad", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}")
}
