package testenv_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/testenv"
)

func TestSystemNamespacesAndKubernetesServiceExist(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	svc, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.43.0.1" {
		t.Errorf("kubernetes ClusterIP = %s, want 10.43.0.1", svc.Spec.ClusterIP)
	}
}

func TestConcurrentServicesGetDistinctAddressesAndPorts(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i)},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "x"},
					Ports: []corev1.ServicePort{{Port: 80}}},
			}, metav1.CreateOptions{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	list, err := client.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ips, ports := map[string]string{}, map[int32]string{}
	for _, s := range list.Items {
		if other, dup := ips[s.Spec.ClusterIP]; dup {
			t.Errorf("%s and %s share ClusterIP %s", s.Name, other, s.Spec.ClusterIP)
		}
		ips[s.Spec.ClusterIP] = s.Name
		if s.Name == "kubernetes" {
			continue
		}
		np := s.Spec.Ports[0].NodePort
		if np < 30000 || np > 32767 {
			t.Errorf("%s nodePort %d outside 30000-32767", s.Name, np)
		}
		if other, dup := ports[np]; dup {
			t.Errorf("%s and %s share nodePort %d", s.Name, other, np)
		}
		ports[np] = s.Name
	}
	if len(ports) != n {
		t.Errorf("got %d services with node ports, want %d", len(ports), n)
	}

	// A released address can be asked for again; a held one cannot.
	s0, _ := client.CoreV1().Services("default").Get(ctx, "s0", metav1.GetOptions{})
	taken := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "again"},
		Spec: corev1.ServiceSpec{ClusterIP: s0.Spec.ClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}}
	_, err = client.CoreV1().Services("default").Create(ctx, taken, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("create with a held ClusterIP: %v, want Invalid ... already allocated", err)
	}
	if err := client.CoreV1().Services("default").Delete(ctx, "s0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, taken, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create with the released ClusterIP: %v", err)
	}
}

func TestDataAndAllocationsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	env, err := testenv.Start(ctx, testenv.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(env.Config)
	svc, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "keep"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Stop(); err != nil {
		t.Fatal(err)
	}

	env, err = testenv.Start(ctx, testenv.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	client = kubernetes.NewForConfigOrDie(env.Config)
	got, err := client.CoreV1().Services("default").Get(ctx, "keep", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("service after restart: %v", err)
	}
	if got.Spec.ClusterIP != svc.Spec.ClusterIP {
		t.Errorf("ClusterIP changed across restart: %s -> %s", svc.Spec.ClusterIP, got.Spec.ClusterIP)
	}
	_, err = client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "clash"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Port: 80, NodePort: svc.Spec.Ports[0].NodePort}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("node port held before the restart was given again: %v", err)
	}
}

func TestBadInputGetsClearErrors(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()

	bad := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(-1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "b"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
			},
		},
	}
	_, err := client.AppsV1().Deployments("default").Create(ctx, bad, metav1.CreateOptions{})
	status, ok := err.(apierrors.APIStatus)
	if !ok || status.Status().Code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid deployment: %v, want 422", err)
	}
	causes := map[string]bool{}
	for _, c := range status.Status().Details.Causes {
		causes[c.Field] = true
	}
	for _, f := range []string{"metadata.name", "spec.replicas", "spec.template.metadata.labels", "spec.template.spec.containers[0].image"} {
		if !causes[f] {
			t.Errorf("no cause for %s in %v", f, status.Status().Details.Causes)
		}
	}

	rest := client.CoreV1().RESTClient()
	res := rest.Post().Namespace("default").Resource("configmaps").Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap",`)).
		SetHeader("Content-Type", "application/json").Do(ctx)
	var code int
	res.StatusCode(&code)
	if code != http.StatusBadRequest {
		t.Errorf("malformed JSON: status %d, want 400 (%v)", code, res.Error())
	}

	huge := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":"` + strings.Repeat("x", 4<<20) + `"}}`
	res = rest.Post().Namespace("default").Resource("configmaps").Body([]byte(huge)).
		SetHeader("Content-Type", "application/json").Do(ctx)
	res.StatusCode(&code)
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized request: status %d, want 413 (%v)", code, res.Error())
	}

	res = rest.Post().Namespace("default").Resource("configmaps").Param("fieldValidation", "Strict").
		Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"bogus":1}`)).
		SetHeader("Content-Type", "application/json").Do(ctx)
	res.StatusCode(&code)
	if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(res.Error()), `unknown field "bogus"`) {
		t.Errorf("unknown field under Strict: status %d, %v; want 400 unknown field", code, res.Error())
	}
}

func ptr[T any](v T) *T { return &v }
