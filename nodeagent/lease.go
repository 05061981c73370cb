package nodeagent

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// runLease keeps the node's heartbeat, as upstream's kubelet: a Lease named after the node in
// kube-node-lease, held by the node, renewed every quarter of its duration, owned by the Node so that it
// goes with it. Failed renewals are retried sooner, with back-off.
func (n *node) runLease(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-n.registered:
	}
	renew := n.agent.cfg.LeaseDuration / 4
	retryDelay := 200 * time.Millisecond
	var lease *coordinationv1.Lease
	timer := time.NewTimer(0)
	defer timer.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next := renew
		if first {
			// Spread the renewals of an agent's nodes over the interval.
			next = jitter(renew, n.name)
		}
		var err error
		if lease, err = n.renewLease(ctx, lease); err != nil {
			if ctx.Err() != nil {
				return
			}
			n.agent.log.Error(err, "renew lease", "node", n.name)
			next = min(retryDelay, renew)
			retryDelay = min(2*retryDelay, 7*time.Second)
		} else {
			retryDelay = 200 * time.Millisecond
		}
		timer.Reset(next)
	}
}

// renewLease renews lease (the last one written, or nil to read or create it) and returns the Lease now
// stored. On a conflict it returns nil, so that the next renewal starts from the stored one.
func (n *node) renewLease(ctx context.Context, lease *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	leases := n.agent.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	if lease == nil {
		got, err := leases.Get(ctx, n.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			created, err := leases.Create(ctx, n.desiredLease(&coordinationv1.Lease{}), metav1.CreateOptions{})
			if err != nil {
				return nil, fmt.Errorf("create lease of node %s: %w", n.name, err)
			}
			return created, nil
		case err != nil:
			return nil, fmt.Errorf("get lease of node %s: %w", n.name, err)
		}
		lease = got
	}
	updated, err := leases.Update(ctx, n.desiredLease(lease), metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update lease of node %s: %w", n.name, err)
	}
	return updated, nil
}

// desiredLease is lease renewed now by the node.
func (n *node) desiredLease(lease *coordinationv1.Lease) *coordinationv1.Lease {
	l := lease.DeepCopy()
	l.Name, l.Namespace = n.name, corev1.NamespaceNodeLease
	l.Spec.HolderIdentity = ptr.To(n.name)
	l.Spec.LeaseDurationSeconds = ptr.To(max(1, int32(n.agent.cfg.LeaseDuration/time.Second)))
	l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
	if obj := n.current(); obj != nil {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: obj.Name, UID: obj.UID}}
	}
	return l
}
