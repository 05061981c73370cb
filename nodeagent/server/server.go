package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
)

// Pods gives the agent's own pods by namespace and name, with their current status.
type Pods interface {
	Pod(namespace, name string) (*corev1.Pod, bool)
}

// TerminalSize is a terminal's size in characters, as a client reports it when its window changes.
type TerminalSize struct {
	Width  uint16
	Height uint16
}

// ErrNotFound, wrapped in an error of Containers, makes the request fail with 404 Not Found.
var ErrNotFound = errors.New("not found")

// Containers does what the API needs a container runtime for. A stream the client did not ask for
// is nil. Implementations return when ctx ends.
type Containers interface {
	// LogPath returns the CRI log file of the container's current instance or, with previous, of the
	// instance that ran before it.
	LogPath(ctx context.Context, pod *corev1.Pod, container string, previous bool) (string, error)
	// Exec runs cmd in the container and returns its exit code; err is for a command that could not
	// be run or waited for. resize is nil without tty.
	Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, stdin io.Reader,
		stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) (exitCode int, err error)
	// Attach connects the streams to the container's own until the container ends or ctx does.
	Attach(ctx context.Context, pod *corev1.Pod, container string, stdin io.Reader,
		stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) error
	// PortForward copies stream to and from the pod's port (on 127.0.0.1 in its network namespace)
	// until either side ends.
	PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error
}

// Defaults of Config.
const (
	// DefaultStreamIdleTimeout ends an exec, attach or port-forward with no traffic, as the kubelet's
	// streamingConnectionIdleTimeout does.
	DefaultStreamIdleTimeout = 4 * time.Hour
	// DefaultStreamCreationTimeout is how long a client has to open the streams it asked for.
	DefaultStreamCreationTimeout = 30 * time.Second
)

// Config is what a Server serves and whom it lets in.
type Config struct {
	Pods       Pods
	Containers Containers
	// ClientCAs verifies client certificates: the cluster CA.
	ClientCAs *x509.CertPool

	StreamIdleTimeout     time.Duration // DefaultStreamIdleTimeout when zero
	StreamCreationTimeout time.Duration // DefaultStreamCreationTimeout when zero
	Logger                logr.Logger   // for errors that happen after a stream is open
}

// Server is the agent's API as an http.Handler. It expects TLS requests (see Serve and TLSConfig):
// the client certificate is how a caller is known.
type Server struct {
	cfg Config
	mux *http.ServeMux
	log logr.Logger
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Pods == nil || cfg.Containers == nil {
		return nil, errors.New("server: Pods and Containers are required")
	}
	if cfg.ClientCAs == nil {
		return nil, errors.New("server: ClientCAs is required: without it no client can be verified")
	}
	if cfg.StreamIdleTimeout < 0 || cfg.StreamCreationTimeout < 0 {
		return nil, errors.New("server: timeouts must not be negative")
	}
	if cfg.StreamIdleTimeout == 0 {
		cfg.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if cfg.StreamCreationTimeout == 0 {
		cfg.StreamCreationTimeout = DefaultStreamCreationTimeout
	}
	log := cfg.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: log}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	s.mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.authorized(s.serveLogs))
	for _, method := range []string{"GET", "POST"} {
		for _, path := range []string{"/exec/{namespace}/{pod}/{container}", "/exec/{namespace}/{pod}/{uid}/{container}"} {
			s.mux.Handle(method+" "+path, s.authorized(s.serveExec))
		}
		for _, path := range []string{"/attach/{namespace}/{pod}/{container}", "/attach/{namespace}/{pod}/{uid}/{container}"} {
			s.mux.Handle(method+" "+path, s.authorized(s.serveAttach))
		}
		for _, path := range []string{"/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"} {
			s.mux.Handle(method+" "+path, s.authorized(s.servePortForward))
		}
	}
	return s, nil
}

// ServeHTTP serves the API; paths it does not know get 404 Not Found as a Status.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeStatus(w, http.StatusNotFound, fmt.Sprintf("no API at %s %s", r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// TLSConfig returns the TLS configuration Serve uses: cert as the serving certificate, and client
// certificates asked for but checked per request, so that a caller without one gets a Status.
func (s *Server) TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
		// HTTP/1.1 only: exec, attach and port-forward upgrade the connection, which HTTP/2 cannot.
		NextProtos: []string{"http/1.1"},
	}
}

// Serve serves the API with TLS on ln until ctx ends, then closes ln and the open connections.
func (s *Server) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         s.TLSConfig(cert),
		ReadHeaderTimeout: 10 * time.Second,
		// No write timeout: logs are followed and streams stay open for hours.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = srv.Close()
		case <-done:
		}
	}()
	err := srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) && ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("serve agent API: %w", err)
}
