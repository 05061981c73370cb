package testenv_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/apiserver/etcd"
	"github.com/skiffhq/skiff/testenv"
)

// TestServersSharingAnEtcdNeverHandOutTheSameAddress runs two API servers on one external etcd, as
// several skiff servers do with --etcd-servers, and creates Services through both at once.
func TestServersSharingAnEtcdNeverHandOutTheSameAddress(t *testing.T) {
	ctx := context.Background()
	member, err := etcd.StartEmbedded(ctx, t.TempDir(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()

	var clients []kubernetes.Interface
	for range 2 {
		env, err := testenv.Start(ctx, testenv.Options{DataDir: t.TempDir(), EtcdServers: []string{member.ClientURL}})
		if err != nil {
			t.Fatal(err)
		}
		defer env.Stop()
		clients = append(clients, kubernetes.NewForConfigOrDie(env.Config))
	}

	const perServer = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*perServer)
	for s, client := range clients {
		for i := range perServer {
			wg.Go(func() {
				_, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d-%d", s, i)},
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
						Ports: []corev1.ServicePort{{Port: 80}}},
				}, metav1.CreateOptions{})
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("create: %v", err)
		}
	}

	// Both servers see the same objects, and no address or port is held twice.
	list, err := clients[1].CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2*perServer+1 {
		t.Fatalf("second server lists %d services, want %d", len(list.Items), 2*perServer+1)
	}
	ips, ports := map[string]bool{}, map[int32]bool{}
	for _, s := range list.Items {
		if ips[s.Spec.ClusterIP] {
			t.Errorf("ClusterIP %s given twice", s.Spec.ClusterIP)
		}
		ips[s.Spec.ClusterIP] = true
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 && ports[p.NodePort] {
				t.Errorf("node port %d given twice", p.NodePort)
			}
			ports[p.NodePort] = true
		}
	}
}
