package runc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/skiffhq/skiff/nodeagent/imagestore"
	"github.com/skiffhq/skiff/nodeagent/podnet"
	"github.com/skiffhq/skiff/nodeagent/runtime"
	"github.com/skiffhq/skiff/test/images"
)

var shimBinary string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "skiff-runc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shimBinary = filepath.Join(dir, "skiff-shim")
	cmd := exec.Command("go", "build", "-o", shimBinary, "github.com/skiffhq/skiff/cmd/skiff-shim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build skiff-shim: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// resources gives containers the plain values of their env and emptyDirs as directories: what the
// agent's implementation resolves from the API is the agent's to test.
type resources struct{ dir string }

func (r resources) Env(_ context.Context, _ *corev1.Pod, c *corev1.Container) ([]string, error) {
	var out []string
	for _, e := range c.Env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out, nil
}

func (resources) PullSecrets(context.Context, *corev1.Pod) ([][]byte, error) { return nil, nil }

func (r resources) Volumes(_ context.Context, pod *corev1.Pod) (map[string]Volume, error) {
	out := map[string]Volume{}
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil {
			return nil, fmt.Errorf("volume %s: only emptyDir here", v.Name)
		}
		p := filepath.Join(r.dir, string(pod.UID), v.Name)
		if err := os.MkdirAll(p, 0o777); err != nil {
			return nil, err
		}
		out[v.Name] = Volume{HostPath: p}
	}
	return out, nil
}

func (r resources) ReleaseVolumes(_ context.Context, uid types.UID) error {
	return os.RemoveAll(filepath.Join(r.dir, string(uid)))
}

func (resources) SubPath(volume, sub string) (string, error) { return filepath.Join(volume, sub), nil }

// node is a runtime on a bridge, netns dir, state dir and cgroup parent of the test's own.
type node struct {
	t      *testing.T
	opts   Options
	rt     *Runtime
	cidr   string
	nextIP int
	events chan runtime.ContainerEvent
}

func newNode(t *testing.T) *node {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs containers: needs root")
	}
	paths := images.ForTest(t)
	// Not t.TempDir: the shim's unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "skiff-runc-")
	if err != nil {
		t.Fatal(err)
	}
	store, err := imagestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range []string{paths.Busybox, paths.TestServer} {
		if _, err := store.Import(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	netCfg := podnet.Config{Bridge: fmt.Sprintf("sk%06x", rand.IntN(1<<24)), RunDir: filepath.Join(dir, "netns")}
	network, err := podnet.New(netCfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cidr: fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(50), rand.IntN(256)), nextIP: 2,
		events: make(chan runtime.ContainerEvent, 100)}
	n.opts = Options{Dir: filepath.Join(dir, "state"), ShimBinary: shimBinary, Images: store, Network: network,
		Resources: resources{dir: filepath.Join(dir, "volumes")}, CgroupParent: "/skiff-test-" + filepath.Base(dir)}
	n.open()
	if err := n.rt.UpdatePodCIDR(ctx, n.cidr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		sbs, _ := n.rt.ListPodSandboxes(ctx)
		for _, sb := range sbs {
			if err := n.rt.RemovePodSandbox(ctx, sb.PodUID); err != nil {
				t.Errorf("cleanup: remove pod %s: %v", sb.PodUID, err)
			}
		}
		n.rt.Close()
		if err := network.DeleteBridge(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := network.UnmountRunDir(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := removeCgroup(n.opts.CgroupParent); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		store.Close()
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return n
}

// open opens the runtime on the node's state, as an agent does at start.
func (n *node) open() {
	rt, err := Open(context.Background(), n.opts)
	if err != nil {
		n.t.Fatal(err)
	}
	n.rt = rt
	rt.Subscribe(func(ev runtime.ContainerEvent) {
		select {
		case n.events <- ev:
		default:
		}
	})
}

func (n *node) ip() string {
	ip := strings.TrimSuffix(n.cidr, "0/24") + fmt.Sprint(n.nextIP)
	n.nextIP++
	return ip
}

func testPod(name string, containers ...corev1.Container) *corev1.Pod {
	for i := range containers {
		if containers[i].ImagePullPolicy == "" {
			containers[i].ImagePullPolicy = corev1.PullNever
		}
		containers[i].TerminationMessagePath = corev1.TerminationMessagePathDefault
		containers[i].TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uuid.NewUUID()},
		Spec:       corev1.PodSpec{NodeName: "node", Containers: containers},
	}
}

// run makes the pod's sandbox and starts its containers.
func (n *node) run(pod *corev1.Pod) (ip string, ids []string) {
	n.t.Helper()
	ctx := context.Background()
	ip = n.ip()
	if err := n.rt.RunPodSandbox(ctx, pod, ip); err != nil {
		n.t.Fatalf("run sandbox: %v", err)
	}
	for i := range pod.Spec.Containers {
		id, err := n.rt.StartContainer(ctx, pod, &pod.Spec.Containers[i], 0)
		if err != nil {
			n.t.Fatalf("start %s: %v", pod.Spec.Containers[i].Name, err)
		}
		ids = append(ids, id)
	}
	return ip, ids
}

// waitContainer waits until the container's status satisfies cond.
func (n *node) waitContainer(uid types.UID, id string, what string, cond func(runtime.ContainerStatus) bool) runtime.ContainerStatus {
	n.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := n.rt.ListContainers(context.Background(), uid)
		if err != nil {
			n.t.Fatal(err)
		}
		for _, c := range list {
			if c.ID == id && cond(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("container %s: not %s within 20s: %+v", id, what, list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exited(c runtime.ContainerStatus) bool { return c.State == runtime.ContainerExited }

// httpGet asks the pod, retrying while its server starts.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPodAnswersOnItsIPWithItsNameAndEnvAndKeepsRunningAcrossRestarts(t *testing.T) {
	n := newNode(t)
	pod := testPod("web", corev1.Container{Name: "server", Image: images.TestServer,
		Env: []corev1.EnvVar{{Name: "GREETING", Value: "hello"}, {Name: "PORT", Value: "8081"}}})
	ip, ids := n.run(pod)
	base := "http://" + ip + ":8081"
	if got := httpGet(t, base+"/"); got != "web\n" {
		t.Errorf("GET / = %q, want the pod's name as hostname", got)
	}
	env := httpGet(t, base+"/env")
	for _, want := range []string{"GREETING=hello", "HOSTNAME=web", "PATH=/usr/local/sbin:"} {
		if !strings.Contains(env, want) {
			t.Errorf("environment lacks %q:\n%s", want, env)
		}
	}
	hosts, err := os.ReadFile(filepath.Join(n.rt.podDir(pod.UID), "etc", "hosts"))
	if err != nil || !strings.Contains(string(hosts), ip+"\tweb\n") {
		t.Errorf("pod hosts file %q (%v) lacks %s web", hosts, err, ip)
	}
	started := n.waitContainer(pod.UID, ids[0], "running", func(c runtime.ContainerStatus) bool { return c.State == runtime.ContainerRunning })
	if started.Image != images.TestServer || !strings.HasPrefix(started.ImageRef, "sha256:") && !strings.Contains(started.ImageRef, "@sha256:") {
		t.Errorf("image %q ref %q", started.Image, started.ImageRef)
	}

	// An agent restart: the runtime is opened again on the same state and finds the pod as it was.
	n.rt.Close()
	n.open()
	sb, err := n.rt.PodSandboxStatus(context.Background(), pod.UID)
	if err != nil || sb.State != runtime.SandboxReady || sb.IP != ip || sb.Name != "web" {
		t.Fatalf("sandbox after reopening: %+v, %v", sb, err)
	}
	again := n.waitContainer(pod.UID, ids[0], "running", func(c runtime.ContainerStatus) bool { return c.State == runtime.ContainerRunning })
	if !again.StartedAt.Equal(started.StartedAt) {
		t.Errorf("container restarted: started %v, before %v", again.StartedAt, started.StartedAt)
	}
	if got := httpGet(t, base+"/echo?msg=still"); got != "still" {
		t.Errorf("after reopening: %q", got)
	}

	// A graceful stop: the test server exits 0 on SIGTERM.
	if err := n.rt.StopContainer(context.Background(), ids[0], 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st := n.waitContainer(pod.UID, ids[0], "exited", exited)
	if st.ExitCode != 0 || st.Reason != runtime.ReasonCompleted {
		t.Errorf("after SIGTERM: exit %d reason %q, want 0 Completed", st.ExitCode, st.Reason)
	}
}

func TestExitCodeTerminationMessageAndLogs(t *testing.T) {
	n := newNode(t)
	pod := testPod("fails", corev1.Container{Name: "c", Image: images.Busybox,
		Command: []string{"sh", "-c", "echo to-the-log; echo $(MSG) > /dev/termination-log; exit 3"},
		Env:     []corev1.EnvVar{{Name: "MSG", Value: "bad things"}}})
	_, ids := n.run(pod)
	st := n.waitContainer(pod.UID, ids[0], "exited", exited)
	if st.ExitCode != 3 || st.Reason != runtime.ReasonError {
		t.Errorf("exit %d reason %q, want 3 Error", st.ExitCode, st.Reason)
	}
	if st.Message != "bad things\n" {
		t.Errorf("termination message %q, want %q ($(MSG) expanded in the command)", st.Message, "bad things\n")
	}
	log := n.rt.logPath(pod, "c", 0)
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || !strings.HasSuffix(sc.Text(), " stdout F to-the-log") {
		t.Errorf("log %s: first line %q, want a CRI line with to-the-log", log, sc.Text())
	}
}

func TestFallbackToLogsOnErrorAndReadOnlyRootAndUser(t *testing.T) {
	n := newNode(t)
	ro := true
	uid := int64(65534)
	c := corev1.Container{Name: "c", Image: images.Busybox,
		Command:         []string{"sh", "-c", "id -u; touch /x || echo read-only; exit 1"},
		SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: &ro, RunAsUser: &uid}}
	pod := testPod("ro", c)
	pod.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	_, ids := n.run(pod)
	st := n.waitContainer(pod.UID, ids[0], "exited", exited)
	if !strings.Contains(st.Message, "65534\n") || !strings.Contains(st.Message, "read-only\n") {
		t.Errorf("message from the log %q: want the uid 65534 and the refused write", st.Message)
	}
}

func TestRunAsNonRootRefusesARootImage(t *testing.T) {
	n := newNode(t)
	yes := true
	pod := testPod("nonroot", corev1.Container{Name: "c", Image: images.Busybox, Command: []string{"true"},
		SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes}})
	if err := n.rt.RunPodSandbox(context.Background(), pod, n.ip()); err != nil {
		t.Fatal(err)
	}
	_, err := n.rt.StartContainer(context.Background(), pod, &pod.Spec.Containers[0], 0)
	var ce *runtime.ContainerError
	if !errors.As(err, &ce) || ce.Reason != "CreateContainerConfigError" || !strings.Contains(ce.Message, "runAsNonRoot and image will run as root") {
		t.Fatalf("start: %v, want CreateContainerConfigError about runAsNonRoot", err)
	}
}

func TestMemoryLimitOOMKillsAndCPUQuotaIsSet(t *testing.T) {
	n := newNode(t)
	pod := testPod("oom",
		corev1.Container{Name: "c", Image: images.TestServer, Args: []string{"alloc", "200"},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}},
		corev1.Container{Name: "cpu", Image: images.Busybox, Command: []string{"sleep", "3600"},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}})
	_, ids := n.run(pod)
	st := n.waitContainer(pod.UID, ids[0], "exited", exited)
	if st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Errorf("exit %d reason %q, want 137 OOMKilled", st.ExitCode, st.Reason)
	}
	cg := filepath.Join(n.opts.CgroupParent, "pod"+string(pod.UID), ids[1])
	var quota string
	if b, err := os.ReadFile(filepath.Join(cgroupRoot, cg, "cpu.max")); err == nil { // v2
		quota = strings.TrimSpace(string(b))
	} else if b, err := os.ReadFile(filepath.Join(cgroupRoot, "cpu", cg, "cpu.cfs_quota_us")); err == nil { // v1
		quota = strings.TrimSpace(string(b)) + " 100000"
	} else {
		t.Fatalf("no cpu quota file for %s: %v", cg, err)
	}
	if quota != "20000 100000" {
		t.Errorf("cpu quota %q, want 20000 µs per 100000 for 200m", quota)
	}
}

func TestRemovePodSandboxLeavesNothing(t *testing.T) {
	n := newNode(t)
	pod := testPod("gone", corev1.Container{Name: "c", Image: images.Busybox, Command: []string{"sleep", "3600"}})
	pod.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	_, ids := n.run(pod)
	n.waitContainer(pod.UID, ids[0], "running", func(c runtime.ContainerStatus) bool { return c.State == runtime.ContainerRunning })
	ctx := context.Background()
	if err := n.rt.RemovePodSandbox(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := n.rt.PodSandboxStatus(ctx, pod.UID); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("sandbox after removal: %v", err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), string(pod.UID)) || strings.Contains(string(mounts), ids[0]) {
		t.Errorf("mounts of the pod left:\n%s", mounts)
	}
	if _, err := netlink.LinkByName(podnet.HostVethName(pod.UID)); err == nil {
		t.Errorf("veth %s left", podnet.HostVethName(pod.UID))
	}
	for _, d := range []string{n.rt.podDir(pod.UID), filepath.Join(cgroupRoot, "memory", n.opts.CgroupParent, "pod"+string(pod.UID))} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left (%v)", d, err)
		}
	}
	if logs, _ := filepath.Glob(filepath.Join(n.opts.Dir, "logs", "*"+string(pod.UID))); len(logs) != 0 {
		t.Errorf("logs left: %v", logs)
	}
}
