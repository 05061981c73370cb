package nodeagent

import (
	"time"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// Restart back-off of crashing containers, as upstream's kubelet: the first restart is at once, then a
// container waits 10 s after its exit, doubling each time up to 5 min; a container that ran 10 min starts
// over at 10 s.
const (
	initialBackoff     = 10 * time.Second
	maxBackoff         = 5 * time.Minute
	backoffResetRunFor = 10 * time.Minute
)

// restartBackoff is one pod's back-off state, by container: the one piece of kubelet state that lives in
// memory only. An agent that restarts forgets it, as upstream's does.
type restartBackoff map[string]time.Duration

// backoffKey names a container's back-off; a new image starts it over.
func backoffKey(name, image string) string { return name + "\x00" + image }

// wait says until when the restart of a container whose newest instance is last must wait, and the
// delay that applies; ok is false when it may restart now.
func (b restartBackoff) wait(key string, last runtime.ContainerStatus, now time.Time) (until time.Time, delay time.Duration, ok bool) {
	delay, known := b[key]
	if !known || ranLong(last) {
		return time.Time{}, 0, false
	}
	until = last.FinishedAt.Add(delay)
	return until, delay, now.Before(until)
}

// restarted records a restart of the container after last ended: the delay before the next restart
// doubles.
func (b restartBackoff) restarted(key string, last runtime.ContainerStatus) {
	delay, known := b[key]
	switch {
	case !known || ranLong(last):
		b[key] = initialBackoff
	default:
		b[key] = min(2*delay, maxBackoff)
	}
}

func ranLong(last runtime.ContainerStatus) bool {
	return !last.StartedAt.IsZero() && last.FinishedAt.Sub(last.StartedAt) >= backoffResetRunFor
}
