package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var chartFiles = map[string]string{
	"Chart.yaml": `apiVersion: v2
name: shop
version: 0.1.0
appVersion: "1.0"
`,
	"values.yaml": `replicas: 1
image: registry.local/shop:1.0
greeting: hello
`,
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: shop
        image: {{ .Values.image }}
        envFrom:
        - configMapRef: {name: {{ .Release.Name }}}
        - secretRef: {name: {{ .Release.Name }}}
`,
	"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  type: NodePort
  selector: {app: {{ .Release.Name }}}
  ports:
  - port: 80
    targetPort: 8080
`,
	"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  GREETING: {{ .Values.greeting | quote }}
`,
	"templates/secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}
stringData:
  TOKEN: s3cret
`,
}

// helmBin is the helm the test setup built (hack/test-setup.sh).
func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/tools/helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found at %s: run hack/test-setup.sh (make test does)", bin)
	}
	return bin
}

func TestHelmReleaseLifecycle(t *testing.T) {
	c := startCluster(t)
	helm := helmBin(t)
	chart := t.TempDir()
	for name, body := range chartFiles {
		path := filepath.Join(chart, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(helm, append([]string{"--kubeconfig", c.kubeconfig, "--namespace", "default"}, args...)...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	out := run("install", "shop", chart)
	contains(t, out, "STATUS: deployed", "REVISION: 1")
	if got := c.kubectl("get", "cm", "shop", "-o", "jsonpath={.data.GREETING}"); got != "hello" {
		t.Errorf("configmap after install = %q", got)
	}
	c.kubectl("get", "deployment/shop", "service/shop", "secret/shop")

	out = run("upgrade", "shop", chart, "--set", "replicas=3", "--set", "greeting=hi")
	contains(t, out, "REVISION: 2")
	if got := c.kubectl("get", "deploy", "shop", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("replicas after upgrade = %s", got)
	}

	out = run("rollback", "shop", "1")
	contains(t, out, "Rollback was a success")
	if got := c.kubectl("get", "cm", "shop", "-o", "jsonpath={.data.GREETING}"); got != "hello" {
		t.Errorf("configmap after rollback = %q", got)
	}
	if got := c.kubectl("get", "deploy", "shop", "-o", "jsonpath={.spec.replicas}"); got != "1" {
		t.Errorf("replicas after rollback = %s", got)
	}

	out = run("list")
	contains(t, out, "shop", "deployed", "shop-0.1.0")
	out = run("history", "shop")
	contains(t, out, "Rollback to 1")

	out = run("uninstall", "shop")
	contains(t, out, `release "shop" uninstalled`)
	out = c.kubectl("get", "deploy,svc,cm,secret", "-o", "name")
	if strings.Contains(out, "/shop") {
		t.Errorf("objects left after uninstall:\n%s", out)
	}
}
