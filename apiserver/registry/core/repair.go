package core

import (
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/apiserver/allocator"
)

// leakPasses is how many repair passes in a row must find a value held for a Service that does not hold
// it before the value is freed. A create or update in flight holds values it has not stored yet; it
// finishes well within the passes' span.
const leakPasses = 3

// Repair keeps the ClusterIP and NodePort allocations true to the Services stored, as kube-apiserver's
// repair controllers do: values left held by a crash between allocation and write are freed, and values
// a stored Service uses without an allocation (data restored from a backup) are allocated again.
type Repair struct {
	client     kubernetes.Interface
	ips, ports *allocator.Allocator
	suspects   map[string]int // "ip|value" or "port|value" -> passes in a row found orphaned
}

// NewRepair returns the repair of the allocations of ips and ports, reading Services through client.
func NewRepair(client kubernetes.Interface, ips, ports *allocator.Allocator) *Repair {
	return &Repair{client: client, ips: ips, ports: ports, suspects: map[string]int{}}
}

// Run repairs every interval until ctx is done.
func (r *Repair) Run(ctx context.Context, interval time.Duration) {
	wait.UntilWithContext(ctx, func(ctx context.Context) { _ = r.RunOnce(ctx) }, interval)
}

// RunOnce is one pass.
func (r *Repair) RunOnce(ctx context.Context) error {
	list, err := r.client.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	usedIPs, usedPorts := map[string]string{}, map[string]string{}
	for i := range list.Items {
		for _, v := range held(&list.Items[i]) {
			if v.ip {
				usedIPs[v.value] = v.owner
			} else {
				usedPorts[v.value] = v.owner
			}
		}
	}
	return errors.Join(r.repair(ctx, "ip", r.ips, usedIPs), r.repair(ctx, "port", r.ports, usedPorts))
}

func (r *Repair) repair(ctx context.Context, kind string, a *allocator.Allocator, used map[string]string) error {
	allocated, err := a.Allocated(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for value, owner := range allocated {
		key := kind + "|" + value
		if used[value] == owner {
			delete(r.suspects, key)
			continue
		}
		r.suspects[key]++
		if r.suspects[key] >= leakPasses {
			delete(r.suspects, key)
			errs = append(errs, a.Release(ctx, value, owner))
		}
	}
	for value, owner := range used {
		if _, ok := allocated[value]; !ok {
			// Out of range values (the range changed) stay with their Service and are not tracked.
			if err := a.Allocate(ctx, value, owner, false); err != nil && !errors.Is(err, allocator.ErrOutOfRange) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
