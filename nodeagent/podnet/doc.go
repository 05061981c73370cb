// Package podnet wires the network of the pods on one node: every pod gets its own network namespace,
// joined to the node bridge by a veth pair, with one address from the node's pod CIDR.
//
// On the node:
//
//	bridge skiff0            holds the first address of the pod CIDR (10.42.0.1/24 for 10.42.0.0/24),
//	                         the pods' default gateway
//	vethXXXXXXXXXXX          the host end of a pod's veth pair, a port of the bridge in hairpin mode;
//	                         the name is a hash of the pod UID, the pod UID is its alias
//	RUNDIR/skiff-<pod UID>   the pod's network namespace, bind-mounted so that it lives without a process
//
// In the pod's namespace: lo up, eth0 (the other end of the pair, created there directly) with the pod's
// address and the CIDR's prefix length, and a default route via the gateway.
//
// The kernel is the truth: a Network keeps no state of its own, so a restarted agent finds its pods'
// networks with Status and List, and every Setup makes what exists match what is asked for. Teardown
// removes all of a pod's parts, whatever a failed or interrupted Setup left.
//
// Routing between nodes, IPv4 forwarding and masquerading of traffic leaving the cluster belong to the
// node's wider network setup, not to this package; Services are programmed elsewhere.
package podnet
