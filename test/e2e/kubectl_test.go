package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
        ports:
        - containerPort: 8080
`

const manifests = deployment + `---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: registry.local/db:1.0
---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: once
        image: registry.local/job:1.0
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: nightly
            image: registry.local/job:1.0
`

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
`

const widget = `apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
`

func TestKubectl(t *testing.T) {
	c := startCluster(t)

	t.Run("version shows the server's build", func(t *testing.T) {
		out := c.kubectl("version")
		contains(t, out, "Server Version: v1.37")
	})

	t.Run("api-resources lists every resource with short names", func(t *testing.T) {
		out := c.kubectl("api-resources")
		for _, want := range []string{
			"namespaces ", "ns ", "pods ", "po ", "services ", "svc ", "endpoints ", "configmaps ", "cm ",
			"secrets ", "nodes ", "events ", "ev ", "serviceaccounts ", "sa ", "persistentvolumes ", "pv ",
			"persistentvolumeclaims ", "pvc ", "resourcequotas ", "quota ", "limitranges ", "limits ",
			"replicationcontrollers ", "rc ", "podtemplates ", "deployments ", "deploy ", "replicasets ", "rs ",
			"statefulsets ", "sts ", "daemonsets ", "ds ", "controllerrevisions ", "jobs ", "cronjobs ", "cj ",
			"horizontalpodautoscalers ", "hpa ", "leases ", "endpointslices ", "poddisruptionbudgets ", "pdb ",
			"storageclasses ", "sc ", "priorityclasses ", "pc ", "roles ", "clusterroles ", "rolebindings ",
			"clusterrolebindings ", "ingresses ", "ing ", "ingressclasses ", "networkpolicies ", "netpol ",
			"customresourcedefinitions ", "crd,crds ", "selfsubjectreviews ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("api-resources lacks %q", want)
			}
		}
	})

	t.Run("system namespaces and the kubernetes service exist", func(t *testing.T) {
		out := c.kubectl("get", "namespaces")
		contains(t, out, "default", "kube-system", "kube-public", "kube-node-lease", "Active")
		out = c.kubectl("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
		if out != "10.43.0.1" {
			t.Errorf("kubernetes service ClusterIP = %q, want 10.43.0.1", out)
		}
	})

	t.Run("client-side apply creates and updates", func(t *testing.T) {
		out := c.kubectlIn(manifests, "apply", "-f", "-")
		contains(t, out, "deployment.apps/web created", "service/web created", "configmap/settings created",
			"secret/creds created", "statefulset.apps/db created", "job.batch/once created", "cronjob.batch/nightly created")
		out = c.kubectlIn(strings.Replace(deployment, "replicas: 2", "replicas: 4", 1), "apply", "-f", "-")
		contains(t, out, "deployment.apps/web configured")
		if got := c.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"); got != "4" {
			t.Errorf("replicas after apply = %s, want 4", got)
		}
	})

	t.Run("defaults are applied", func(t *testing.T) {
		out := c.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds} {.spec.template.spec.restartPolicy}")
		if out != "25% 10 600 Always" {
			t.Errorf("defaults = %q", out)
		}
	})

	t.Run("server-side apply with CRD and custom resource", func(t *testing.T) {
		out := c.kubectlIn(crd, "apply", "--server-side", "-f", "-")
		contains(t, out, "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied")
		c.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s")
		out = c.kubectlIn(widget, "apply", "--server-side", "-f", "-")
		contains(t, out, "widget.example.com/w1 serverside-applied")
		out = c.kubectl("get", "wd")
		contains(t, out, "w1")
		out = c.kubectlIn(strings.Replace(deployment, "replicas: 2", "replicas: 3", 1), "apply", "--server-side", "--force-conflicts", "-f", "-")
		contains(t, out, "deployment.apps/web serverside-applied")
	})

	t.Run("get in every output", func(t *testing.T) {
		out := c.kubectl("get", "deployments")
		contains(t, out, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "web")
		out = c.kubectl("get", "deployments", "-o", "wide")
		contains(t, out, "CONTAINERS", "IMAGES", "SELECTOR", "registry.local/web:1.0", "app=web")
		out = c.kubectl("get", "svc", "web", "-o", "wide")
		contains(t, out, "TYPE", "CLUSTER-IP", "ClusterIP", "80/TCP", "app=web")
		out = c.kubectl("get", "configmap", "settings", "-o", "yaml")
		contains(t, out, "mode: fast", "kind: ConfigMap")
		out = c.kubectl("get", "secrets")
		contains(t, out, "creds", "Opaque")
		if got := c.kubectl("get", "secret", "creds", "-o", "jsonpath={.data.password}"); got != "aHVudGVyMg==" {
			t.Errorf("secret stringData not stored as data: %q", got)
		}
	})

	t.Run("get -w sees a change", func(t *testing.T) {
		cmd := exec.Command("kubectl", "--kubeconfig", c.kubeconfig, "get", "configmap", "settings", "-w",
			"-o", "custom-columns=NAME:.metadata.name,WATCHED:.metadata.labels.watched")
		var buf strings.Builder
		cmd.Stdout = &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		time.Sleep(500 * time.Millisecond)
		c.kubectl("label", "configmap", "settings", "watched=yes")
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(buf.String(), "yes") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		contains(t, buf.String(), "settings", "<none>", "yes")
	})

	t.Run("describe", func(t *testing.T) {
		out := c.kubectl("describe", "deployment", "web")
		contains(t, out, "Name:", "web", "Selector:", "app=web", "StrategyType:", "RollingUpdate", "registry.local/web:1.0")
	})

	t.Run("edit through KUBE_EDITOR", func(t *testing.T) {
		editor := filepath.Join(t.TempDir(), "editor.sh")
		os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/mode: fast/mode: careful/' \"$1\"\n"), 0o755)
		cmd := exec.Command("kubectl", "--kubeconfig", c.kubeconfig, "edit", "configmap", "settings")
		cmd.Env = append(os.Environ(), "KUBE_EDITOR="+editor)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("edit: %v %s", err, out)
		}
		if got := c.kubectl("get", "cm", "settings", "-o", "jsonpath={.data.mode}"); got != "careful" {
			t.Errorf("after edit mode = %q", got)
		}
	})

	t.Run("patch json, merge and strategic", func(t *testing.T) {
		c.kubectl("patch", "cm", "settings", "--type=json", `-p=[{"op":"add","path":"/data/a","value":"1"}]`)
		c.kubectl("patch", "cm", "settings", "--type=merge", `-p={"data":{"b":"2"}}`)
		c.kubectl("patch", "deploy", "web", "--type=strategic", `-p={"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.local/web:2.0"}]}}}}`)
		if got := c.kubectl("get", "cm", "settings", "-o", "jsonpath={.data.a}{.data.b}"); got != "12" {
			t.Errorf("patched data = %q", got)
		}
		out := c.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image} {.metadata.generation}")
		contains(t, out, "registry.local/web:2.0")
	})

	t.Run("label and annotate", func(t *testing.T) {
		c.kubectl("label", "deploy", "web", "tier=front")
		c.kubectl("annotate", "deploy", "web", "note=hello")
		out := c.kubectl("get", "deploy", "-l", "tier=front", "-o", "jsonpath={.items[*].metadata.annotations.note}")
		if out != "hello" {
			t.Errorf("annotation via label selector = %q", out)
		}
	})

	t.Run("scale deployments, statefulsets and replicasets", func(t *testing.T) {
		c.kubectlIn(`apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs1}
spec:
  replicas: 1
  selector: {matchLabels: {app: rs1}}
  template:
    metadata: {labels: {app: rs1}}
    spec:
      containers: [{name: c, image: registry.local/x:1}]
`, "apply", "-f", "-")
		for _, target := range []string{"deployment/web", "statefulset/db", "replicaset/rs1"} {
			out := c.kubectl("scale", target, "--replicas=5")
			contains(t, out, "scaled")
			if got := c.kubectl("get", target, "-o", "jsonpath={.spec.replicas}"); got != "5" {
				t.Errorf("%s replicas = %s", target, got)
			}
		}
	})

	t.Run("explain", func(t *testing.T) {
		out := c.kubectl("explain", "deployment.spec.strategy")
		contains(t, out, "KIND:", "Deployment", "rollingUpdate")
		out = c.kubectl("explain", "widgets.spec")
		contains(t, out, "size")
	})

	t.Run("diff", func(t *testing.T) {
		out, err := c.kubectlErr(strings.NewReader(strings.Replace(deployment, "replicas: 2", "replicas: 7", 1)), "diff", "-f", "-")
		if code := exitCode(err); code != 1 {
			t.Fatalf("diff exit code = %d (%v), want 1 (differences)\n%s", code, err, out)
		}
		contains(t, out, "replicas: 7")
	})

	t.Run("create secret generic and configmap from file", func(t *testing.T) {
		c.kubectl("create", "secret", "generic", "s2", "--from-literal=user=admin")
		file := filepath.Join(t.TempDir(), "app.conf")
		os.WriteFile(file, []byte("listen 80\n"), 0o644)
		c.kubectl("create", "configmap", "fromfile", "--from-file="+file)
		if got := c.kubectl("get", "cm", "fromfile", "-o", `jsonpath={.data.app\.conf}`); got != "listen 80\n" {
			t.Errorf("configmap from file = %q", got)
		}
	})

	t.Run("get events", func(t *testing.T) {
		c.kubectlIn(`apiVersion: v1
kind: Event
metadata: {name: web.1, namespace: default}
involvedObject: {kind: Deployment, name: web, namespace: default, apiVersion: apps/v1}
reason: Tested
message: an event for the test
type: Normal
source: {component: e2e}
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
count: 1
`, "create", "-f", "-")
		out := c.kubectl("get", "events")
		contains(t, out, "Tested", "deployment/web", "an event for the test")
		out = c.kubectl("get", "events.v1.events.k8s.io", "-o", "jsonpath={.items[0].note}")
		contains(t, out, "an event for the test")
	})

	t.Run("auth whoami", func(t *testing.T) {
		out := c.kubectl("auth", "whoami")
		contains(t, out, "system:admin", "system:masters")
	})

	t.Run("delete with foreground cascade leaves a finalizer", func(t *testing.T) {
		c.kubectl("delete", "deployment", "web", "--cascade=foreground", "--wait=false")
		out := c.kubectl("get", "deployment", "web", "-o", "jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}")
		contains(t, out, "foregroundDeletion")
		out = c.kubectl("delete", "configmap", "settings")
		contains(t, out, `configmap "settings" deleted`)
		if _, err := c.kubectlErr(nil, "get", "configmap", "settings"); err == nil {
			t.Errorf("configmap still there after delete")
		}
	})
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	return -1
}
