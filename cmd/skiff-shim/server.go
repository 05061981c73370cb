package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// alreadyServingError says another live shim holds the directory's lock.
type alreadyServingError struct {
	dir string
	pid string
}

func (e *alreadyServingError) Error() string {
	return fmt.Sprintf("another shim (pid %s) already serves %s; connect to %s", e.pid, e.dir, shim.SocketPath(e.dir))
}

// server is one pod's shim: its containers, their records, and the subscribers to their events.
type server struct {
	dir    string
	lcRoot string
	recDir string
	logger *log.Logger

	// starting is held shared while libcontainer starts a container, because libcontainer waits for
	// its own helper processes then, and exclusively by the reaper, so that wait4(-1) never takes a
	// status libcontainer is waiting for.
	starting sync.RWMutex

	mu         sync.Mutex
	containers map[string]*container
	byPid      map[int]*container           // own children only: the reaper's way from a pid to its container
	execs      map[int]chan unix.WaitStatus // exec'd processes: where the reaper hands their status
	subs       map[*subscriber]struct{}
	closing    bool

	stop chan struct{} // closed when a Shutdown was accepted
}

// serve runs the shim on dir until ctx ends or a Shutdown is accepted.
func serve(ctx context.Context, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	s := &server{
		dir:        dir,
		lcRoot:     filepath.Join(dir, shim.LibcontainerDir),
		recDir:     filepath.Join(dir, shim.ContainersDir),
		logger:     log.New(os.Stderr, "skiff-shim: ", log.LstdFlags|log.Lmicroseconds),
		containers: map[string]*container{},
		byPid:      map[int]*container{},
		execs:      map[int]chan unix.WaitStatus{},
		subs:       map[*subscriber]struct{}{},
		stop:       make(chan struct{}),
	}
	for _, d := range []string{dir, s.lcRoot, s.recDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.Close()

	// Become the reaper of the containers' inits (libcontainer starts them with CLONE_PARENT, so they
	// are our children) and of anything orphaned below us, before any child exists.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	go s.reap(sigchld)

	if err := s.recover(); err != nil {
		return fmt.Errorf("load container records: %w", err)
	}

	sock := shim.SocketPath(dir)
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, shim.PidFileName), []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		return err
	}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.logger.Printf("serving %s", sock)

	select {
	case <-ctx.Done():
	case <-s.stop:
	case err := <-served:
		return fmt.Errorf("serve %s: %w", sock, err)
	}
	s.closeSubscribers()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	s.removeServingFiles()
	return nil
}

// lockDir takes the directory's lock for the life of the process; the kernel drops it when we die,
// so a crashed shim never blocks its successor.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, shim.LockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := os.ReadFile(filepath.Join(dir, shim.PidFileName))
			p := strings.TrimSpace(string(pid))
			if p == "" {
				p = "unknown"
			}
			return nil, &alreadyServingError{dir: dir, pid: p}
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// removeServingFiles removes what tells the agent that a shim serves the directory.
func (s *server) removeServingFiles() {
	for _, name := range []string{shim.SocketName, shim.PidFileName, shim.LockFileName} {
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.logger.Printf("remove %s: %v", name, err)
		}
	}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, shim.Info{Pid: os.Getpid(), Dir: s.dir})
	})
	mux.HandleFunc("GET /v1/containers", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.list())
	})
	mux.HandleFunc("POST /v1/containers", s.handleCreate)
	mux.HandleFunc("GET /v1/containers/{id}", func(w http.ResponseWriter, r *http.Request) {
		rec, err := s.get(r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, rec)
	})
	mux.HandleFunc("POST /v1/containers/{id}/signal", s.handleSignal)
	mux.HandleFunc("GET /v1/containers/{id}/wait", s.handleWait)
	mux.HandleFunc("POST /v1/containers/{id}/exec", s.handleExec)
	mux.HandleFunc("POST /v1/containers/{id}/attach", s.handleAttach)
	mux.HandleFunc("DELETE /v1/containers/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.remove(r.Context(), r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/events", s.handleEvents)
	mux.HandleFunc("POST /v1/shutdown", s.handleShutdown)
	return mux
}

func (s *server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req shim.CreateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	if err := dec.Decode(&req); err != nil {
		writeError(w, fmt.Errorf("%w: decode create request: %v", shim.ErrInvalid, err))
		return
	}
	rec, err := s.create(req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, rec)
}

func (s *server) handleSignal(w http.ResponseWriter, r *http.Request) {
	var req shim.SignalRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil {
		writeError(w, fmt.Errorf("%w: decode signal request: %v", shim.ErrInvalid, err))
		return
	}
	if err := s.signal(r.PathValue("id"), req.Signal); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) handleWait(w http.ResponseWriter, r *http.Request) {
	timeout := time.Duration(0)
	if t := r.URL.Query().Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			writeError(w, fmt.Errorf("%w: timeout %q is not a duration", shim.ErrInvalid, t))
			return
		}
		timeout = d
	}
	s.mu.Lock()
	c, ok := s.containers[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeError(w, fmt.Errorf("%w: %s", shim.ErrNotFound, r.PathValue("id")))
		return
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	rec := c.snapshot()
	s.mu.Unlock()
	writeJSON(w, rec)
}

func (s *server) handleShutdown(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	if len(s.containers) > 0 {
		ids := make([]string, 0, len(s.containers))
		for id := range s.containers {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		slices.Sort(ids)
		writeError(w, fmt.Errorf("%w: remove %s first", shim.ErrHasContainers, strings.Join(ids, ", ")))
		return
	}
	alreadyClosing := s.closing
	s.closing = true
	s.mu.Unlock()
	if !alreadyClosing {
		// The socket goes before the answer, so that a caller who saw Shutdown succeed never finds it.
		s.removeServingFiles()
		close(s.stop)
	}
	w.WriteHeader(http.StatusNoContent)
}

// subscriber is one open event stream. A subscriber that falls behind is dropped rather than
// waited for: its stream ends, and the agent resubscribes and lists.
type subscriber struct {
	ch   chan shim.Event
	gone chan struct{}
}

func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errors.New("event streams need a flushing response writer"))
		return
	}
	sub := &subscriber{ch: make(chan shim.Event, 256), gone: make(chan struct{})}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		writeError(w, errors.New("shim is shutting down"))
		return
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer s.unsubscribe(sub)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case ev := <-sub.ch:
			if err := enc.Encode(ev); err != nil {
				return
			}
			flusher.Flush()
		case <-sub.gone:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *server) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropLocked(sub)
}

func (s *server) dropLocked(sub *subscriber) {
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.gone)
	}
}

func (s *server) publish(ev shim.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		select {
		case sub.ch <- ev:
		default:
			s.logger.Printf("dropping an event subscriber that fell behind")
			s.dropLocked(sub)
		}
	}
}

func (s *server) closeSubscribers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for sub := range s.subs {
		s.dropLocked(sub)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	e := shim.AsError(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Kind.HTTPStatus())
	_ = json.NewEncoder(w).Encode(e)
}
