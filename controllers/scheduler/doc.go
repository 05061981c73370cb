// Package scheduler assigns pods to nodes, as kube-scheduler's default profile does.
//
// A pod that names no node and asks for this scheduler (spec.schedulerName, "default-scheduler" by
// default) enters a queue ordered by priority, then arrival. The scheduling loop takes one pod at a
// time and runs it through filter plugins, which drop the nodes it cannot run on (cordoned nodes,
// untolerated taints, node selector and affinity, host ports, resources, volumes, topology spread,
// inter-pod affinity), then through score plugins, which rank the nodes left; the best node wins, ties
// broken at random. In a large cluster the search stops once enough feasible nodes are found, and
// starts where the previous one stopped, so that every node gets its turn.
//
// The chosen node is taken at once in the scheduler's cache (the pod is "assumed" there), so the next
// pod sees its resources gone before the binding lands; a pool of workers then writes the binding
// (POST pods/{name}/binding) and, when nothing fits, the PodScheduled condition and a
// FailedScheduling event. A pod that fits nowhere waits until the cluster changes in a way that may
// help it (a node added or changed, a pod gone, a volume or claim changed), or at most a minute; a
// pod whose attempt failed otherwise is retried after a backoff of 1 to 10 seconds.
//
// The scheduler is a manager.Runnable rather than a reconciler: it keeps the cluster's nodes and
// their pods in memory, fed by the manager's shared informers, because placing a pod needs all of
// them at once. The cache and the queue are rebuilt from the informers whenever it starts.
// Preemption is not implemented.
package scheduler
