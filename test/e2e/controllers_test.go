package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// joinSimulated joins n simulated nodes named after name to c with the server's node token; the agent
// stops when owner ends.
func (c *cluster) joinSimulated(owner *testing.T, name string, n int, extra ...string) *agentProcess {
	owner.Helper()
	return startAgent(owner, append([]string{"--server", "https://127.0.0.1:" + strconv.Itoa(c.port),
		"--token-file", filepath.Join(c.dataDir, "node-token"), "--simulate", "--nodes", strconv.Itoa(n),
		"--node-name", name, "--data-dir", owner.TempDir(), "--node-lease-duration-seconds", "4"}, extra...)...)
}

// eventually polls cond every 200 ms until it holds.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last error: %v)", what, timeout, last)
}

func (c *cluster) clientset() *kubernetes.Clientset {
	c.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		c.t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return cs
}

func isPodReady(pod *corev1.Pod) bool {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// deploymentYAML is a Deployment of the given name and replicas, rolling with maxSurge 3 and
// maxUnavailable 2.
func deploymentYAML(name string, replicas int) string {
	return strings.NewReplacer("NAME", name, "REPLICAS", strconv.Itoa(replicas)).Replace(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
spec:
  replicas: REPLICAS
  strategy:
    rollingUpdate: {maxSurge: 3, maxUnavailable: 2}
  selector:
    matchLabels: {app: NAME}
  template:
    metadata:
      labels: {app: NAME}
    spec:
      containers:
      - name: app
        image: registry.local/app:v1
`)
}

var rollDeployment = deploymentYAML("roll", 10)

// TestControllersOnSimulatedNodes is the control loop end to end: `skiff server` with its controllers,
// `skiff agent --simulate` nodes, and the real kubectl.
func TestControllersOnSimulatedNodes(t *testing.T) {
	root := t
	c := &cluster{t: t, dataDir: t.TempDir(), port: freePort(t), disable: "agent",
		extraArgs: []string{"--node-monitor-grace-period", "8s", "--default-not-ready-toleration-seconds", "3"}}
	c.start()
	t.Cleanup(c.stop)
	c.joinSimulated(t, "sim", 3)
	cs := c.clientset()
	ctx := context.Background()
	eventually(t, 60*time.Second, "3 Ready nodes", func() (bool, error) {
		out, err := c.kubectlErr(nil, "get", "nodes", "--no-headers")
		return strings.Count(out, " Ready ") == 3, err
	})
	// A CronJob runs in the background while the rest is checked: its first Job comes within a minute.
	c.kubectlIn(`apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: registry.local/app:v1, command: ["true"]}]
`, "apply", "-f", "-")

	t.Run("Deployment", func(t *testing.T) {
		c.t = t
		c.kubectlIn(rollDeployment, "apply", "-f", "-")
		c.kubectl("rollout", "status", "deployment/roll", "--timeout=90s")
		contains(t, c.kubectl("get", "deployment", "roll"), "10/10")

		// Watch every pod change of the rollout and check the bounds at each observed moment.
		selector := labels.SelectorFromSet(labels.Set{"app": "roll"})
		factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace("default"),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector.String() }))
		pods := factory.Core().V1().Pods()
		var mu sync.Mutex
		var violations []string
		maxSeen, minReady := 0, 10
		check := func(any) {
			list, _ := pods.Lister().List(labels.Everything())
			live, ready := 0, 0
			for _, p := range list {
				if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
					continue
				}
				live++
				if isPodReady(p) {
					ready++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			maxSeen, minReady = max(maxSeen, live), min(minReady, ready)
			if live > 13 || ready < 8 {
				violations = append(violations, fmt.Sprintf("%d pods, %d ready", live, ready))
			}
		}
		pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: check, UpdateFunc: func(_, o any) { check(o) }, DeleteFunc: check})
		stop := make(chan struct{})
		factory.Start(stop)
		factory.WaitForCacheSync(stop)
		c.kubectl("set", "image", "deployment/roll", "app=registry.local/app:v2")
		c.kubectl("rollout", "status", "deployment/roll", "--timeout=120s")
		close(stop)
		factory.Shutdown()
		mu.Lock()
		if len(violations) > 0 {
			t.Errorf("rollout broke maxSurge 3 / maxUnavailable 2 of 10 replicas: %v", violations)
		}
		t.Logf("rollout: at most %d pods, at least %d ready", maxSeen, minReady)
		mu.Unlock()
		contains(t, c.kubectl("get", "deployment", "roll", "-o", "jsonpath={.spec.template.spec.containers[0].image}"), "app:v2")
		contains(t, c.kubectl("rollout", "history", "deployment/roll"), "1 ", "2 ")

		c.kubectl("rollout", "undo", "deployment/roll")
		c.kubectl("rollout", "status", "deployment/roll", "--timeout=120s")
		contains(t, c.kubectl("get", "deployment", "roll", "-o", "jsonpath={.spec.template.spec.containers[0].image}"), "app:v1")
		contains(t, c.kubectl("rollout", "history", "deployment/roll"), "3 ")

		c.kubectl("scale", "deployment/roll", "--replicas=14")
		c.kubectl("rollout", "status", "deployment/roll", "--timeout=90s")
		eventually(t, 60*time.Second, "14 ready pods", func() (bool, error) {
			out, err := c.kubectlErr(nil, "get", "deployment", "roll", "-o", "jsonpath={.status.readyReplicas}")
			return out == "14", err
		})
		c.kubectl("scale", "deployment/roll", "--replicas=4")
		eventually(t, 60*time.Second, "4 pods after scaling down", func() (bool, error) {
			list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=roll"})
			return err == nil && len(list.Items) == 4, err
		})

		victim := strings.Fields(c.kubectl("get", "pods", "-l", "app=roll", "-o", "name"))[0]
		c.kubectl("delete", victim)
		eventually(t, 60*time.Second, "the deleted pod replaced", func() (bool, error) {
			out, err := c.kubectlErr(nil, "get", "deployment", "roll", "-o", "jsonpath={.status.readyReplicas}")
			names, _ := c.kubectlErr(nil, "get", "pods", "-l", "app=roll", "-o", "name")
			return out == "4" && !strings.Contains(names, victim+"\n"), err
		})

		c.kubectl("delete", "deployment", "roll")
		eventually(t, 60*time.Second, "ReplicaSets and pods of the deleted Deployment gone", func() (bool, error) {
			out, err := c.kubectlErr(nil, "get", "rs,pods", "-l", "app=roll", "--no-headers")
			return strings.TrimSpace(out) == "" || strings.Contains(out, "No resources found"), err
		})
	})

	t.Run("StatefulSet", func(t *testing.T) {
		c.t = t
		// Record the order pods appear and become Ready in.
		w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		c.kubectlIn(`apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.local/app:v1
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`, "apply", "-f", "-")
		c.kubectl("rollout", "status", "statefulset/web", "--timeout=120s")
		var order []string
		ready := map[string]bool{}
	events:
		for {
			select {
			case ev := <-w.ResultChan():
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				if _, seen := ready[pod.Name]; !seen {
					// A pod may only appear once every lower ordinal is Ready.
					ord, _ := strconv.Atoi(strings.TrimPrefix(pod.Name, "web-"))
					for i := 0; i < ord; i++ {
						if !ready[fmt.Sprintf("web-%d", i)] {
							t.Errorf("%s appeared before web-%d was Ready", pod.Name, i)
						}
					}
					order = append(order, pod.Name)
					ready[pod.Name] = false
				}
				if isPodReady(pod) {
					ready[pod.Name] = true
				}
				if len(ready) == 3 && ready["web-2"] {
					break events
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("pods seen: %v", ready)
			}
		}
		if strings.Join(order, ",") != "web-0,web-1,web-2" {
			t.Errorf("pods appeared in order %v", order)
		}
		out := c.kubectl("get", "pvc", "-o", "custom-columns=NAME:.metadata.name,STATUS:.status.phase", "--no-headers")
		contains(t, out, "data-web-0", "data-web-1", "data-web-2")
		eventually(t, 60*time.Second, "claims bound", func() (bool, error) {
			out, err := c.kubectlErr(nil, "get", "pvc", "-o", "jsonpath={.items[*].status.phase}")
			return out == "Bound Bound Bound", err
		})
	})

	var extra *agentProcess
	t.Run("DaemonSetFollowsNodes", func(t *testing.T) {
		c.t = t
		c.kubectlIn(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everywhere}
spec:
  selector:
    matchLabels: {app: everywhere}
  template:
    metadata:
      labels: {app: everywhere}
    spec:
      containers: [{name: c, image: registry.local/app:v1}]
`, "apply", "-f", "-")
		dsPods := func(n int) func() (bool, error) {
			return func() (bool, error) {
				list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=everywhere"})
				if err != nil {
					return false, err
				}
				nodes := map[string]bool{}
				for _, p := range list.Items {
					if p.Spec.NodeName != "" && isPodReady(&p) {
						nodes[p.Spec.NodeName] = true
					}
				}
				return len(list.Items) == n && len(nodes) == n, nil
			}
		}
		eventually(t, 60*time.Second, "a ready pod on each of 3 nodes", dsPods(3))
		extra = c.joinSimulated(root, "extra", 1)
		eventually(t, 60*time.Second, "a ready pod on each of 4 nodes", dsPods(4))
	})

	t.Run("JobCompletes", func(t *testing.T) {
		c.t = t
		c.kubectlIn(`apiVersion: batch/v1
kind: Job
metadata: {name: five}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: registry.local/app:v1, command: ["sleep", "1"]}]
`, "apply", "-f", "-")
		eventually(t, 120*time.Second, "job five complete", func() (bool, error) {
			job, err := cs.BatchV1().Jobs("default").Get(ctx, "five", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if job.Status.Active > 2 {
				t.Errorf("%d pods active at once with parallelism 2", job.Status.Active)
			}
			for _, cond := range job.Status.Conditions {
				if cond.Type == "Complete" && cond.Status == corev1.ConditionTrue {
					return job.Status.Succeeded == 5, nil
				}
			}
			return false, nil
		})
	})

	t.Run("Cascades", func(t *testing.T) {
		c.t = t
		for _, name := range []string{"fg", "orphan"} {
			c.kubectlIn(deploymentYAML(name, 2), "apply", "-f", "-")
			c.kubectl("rollout", "status", "deployment/"+name, "--timeout=60s")
		}
		// A finalizer on one pod holds its ReplicaSet, and so the Deployment, until it is removed.
		held := strings.Fields(c.kubectl("get", "pods", "-l", "app=fg", "-o", "name"))[0]
		c.kubectl("patch", held, "--type=merge", "-p", `{"metadata":{"finalizers":["example.com/hold"]}}`)
		c.kubectl("delete", "deployment", "fg", "--cascade=foreground", "--wait=false")
		time.Sleep(2 * time.Second)
		out := c.kubectl("get", "deployment", "fg", "-o", "jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}")
		contains(t, out, "foregroundDeletion")
		contains(t, c.kubectl("get", "rs", "-l", "app=fg", "-o", "jsonpath={.items[*].metadata.finalizers}"), "foregroundDeletion")
		c.kubectl("patch", held, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
		c.kubectl("wait", "--for=delete", "deployment/fg", "--timeout=60s")
		if out, _ := c.kubectlErr(nil, "get", "rs,pods", "-l", "app=fg", "--no-headers"); strings.Contains(out, "fg-") {
			t.Errorf("dependents of a foreground-deleted deployment remain:\n%s", out)
		}

		c.kubectl("delete", "deployment", "orphan", "--cascade=orphan")
		time.Sleep(2 * time.Second) // the collector's chance to do wrong
		out = c.kubectl("get", "rs", "-l", "app=orphan", "-o", `jsonpath={range .items[*]}{.metadata.name}:{.metadata.ownerReferences}{"\n"}{end}`)
		if lines := strings.Fields(out); len(lines) != 1 || !strings.HasSuffix(lines[0], ":") {
			t.Errorf("want the orphaned ReplicaSet kept without owners, got %q", out)
		}
		contains(t, c.kubectl("get", "pods", "-l", "app=orphan", "--no-headers"), "Running")
	})

	t.Run("NamespaceDeletionRemovesContent", func(t *testing.T) {
		c.t = t
		c.kubectlIn(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`, "apply", "-f", "-")
		c.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s")
		c.kubectl("create", "namespace", "doomed")
		c.kubectlIn(`apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: doomed}
spec: {size: 3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: doomed}
`+strings.ReplaceAll(rollDeployment, "name: roll", "name: roll\n  namespace: doomed"), "apply", "-f", "-")
		c.kubectl("rollout", "status", "-n", "doomed", "deployment/roll", "--timeout=60s")
		c.kubectl("delete", "namespace", "doomed", "--timeout=90s")
		if out, err := c.kubectlErr(nil, "get", "namespace", "doomed"); err == nil {
			t.Errorf("namespace still there: %s", out)
		}
		c.kubectl("create", "namespace", "doomed")
		if out := c.kubectl("get", "widgets,configmaps,deployments,pods", "-n", "doomed", "--no-headers", "-o", "name"); strings.Contains(out, "widget") || strings.Contains(out, "roll") {
			t.Errorf("content of the deleted namespace came back with its name:\n%s", out)
		}
	})

	t.Run("PodThatFitsNowhereWaitsForANode", func(t *testing.T) {
		c.t = t
		c.kubectlIn(`apiVersion: v1
kind: Pod
metadata: {name: picky}
spec:
  nodeSelector: {disktype: ssd}
  containers: [{name: c, image: registry.local/app:v1}]
`, "apply", "-f", "-")
		eventually(t, 30*time.Second, "FailedScheduling event", func() (bool, error) {
			out, err := c.kubectlErr(nil, "get", "events", "--field-selector", "involvedObject.name=picky,reason=FailedScheduling", "-o", "jsonpath={.items[*].message}")
			return strings.Contains(out, "didn't match Pod's node affinity/selector"), err
		})
		contains(t, c.kubectl("get", "pod", "picky", "-o", "jsonpath={.status.phase} {.status.conditions[?(@.type==\"PodScheduled\")].reason}"), "Pending Unschedulable")
		c.joinSimulated(root, "ssd", 1, "--node-labels", "disktype=ssd")
		c.kubectl("wait", "--for=condition=Ready", "pod/picky", "--timeout=60s")
		contains(t, c.kubectl("get", "pod", "picky", "-o", "jsonpath={.spec.nodeName}"), "ssd")
	})

	t.Run("LostNodeIsReplaced", func(t *testing.T) {
		c.t = t
		if extra == nil {
			t.Skip("needs the extra node of DaemonSetFollowsNodes")
		}
		lost := "extra"
		// Put pods on the node to lose: the others are cordoned while the Deployment grows.
		c.kubectlIn(deploymentYAML("roll", 4), "apply", "-f", "-")
		c.kubectl("rollout", "status", "deployment/roll", "--timeout=60s")
		others := strings.Fields(c.kubectl("get", "nodes", "-o", "jsonpath={.items[?(@.metadata.name!=\"extra\")].metadata.name}"))
		c.kubectl(append([]string{"cordon"}, others...)...)
		c.kubectl("scale", "deployment/roll", "--replicas=8")
		c.kubectl("rollout", "status", "deployment/roll", "--timeout=60s")
		c.kubectl(append([]string{"uncordon"}, others...)...)
		onLost := c.kubectl("get", "pods", "-l", "app=roll", "--field-selector", "spec.nodeName="+lost, "-o", "name")
		if strings.Count(onLost, "pod/") < 4 {
			t.Fatalf("pods on %s: %q\n%s", lost, onLost, c.kubectl("get", "pods", "-o", "wide"))
		}
		extra.cmd.Process.Kill()
		<-extra.done
		eventually(t, 60*time.Second, lost+" NotReady", func() (bool, error) {
			out, err := c.kubectlErr(nil, "get", "node", lost, "--no-headers")
			return strings.Contains(out, "NotReady"), err
		})
		eventually(t, 90*time.Second, "8 ready pods, none on the lost node", func() (bool, error) {
			list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=roll"})
			if err != nil {
				return false, err
			}
			ready := 0
			for _, p := range list.Items {
				if p.Spec.NodeName != lost && p.DeletionTimestamp == nil && isPodReady(&p) {
					ready++
				}
			}
			return ready == 8, nil
		})
	})

	t.Run("CronJobRunsOnSchedule", func(t *testing.T) {
		c.t = t
		eventually(t, 90*time.Second, "a Job of CronJob tick", func() (bool, error) {
			list, err := cs.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, j := range list.Items {
				if len(j.OwnerReferences) > 0 && j.OwnerReferences[0].Name == "tick" {
					return true, nil
				}
			}
			return false, nil
		})
		contains(t, c.kubectl("get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}"), "T")
	})
	c.t = t
}
