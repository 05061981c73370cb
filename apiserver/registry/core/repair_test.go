package core_test

import (
	"context"
	"strconv"
	"testing"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/apiserver/allocator"
	"github.com/skiffhq/skiff/apiserver/etcd"
	"github.com/skiffhq/skiff/apiserver/registry"
	"github.com/skiffhq/skiff/apiserver/registry/core"
	"github.com/skiffhq/skiff/testenv"
)

// TestRepairFreesOrphansAfterSeveralPassesAndRestoresMissingAllocations runs a server on an etcd the
// test also reaches, leaves an allocation without a Service and removes one a Service needs.
func TestRepairFreesOrphansAfterSeveralPassesAndRestoresMissingAllocations(t *testing.T) {
	ctx := context.Background()
	member, err := etcd.StartEmbedded(ctx, t.TempDir(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	env, err := testenv.Start(ctx, testenv.Options{DataDir: t.TempDir(), EtcdServers: []string{member.ClientURL}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	client := kubernetes.NewForConfigOrDie(env.Config)

	conn, err := registry.DialEtcd(*storageConfig(member.ClientURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ipRange, _ := allocator.NewIPRange("10.43.0.0/16")
	portRange, _ := allocator.ParsePortRange("30000-32767")
	ips := allocator.New(conn.Client.Client, "/registry/ranges/serviceips", ipRange)
	ports := allocator.New(conn.Client.Client, "/registry/ranges/servicenodeports", portRange)

	svc, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "real"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A crash left an address held for a Service that was never stored...
	if err := ips.Allocate(ctx, "10.43.200.200", "default/ghost", false); err != nil {
		t.Fatal(err)
	}
	// ...and the node port of a stored Service lost its allocation.
	port := svc.Spec.Ports[0].NodePort
	if err := ports.Release(ctx, itoa(port), "default/real"); err != nil {
		t.Fatal(err)
	}

	repair := core.NewRepair(client, ips, ports)
	for pass := 1; pass <= 3; pass++ {
		if err := repair.RunOnce(ctx); err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
		held, err := ips.Allocated(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, orphan := held["10.43.200.200"]
		if pass < 3 && !orphan {
			t.Fatalf("orphan freed after %d passes, before it was seen orphaned 3 times", pass)
		}
		if pass == 3 && orphan {
			t.Fatalf("orphan still held after 3 passes")
		}
		if held[svc.Spec.ClusterIP] != "default/real" {
			t.Fatalf("the stored Service's address lost its allocation: %v", held[svc.Spec.ClusterIP])
		}
	}
	held, err := ports.Allocated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if held[itoa(port)] != "default/real" {
		t.Errorf("node port %d of a stored Service not allocated again: %v", port, held)
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func storageConfig(url string) *storagebackend.Config {
	c := storagebackend.NewDefaultConfig("/registry", nil)
	c.Transport.ServerList = []string{url}
	c.CompactionInterval = 0
	return c
}
