package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/crilog"
)

// serveLogs writes a container's log as text: GET /containerLogs/{namespace}/{pod}/{container}.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	opts, previous, err := logOptions(r.URL.Query(), time.Now())
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	pod, container, lerr := s.podContainer(r)
	if lerr != nil {
		writeStatus(w, lerr.code, lerr.msg)
		return
	}
	if lerr := checkLogStatus(pod, container, previous); lerr != nil {
		writeStatus(w, lerr.code, lerr.msg)
		return
	}
	path, err := s.cfg.Containers.LogPath(r.Context(), pod, container, previous)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrNotFound) {
			code = http.StatusNotFound
		}
		writeStatus(w, code, fmt.Sprintf("log of container %q in pod %q: %v", container, pod.Name, err))
		return
	}
	if opts.Follow {
		opts.Stop = s.logFollowStop(pod, container, previous)
	}
	out := &logWriter{w: w}
	err = crilog.Read(r.Context(), path, opts, out, out)
	switch {
	case err == nil || errors.Is(err, context.Canceled):
		if !out.started {
			out.start() // an empty log is an empty 200
		}
	case !out.started:
		writeStatus(w, http.StatusInternalServerError, fmt.Sprintf("log of container %q in pod %q: %v", container, pod.Name, err))
	default:
		// The body has begun: the error can only end it.
		s.log.Error(err, "Reading container log", "pod", pod.Namespace+"/"+pod.Name, "container", container)
	}
}

// logOptions parses the query of a log request (the pod log options), now being the time sinceSeconds
// counts back from.
func logOptions(q url.Values, now time.Time) (opts crilog.Options, previous bool, err error) {
	boolean := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s=%q: want true or false", name, v)
		}
		return b, nil
	}
	integer := func(name string, min int64) (*int64, error) {
		v := q.Get(name)
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return nil, fmt.Errorf("%s=%q: want a whole number of at least %d", name, v, min)
		}
		return &n, nil
	}
	if opts.Follow, err = boolean("follow"); err != nil {
		return opts, false, err
	}
	if previous, err = boolean("previous"); err != nil {
		return opts, false, err
	}
	if opts.Timestamps, err = boolean("timestamps"); err != nil {
		return opts, false, err
	}
	if opts.TailLines, err = integer("tailLines", 0); err != nil {
		return opts, false, err
	}
	if opts.LimitBytes, err = integer("limitBytes", 1); err != nil {
		return opts, false, err
	}
	sinceSeconds, err := integer("sinceSeconds", 1)
	if err != nil {
		return opts, false, err
	}
	if v := q.Get("sinceTime"); v != "" {
		if sinceSeconds != nil {
			return opts, false, errors.New("at most one of sinceTime or sinceSeconds may be specified")
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return opts, false, fmt.Errorf("sinceTime=%q: want an RFC 3339 time", v)
		}
		opts.SinceTime = &t
	} else if sinceSeconds != nil {
		t := now.Add(-time.Duration(*sinceSeconds) * time.Second)
		opts.SinceTime = &t
	}
	switch stream := q.Get("stream"); stream {
	case "", "All":
	case "Stdout":
		opts.Stream = crilog.Stdout
	case "Stderr":
		opts.Stream = crilog.Stderr
	default:
		return opts, false, fmt.Errorf("stream=%q: want All, Stdout or Stderr", stream)
	}
	return opts, previous, nil
}

// checkLogStatus refuses, from the container's status, a log the container has not got (yet), with
// the kubelet's words.
func checkLogStatus(pod *corev1.Pod, container string, previous bool) *lookupError {
	cs, ok := containerStatus(pod, container)
	if !ok {
		return &lookupError{http.StatusNotFound, fmt.Sprintf("container %q in pod %q is not available", container, pod.Name)}
	}
	last, state := cs.LastTerminationState.Terminated, cs.State
	switch {
	case previous:
		if last == nil || last.ContainerID == "" {
			return &lookupError{http.StatusBadRequest, fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod.Name)}
		}
	case state.Running != nil:
	case state.Terminated != nil:
		if state.Terminated.ContainerID == "" && (last == nil || last.ContainerID == "") {
			return &lookupError{http.StatusBadRequest, fmt.Sprintf("container %q in pod %q is terminated", container, pod.Name)}
		}
	case last != nil:
		if last.ContainerID == "" {
			return &lookupError{http.StatusBadRequest, fmt.Sprintf("container %q in pod %q is terminated", container, pod.Name)}
		}
	case state.Waiting != nil:
		return &lookupError{http.StatusBadRequest, fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, pod.Name, state.Waiting.Reason)}
	default:
		return &lookupError{http.StatusBadRequest, fmt.Sprintf("container %q in pod %q is not available", container, pod.Name)}
	}
	return nil
}

// logFollowStop tells a follower when the instance it reads has ended: the container is no longer
// running under the ID it had when the request came, or the pod is gone.
func (s *Server) logFollowStop(pod *corev1.Pod, container string, previous bool) func() bool {
	cs, _ := containerStatus(pod, container)
	if previous || cs == nil || cs.State.Running == nil {
		return func() bool { return true } // an ended instance: its file is all there is
	}
	id := cs.ContainerID
	return func() bool {
		cur, ok := s.cfg.Pods.Pod(pod.Namespace, pod.Name)
		if !ok || cur.UID != pod.UID {
			return true
		}
		cs, ok := containerStatus(cur, container)
		return !ok || cs.State.Running == nil || cs.ContainerID != id
	}
}

// logWriter writes the log body, sending the headers on the first write so that an error before it
// can still be a Status, and flushing each write so that a follower sees lines as they come.
type logWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *logWriter) start() {
	l.started = true
	l.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	l.w.WriteHeader(http.StatusOK)
}

func (l *logWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	n, err := l.w.Write(p)
	if err == nil {
		err = http.NewResponseController(l.w).Flush()
	}
	return n, err
}
