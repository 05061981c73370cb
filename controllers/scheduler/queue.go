package scheduler

import (
	"container/heap"
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

const (
	// initialBackoff and maxBackoff bound how long a pod that failed waits before its next try:
	// 1s, doubling with each attempt, at most 10s.
	initialBackoff = time.Second
	maxBackoff     = 10 * time.Second
	// unschedulableTimeout is the longest an unschedulable pod waits for a cluster change before it
	// is tried again anyway.
	unschedulableTimeout = 60 * time.Second
	// flushInterval is how often expired backoffs are moved to the active queue.
	flushInterval = 100 * time.Millisecond
	// reportInterval is how long a failure with the same message is not reported again.
	reportInterval = unschedulableTimeout
)

// queueState says where a pod is in the queue.
type queueState int

const (
	// stateActive: waiting in the active queue for its turn.
	stateActive queueState = iota + 1
	// stateBackoff: failed recently; waits until its backoff ends.
	stateBackoff
	// stateUnschedulable: fits nowhere; waits for a cluster change that may help, or the timeout.
	stateUnschedulable
	// stateGated: has scheduling gates; waits for them to be removed.
	stateGated
	// stateInFlight: popped by the scheduling loop.
	stateInFlight
	// stateBinding: assumed on a node; waits for its binding to show in the API (or to fail).
	stateBinding
)

// queuedPod is a pod the queue knows, from the moment the informer shows it unscheduled until it is
// bound or deleted.
type queuedPod struct {
	uid   types.UID
	info  *podInfo
	state queueState
	// timestamp orders pods of equal priority: when the pod was added, or last failed.
	timestamp time.Time
	// attempts counts scheduling attempts, for the backoff.
	attempts           int
	backoffUntil       time.Time
	unschedulableSince time.Time
	// events are the cluster changes that may make the pod fit, after its last failure.
	events clusterEvent
	// eventsInFlight gathers the changes that happened during its current attempt; updatedInFlight
	// is set when the pod itself changed meanwhile.
	eventsInFlight  clusterEvent
	updatedInFlight bool
	index           int
	// lastReported and reportedAt are the last failure message reported and when.
	lastReported string
	reportedAt   time.Time
}

// podHeap is a heap of queued pods; each pod is in at most one heap and knows its index.
type podHeap struct {
	items []*queuedPod
	less  func(a, b *queuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	qp := x.(*queuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
}
func (h *podHeap) Pop() any {
	last := len(h.items) - 1
	qp := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	qp.index = -1
	return qp
}
func (h *podHeap) peek() *queuedPod { return h.items[0] }

// byPriority orders the active queue: higher spec.priority first, then earlier arrival.
func byPriority(a, b *queuedPod) bool {
	if a.info.priority != b.info.priority {
		return a.info.priority > b.info.priority
	}
	return a.timestamp.Before(b.timestamp)
}

func byBackoff(a, b *queuedPod) bool { return a.backoffUntil.Before(b.backoffUntil) }

// schedulingQueue holds the pods waiting for a node: an active queue by priority, a backoff queue of
// pods that failed recently, and a set of unschedulable pods that wait for a cluster change that may
// help (the plugins that rejected a pod say which changes may) or for unschedulableTimeout.
type schedulingQueue struct {
	mu            sync.Mutex
	cond          *sync.Cond
	clock         clock.WithTicker
	pods          map[types.UID]*queuedPod
	active        podHeap
	backoff       podHeap
	unschedulable map[types.UID]*queuedPod
	inFlight      map[types.UID]*queuedPod
	lastFlush     time.Time
	closed        bool
}

func newSchedulingQueue(clk clock.WithTicker) *schedulingQueue {
	q := &schedulingQueue{
		clock:         clk,
		pods:          map[types.UID]*queuedPod{},
		active:        podHeap{less: byPriority},
		backoff:       podHeap{less: byBackoff},
		unschedulable: map[types.UID]*queuedPod{},
		inFlight:      map[types.UID]*queuedPod{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// backoffFor is the wait after the given number of failed attempts.
func backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts; i++ {
		d *= 2
		if d >= maxBackoff {
			return maxBackoff
		}
	}
	return d
}

func gated(pod *corev1.Pod) bool { return len(pod.Spec.SchedulingGates) > 0 }

// add adds a pod the informer shows waiting for a node; a pod already known is updated.
func (q *schedulingQueue) add(pod *corev1.Pod) {
	info := newPodInfo(pod)
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.pods[pod.UID]; ok {
		q.updateLocked(qp, info, true)
		return
	}
	qp := &queuedPod{uid: pod.UID, info: info, timestamp: q.clock.Now(), index: -1}
	q.pods[pod.UID] = qp
	if gated(pod) {
		qp.state = stateGated
		return
	}
	q.activateLocked(qp)
}

// update replaces a known pod with its new version. A change of the pod's spec or labels may make it
// fit: an unschedulable pod is then tried again.
func (q *schedulingQueue) update(old, pod *corev1.Pod) {
	changed := !equality.Semantic.DeepEqual(old.Spec, pod.Spec) || !equality.Semantic.DeepEqual(old.Labels, pod.Labels)
	var info *podInfo
	if changed {
		info = newPodInfo(pod)
	}
	q.mu.Lock()
	if qp, ok := q.pods[pod.UID]; ok {
		if info == nil {
			info = qp.info.withPod(pod)
		}
		q.updateLocked(qp, info, changed)
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	q.add(pod)
}

func (q *schedulingQueue) updateLocked(qp *queuedPod, info *podInfo, changed bool) {
	qp.info = info
	switch qp.state {
	case stateActive:
		heap.Fix(&q.active, qp.index)
	case stateUnschedulable:
		if changed {
			delete(q.unschedulable, qp.uid)
			q.backoffOrActivateLocked(qp)
		}
	case stateGated:
		if !gated(info.pod) {
			q.activateLocked(qp)
		}
	case stateInFlight:
		qp.updatedInFlight = qp.updatedInFlight || changed
	}
}

// delete forgets a pod: deleted, bound, or no longer for this scheduler.
func (q *schedulingQueue) delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[uid]
	if !ok {
		return
	}
	delete(q.pods, uid)
	switch qp.state {
	case stateActive:
		heap.Remove(&q.active, qp.index)
	case stateBackoff:
		heap.Remove(&q.backoff, qp.index)
	case stateUnschedulable:
		delete(q.unschedulable, uid)
	case stateInFlight:
		delete(q.inFlight, uid)
	}
	qp.state = 0
}

// pop blocks until a pod is active and returns it with the pod's current info, or returns nil once
// the queue is closed.
func (q *schedulingQueue) pop() (*queuedPod, *podInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, nil
	}
	qp := heap.Pop(&q.active).(*queuedPod)
	qp.state = stateInFlight
	qp.attempts++
	qp.eventsInFlight, qp.updatedInFlight = 0, false
	q.inFlight[qp.uid] = qp
	return qp, qp.info
}

// assumed records that qp's pod was placed and waits for its binding.
func (q *schedulingQueue) assumed(qp *queuedPod) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, qp.uid)
	if q.pods[qp.uid] != qp {
		return false
	}
	qp.state = stateBinding
	return true
}

// done forgets a popped pod that needs no more scheduling (it is being deleted).
func (q *schedulingQueue) done(qp *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, qp.uid)
	if q.pods[qp.uid] == qp {
		delete(q.pods, qp.uid)
	}
}

// requeueUnschedulable puts back a pod that fits nowhere. It waits for one of events, unless one
// happened, or the pod changed, while it was being tried: then it is retried after its backoff.
func (q *schedulingQueue) requeueUnschedulable(qp *queuedPod, events clusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, qp.uid)
	if q.pods[qp.uid] != qp {
		return
	}
	now := q.clock.Now()
	qp.events = events
	qp.timestamp = now
	qp.backoffUntil = now.Add(backoffFor(qp.attempts))
	if qp.updatedInFlight || qp.eventsInFlight&events != 0 {
		q.backoffOrActivateLocked(qp)
		return
	}
	qp.state = stateUnschedulable
	qp.unschedulableSince = now
	q.unschedulable[qp.uid] = qp
}

// requeueBackoff puts back a pod whose attempt failed for another reason than fitting (an error, a
// failed binding): it is retried after its backoff.
func (q *schedulingQueue) requeueBackoff(qp *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, qp.uid)
	if q.pods[qp.uid] != qp {
		return
	}
	now := q.clock.Now()
	qp.events = allEvents
	qp.timestamp = now
	qp.backoffUntil = now.Add(backoffFor(qp.attempts))
	qp.state = stateBackoff
	heap.Push(&q.backoff, qp)
}

// moveAll retries the unschedulable pods that event may help, and notes the event for the pods being
// tried.
func (q *schedulingQueue) moveAll(event clusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, qp := range q.inFlight {
		qp.eventsInFlight |= event
	}
	for uid, qp := range q.unschedulable {
		if qp.events&event != 0 {
			delete(q.unschedulable, uid)
			q.backoffOrActivateLocked(qp)
		}
	}
}

func (q *schedulingQueue) backoffOrActivateLocked(qp *queuedPod) {
	if q.clock.Now().Before(qp.backoffUntil) {
		qp.state = stateBackoff
		heap.Push(&q.backoff, qp)
		return
	}
	q.activateLocked(qp)
}

func (q *schedulingQueue) activateLocked(qp *queuedPod) {
	qp.state = stateActive
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

// flush moves pods whose backoff ended to the active queue, and retries pods unschedulable for
// longer than unschedulableTimeout.
func (q *schedulingQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for q.backoff.Len() > 0 && !q.backoff.peek().backoffUntil.After(now) {
		q.activateLocked(heap.Pop(&q.backoff).(*queuedPod))
	}
	if now.Sub(q.lastFlush) < time.Second {
		return
	}
	q.lastFlush = now
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.unschedulableSince) >= unschedulableTimeout {
			delete(q.unschedulable, uid)
			q.backoffOrActivateLocked(qp)
		}
	}
}

// run flushes the queue until ctx ends, then closes it.
func (q *schedulingQueue) run(ctx context.Context) {
	t := q.clock.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			q.close()
			return
		case <-t.C():
			q.flush()
		}
	}
}

// close wakes pop for good.
func (q *schedulingQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// shouldReport reports whether a failure with msg is to be reported for qp: a new message, or one
// not reported for reportInterval. It records the report.
func (q *schedulingQueue) shouldReport(qp *queuedPod, msg string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	if qp.lastReported == msg && now.Sub(qp.reportedAt) < reportInterval {
		return false
	}
	qp.lastReported, qp.reportedAt = msg, now
	return true
}

// queueCounts are the number of pods in each part of the queue.
type queueCounts struct {
	active, backoff, unschedulable, gated, inFlight, binding int
}

func (q *schedulingQueue) counts() queueCounts {
	q.mu.Lock()
	defer q.mu.Unlock()
	var c queueCounts
	for _, qp := range q.pods {
		switch qp.state {
		case stateActive:
			c.active++
		case stateBackoff:
			c.backoff++
		case stateUnschedulable:
			c.unschedulable++
		case stateGated:
			c.gated++
		case stateInFlight:
			c.inFlight++
		case stateBinding:
			c.binding++
		}
	}
	return c
}

// state returns where the pod with uid is, 0 if the queue does not know it.
func (q *schedulingQueue) state(uid types.UID) queueState {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.pods[uid]; ok {
		return qp.state
	}
	return 0
}
