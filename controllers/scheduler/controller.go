package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	volumehelper "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// DefaultSchedulerName is the spec.schedulerName of pods this scheduler places by default.
	DefaultSchedulerName = corev1.DefaultSchedulerName
	// DefaultBindWorkers is how many bindings (and status writes) are in flight at most by default.
	DefaultBindWorkers = 32
	// maxEventMessage is the longest event message upstream's scheduler writes.
	maxEventMessage = 1024
)

// Scheduler places pods on nodes. Add it to a manager with SetupWithManager; it runs while the
// manager holds the leader election.
type Scheduler struct {
	// Client writes bindings, pod status and claim annotations, and reads the objects the plugins
	// consult (claims, volumes, storage classes, namespaces, services and workload controllers); the
	// manager's client reads them from its cache.
	Client client.Client
	// Recorder records Scheduled and FailedScheduling events, as "default-scheduler".
	Recorder record.EventRecorder
	// SchedulerName selects the pods to place by spec.schedulerName (default "default-scheduler").
	SchedulerName string
	// BindWorkers is how many API writes (bindings, status) run at once (default DefaultBindWorkers).
	BindWorkers int
	// PercentageOfNodesToScore is the share of the nodes a search finds feasible before it scores
	// them; 0 adapts it to the cluster's size as upstream does (50% less 1% per 125 nodes, at least
	// 5% and 100 nodes).
	PercentageOfNodesToScore int32

	logger        logr.Logger
	cache         *schedulerCache
	queue         *schedulingQueue
	pvs           *pvAssumptions
	registrations []toolscache.ResourceEventHandlerRegistration
	stats         counters
}

// counters are the scheduler's running totals.
type counters struct {
	attempts, scheduled, unschedulable, errors atomic.Int64
}

// Stats is a snapshot of what the scheduler has done and holds.
type Stats struct {
	// Attempts counts scheduling attempts; Scheduled the pods bound; Unschedulable the attempts
	// that found no node; Errors the attempts and bindings that failed otherwise.
	Attempts, Scheduled, Unschedulable, Errors int64
	// Pending counts the pods waiting in the queue, including those being bound.
	Pending int
	// Nodes and Pods count what the cache holds; Assumed the pods placed but not yet seen bound.
	Nodes, Pods, Assumed int
}

// Stats returns the scheduler's counters, for benchmarks and debugging; zero before SetupWithManager.
func (s *Scheduler) Stats() Stats {
	if s.queue == nil {
		return Stats{}
	}
	q := s.queue.counts()
	nodes, pods, assumed := s.cache.counts()
	return Stats{
		Attempts: s.stats.attempts.Load(), Scheduled: s.stats.scheduled.Load(),
		Unschedulable: s.stats.unschedulable.Load(), Errors: s.stats.errors.Load(),
		Pending: q.active + q.backoff + q.unschedulable + q.gated + q.inFlight + q.binding,
		Nodes:   nodes, Pods: pods, Assumed: assumed,
	}
}

// SetupWithManager registers the scheduler's informer handlers with the manager's cache and adds the
// scheduler to the manager.
func (s *Scheduler) SetupWithManager(mgr ctrl.Manager) error {
	if s.Client == nil || s.Recorder == nil {
		return errors.New("scheduler: Client and Recorder are required")
	}
	if s.SchedulerName == "" {
		s.SchedulerName = DefaultSchedulerName
	}
	if s.BindWorkers <= 0 {
		s.BindWorkers = DefaultBindWorkers
	}
	s.logger = mgr.GetLogger().WithName("scheduler")
	s.cache = newSchedulerCache()
	s.queue = newSchedulingQueue(clock.RealClock{})
	s.pvs = newPVAssumptions()

	ctx := context.Background()
	handlers := []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandler
	}{
		{&corev1.Node{}, toolscache.ResourceEventHandlerFuncs{AddFunc: s.onNodeAdd, UpdateFunc: s.onNodeUpdate, DeleteFunc: s.onNodeDelete}},
		{&corev1.Pod{}, toolscache.ResourceEventHandlerFuncs{AddFunc: s.onPodAdd, UpdateFunc: s.onPodUpdate, DeleteFunc: s.onPodDelete}},
		{&corev1.PersistentVolumeClaim{}, s.moveOn(pvcChanged)},
		{&corev1.PersistentVolume{}, toolscache.ResourceEventHandlerFuncs{AddFunc: s.onPVAdd, UpdateFunc: s.onPVUpdate, DeleteFunc: s.onPVDelete}},
		{&storagev1.StorageClass{}, s.moveOn(storageClassChanged)},
		{&corev1.Namespace{}, s.moveOn(namespaceChanged)},
	}
	for _, h := range handlers {
		informer, err := mgr.GetCache().GetInformer(ctx, h.obj)
		if err != nil {
			return fmt.Errorf("scheduler: informer for %T: %w", h.obj, err)
		}
		reg, err := informer.AddEventHandler(h.handler)
		if err != nil {
			return fmt.Errorf("scheduler: handler for %T: %w", h.obj, err)
		}
		s.registrations = append(s.registrations, reg)
	}
	// Read by default topology spreading; their informers must exist before the cache starts.
	for _, obj := range []client.Object{&corev1.Service{}, &corev1.ReplicationController{}, &appsv1.ReplicaSet{}, &appsv1.StatefulSet{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("scheduler: informer for %T: %w", obj, err)
		}
	}
	return mgr.Add(s)
}

// NeedLeaderElection makes only the elected manager schedule.
func (s *Scheduler) NeedLeaderElection() bool { return true }

// Start runs the scheduling loop until ctx ends.
func (s *Scheduler) Start(ctx context.Context) error {
	// The first placements must count every pod already bound.
	for _, reg := range s.registrations {
		if !toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			return nil // stopped before it started
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	workers := make([]chan func(context.Context), s.BindWorkers)
	for i := range workers {
		tasks := make(chan func(context.Context), 8)
		workers[i] = tasks
		wg.Go(func() {
			for task := range tasks {
				task(ctx)
			}
		})
	}
	wg.Go(func() { s.queue.run(ctx) })

	loop := &schedulingLoop{
		s:         s,
		algorithm: newAlgorithm(s.PercentageOfNodesToScore, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), s.pvs),
		snapshot:  newSnapshot(),
		lister:    readerLister{reader: s.Client},
		workers:   workers,
	}
	for {
		qp, info := s.queue.pop()
		if qp == nil {
			break
		}
		loop.scheduleOne(ctx, qp, info)
	}
	for _, tasks := range workers {
		close(tasks)
	}
	wg.Wait()
	return nil
}

// schedulingLoop is the state of the one goroutine that places pods.
type schedulingLoop struct {
	s         *Scheduler
	algorithm *algorithm
	snapshot  *snapshot
	lister    clusterLister
	cycle     cycle
	// workers write to the API. All writes about one pod go to the same worker, in order: a failure
	// reported late must not mark Unschedulable a pod that a later attempt bound.
	workers []chan func(context.Context)
}

// submit hands an API write about the pod with uid to its worker; it waits for room, or gives up
// when ctx ends.
func (l *schedulingLoop) submit(ctx context.Context, uid types.UID, task func(context.Context)) {
	var h uint32 = 2166136261 // FNV-1a
	for i := 0; i < len(uid); i++ {
		h = (h ^ uint32(uid[i])) * 16777619
	}
	select {
	case l.workers[h%uint32(len(l.workers))] <- task:
	case <-ctx.Done():
	}
}

// scheduleOne tries to place one pod and, when a node fits, assumes it there and hands the binding to
// the workers.
func (l *schedulingLoop) scheduleOne(ctx context.Context, qp *queuedPod, info *podInfo) {
	s := l.s
	pod := info.pod
	if pod.DeletionTimestamp != nil {
		s.queue.done(qp)
		return
	}
	s.stats.attempts.Add(1)
	s.cache.updateSnapshot(l.snapshot)
	c := &l.cycle
	c.reset(ctx, s.logger, info, l.snapshot, l.lister)
	node, err := l.algorithm.schedule(c)
	if err != nil {
		l.failed(ctx, qp, info, err)
		return
	}
	var plan volumePlan
	if len(c.volumes.unbound) > 0 {
		plan, _ = c.volumes.plan(l.snapshot.nodes[node].node)
	}
	if err := s.cache.assumePod(info, node); err != nil {
		l.failed(ctx, qp, info, err)
		return
	}
	if !s.queue.assumed(qp) { // deleted meanwhile
		s.cache.forgetPod(pod.UID)
		return
	}
	for _, b := range plan.static {
		s.pvs.assume(b.pv.Name, b.pvc.UID)
	}
	l.submit(ctx, pod.UID, func(ctx context.Context) { s.bind(ctx, qp, info, node, plan) })
}

// failed puts a pod that found no node back in the queue and reports why.
func (l *schedulingLoop) failed(ctx context.Context, qp *queuedPod, info *podInfo, err error) {
	s := l.s
	reason := corev1.PodReasonUnschedulable
	var fe *fitError
	switch {
	case errors.As(err, &fe):
		s.stats.unschedulable.Add(1)
		s.queue.requeueUnschedulable(qp, fe.events)
	case errors.Is(err, errNoNodes):
		s.stats.unschedulable.Add(1)
		s.queue.requeueUnschedulable(qp, nodeAdded)
	default:
		s.stats.errors.Add(1)
		reason = corev1.PodReasonSchedulerError
		s.queue.requeueBackoff(qp)
	}
	msg := err.Error()
	s.logger.V(2).Info("Unable to schedule pod", "pod", podRef(info.pod), "reason", reason, "message", msg)
	event := s.queue.shouldReport(qp, msg)
	l.submit(ctx, info.pod.UID, func(ctx context.Context) { s.reportFailure(ctx, info.pod, reason, msg, event) })
}

// bind does what the pod needs before it runs on node (its volumes), then binds it.
func (s *Scheduler) bind(ctx context.Context, qp *queuedPod, info *podInfo, node string, plan volumePlan) {
	pod := info.pod
	if err := s.bindVolumes(ctx, node, plan); err != nil {
		s.bindFailed(ctx, qp, info, plan, fmt.Errorf("running PreBind plugin %q: %w", "VolumeBinding", err), false)
		return
	}
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	if err := s.Client.SubResource("binding").Create(ctx, target, binding); err != nil {
		s.bindFailed(ctx, qp, info, plan, fmt.Errorf("running Bind plugin %q: %w", "DefaultBinder", err), true)
		return
	}
	s.stats.scheduled.Add(1)
	s.Recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
	if pod.Status.NominatedNodeName != "" {
		patch := map[string]any{"metadata": map[string]any{"uid": pod.UID}, "status": map[string]any{"nominatedNodeName": nil}}
		if err := s.patchPodStatus(ctx, pod, patch); err != nil {
			s.logger.Error(err, "Clearing nominated node", "pod", podRef(pod))
		}
	}
}

// bindVolumes binds the volumes chosen for the pod's claims and marks the claims to provision with
// the node, for the provisioner (upstream's VolumeBinding PreBind, without waiting for the claims to
// be bound: the node waits for them before it mounts).
func (s *Scheduler) bindVolumes(ctx context.Context, node string, plan volumePlan) error {
	for _, b := range plan.static {
		pv, changed, err := volumehelper.GetBindVolumeToClaim(b.pv, b.pvc)
		if err != nil {
			return err
		}
		if changed {
			if err := s.Client.Update(ctx, pv); err != nil {
				return fmt.Errorf("binding volume %q to claim %s/%s: %w", pv.Name, b.pvc.Namespace, b.pvc.Name, err)
			}
		}
	}
	for _, pvc := range plan.provision {
		if pvc.Annotations[volumehelper.AnnSelectedNode] == node {
			continue
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"uid": pvc.UID, "annotations": map[string]string{volumehelper.AnnSelectedNode: node}}})
		if err != nil {
			return err
		}
		target := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: pvc.Namespace, Name: pvc.Name}}
		if err := s.Client.Patch(ctx, target, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("selecting node for claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
	}
	return nil
}

// bindFailed undoes the assumption of a pod whose binding failed and puts it back in the queue,
// unless the pod is gone or was bound by someone else, which the informer will show.
func (s *Scheduler) bindFailed(ctx context.Context, qp *queuedPod, info *podInfo, plan volumePlan, err error, binding bool) {
	pod := info.pod
	s.cache.forgetPod(pod.UID)
	for _, b := range plan.static {
		s.pvs.forget(b.pv.Name)
	}
	s.queue.moveAll(assignedPodRemoved) // what the pod held is free again
	if ctx.Err() != nil {
		return
	}
	if binding && apierrors.IsNotFound(err) {
		s.queue.delete(pod.UID)
		return
	}
	s.stats.errors.Add(1)
	s.queue.requeueBackoff(qp)
	if binding && apierrors.IsConflict(err) {
		return
	}
	msg := err.Error()
	s.logger.V(1).Info("Binding failed", "pod", podRef(pod), "error", msg)
	s.reportFailure(ctx, pod, corev1.PodReasonSchedulerError, msg, s.queue.shouldReport(qp, msg))
}

// reportFailure records a FailedScheduling event (when event is set) and sets the pod's PodScheduled
// condition to False with reason and msg, unless it says so already.
func (s *Scheduler) reportFailure(ctx context.Context, pod *corev1.Pod, reason, msg string, event bool) {
	if event {
		note := msg
		if len(note) > maxEventMessage {
			note = note[:maxEventMessage-len(" ...")] + " ..."
		}
		s.Recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", note)
	}
	patch := unschedulablePatch(pod, reason, msg, time.Now())
	if patch == nil {
		return
	}
	if err := s.patchPodStatus(ctx, pod, patch); err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		s.logger.Error(err, "Updating PodScheduled condition", "pod", podRef(pod))
	}
}

// unschedulablePatch is the strategic merge patch that sets pod's PodScheduled condition to False
// with reason and msg and clears its nominated node, or nil when the pod says so already. Other
// conditions are left alone; the transition time changes only when the status does; the pod's UID
// makes the patch fail on a new pod of the same name.
func unschedulablePatch(pod *corev1.Pod, reason, msg string, now time.Time) map[string]any {
	var current *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			current = &pod.Status.Conditions[i]
		}
	}
	if current != nil && current.Status == corev1.ConditionFalse && current.Reason == reason && current.Message == msg &&
		pod.Status.NominatedNodeName == "" {
		return nil
	}
	cond := map[string]any{"type": corev1.PodScheduled, "status": corev1.ConditionFalse, "reason": reason, "message": msg}
	if current == nil || current.Status != corev1.ConditionFalse {
		cond["lastTransitionTime"] = metav1.NewTime(now)
	}
	if pod.Generation > 0 {
		cond["observedGeneration"] = pod.Generation
	}
	status := map[string]any{"conditions": []any{cond}}
	if pod.Status.NominatedNodeName != "" {
		status["nominatedNodeName"] = nil
	}
	return map[string]any{"metadata": map[string]any{"uid": pod.UID}, "status": status}
}

func (s *Scheduler) patchPodStatus(ctx context.Context, pod *corev1.Pod, patch map[string]any) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	if err := s.Client.Status().Patch(ctx, target, client.RawPatch(types.StrategicMergePatchType, data)); err != nil {
		return fmt.Errorf("patch status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// responsible reports whether pod is for this scheduler.
func (s *Scheduler) responsible(pod *corev1.Pod) bool {
	name := pod.Spec.SchedulerName
	if name == "" {
		name = DefaultSchedulerName
	}
	return name == s.SchedulerName
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func (s *Scheduler) onPodAdd(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	switch {
	case terminal(pod):
	case pod.Spec.NodeName != "":
		s.queue.delete(pod.UID)
		s.cache.addPod(newPodInfo(pod))
		s.queue.moveAll(assignedPodAdded)
	case s.responsible(pod):
		s.queue.add(pod)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == pod.ResourceVersion {
		return
	}
	if old.UID != pod.UID { // a delete and a create of the same name, merged
		s.onPodDelete(old)
		s.onPodAdd(pod)
		return
	}
	switch {
	case terminal(pod):
		// Finished pods free their node, as if deleted.
		s.onPodDelete(pod)
	case pod.Spec.NodeName != "":
		s.queue.delete(pod.UID)
		info := newPodInfo(pod)
		prev := s.cache.addPod(info)
		var event clusterEvent
		switch {
		case prev == nil || old.Spec.NodeName == "":
			event = assignedPodAdded
		default:
			if !maps.Equal(old.Labels, pod.Labels) {
				event |= assignedPodLabelsChanged
			}
			if shrank(&prev.requests, &info.requests) {
				event |= assignedPodRemoved
			}
		}
		if event != 0 {
			s.queue.moveAll(event)
		}
	case s.responsible(pod):
		s.queue.update(old, pod)
	default:
		s.queue.delete(pod.UID)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.queue.delete(pod.UID)
	if s.cache.removePod(pod.UID) {
		s.queue.moveAll(assignedPodRemoved)
	}
}

// shrank reports whether any resource of after is smaller than in before.
func shrank(before, after *resources) bool {
	if after.milliCPU < before.milliCPU || after.memory < before.memory || after.ephemeralStorage < before.ephemeralStorage {
		return true
	}
	for name, v := range before.scalar {
		if after.scalar[name] < v {
			return true
		}
	}
	return false
}

func (s *Scheduler) onNodeAdd(obj any) {
	if node, ok := obj.(*corev1.Node); ok {
		s.cache.addNode(node)
		s.queue.moveAll(nodeAdded)
	}
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Node)
	node, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	s.cache.addNode(node)
	if event := nodeChange(old, node); event != 0 {
		s.queue.moveAll(event)
	}
}

func (s *Scheduler) onNodeDelete(obj any) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if node, ok := obj.(*corev1.Node); ok {
		s.cache.removeNode(node.Name)
	}
}

// nodeChange classifies an update of a node; heartbeats and other status changes are none.
func nodeChange(old, node *corev1.Node) clusterEvent {
	var event clusterEvent
	if !sameResources(old.Status.Allocatable, node.Status.Allocatable) {
		event |= nodeAllocatableChanged
	}
	if !maps.Equal(old.Labels, node.Labels) {
		event |= nodeLabelsChanged
	}
	if old.Spec.Unschedulable != node.Spec.Unschedulable || !equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) {
		event |= nodeTaintsChanged
	}
	return event
}

func sameResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		if other, ok := b[name]; !ok || q.Cmp(other) != 0 {
			return false
		}
	}
	return true
}

// moveOn is a handler that, on any change of an object, retries the unschedulable pods event may
// help.
func (s *Scheduler) moveOn(event clusterEvent) toolscache.ResourceEventHandler {
	move := func(any) { s.queue.moveAll(event) }
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    move,
		UpdateFunc: func(_, obj any) { move(obj) },
		DeleteFunc: move,
	}
}

// The PV handlers also forget the scheduler's choice of a volume once the API shows it bound, or
// gone.
func (s *Scheduler) onPVAdd(obj any) { s.onPVUpdate(nil, obj) }

func (s *Scheduler) onPVUpdate(_, obj any) {
	if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.ClaimRef != nil {
		s.pvs.forget(pv.Name)
	}
	s.queue.moveAll(pvChanged)
}

func (s *Scheduler) onPVDelete(obj any) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if pv, ok := obj.(*corev1.PersistentVolume); ok {
		s.pvs.forget(pv.Name)
	}
	s.queue.moveAll(pvChanged)
}

// podRef names a pod in logs.
func podRef(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }
