// Package testenv starts a whole skiff API server inside a test process, on a temporary data dir and a
// free loopback port, in well under a second. Tests of controllers get a real API server (etcd, watch,
// server-side apply, CRDs) without any binary on the machine:
//
//	env := testenv.New(t)
//	client := kubernetes.NewForConfigOrDie(env.Config)
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/skiffhq/skiff/apiserver"
)

// Env is a running API server.
type Env struct {
	// Config is an admin client configuration of the server.
	Config *rest.Config
	// KubeconfigPath is the admin kubeconfig, for kubectl.
	KubeconfigPath string
	// DataDir is the server's data dir.
	DataDir string

	cancel  context.CancelFunc
	stopped chan struct{} // closed when the server has returned, with runErr set
	runErr  error
	ownDir  bool
}

// Options configure Start. The zero value is a fresh server on a temporary directory.
type Options struct {
	// DataDir reuses a data dir (to test restarts); empty means a new temporary one, removed on Stop.
	DataDir string
	// EtcdServers, if set, are the URLs of an external etcd the server stores its objects in, instead of
	// an embedded member; several servers may share one.
	EtcdServers []string
}

// New starts a server for t and stops it when t ends. It fails t if the server does not start.
func New(t testing.TB) *Env {
	t.Helper()
	env, err := Start(context.Background(), Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop API server: %v", err)
		}
	})
	return env
}

// Start starts a server and returns once it reports ready.
func Start(ctx context.Context, opts Options) (*Env, error) {
	env := &Env{DataDir: opts.DataDir, stopped: make(chan struct{})}
	if env.DataDir == "" {
		dir, err := os.MkdirTemp("", "skiff-testenv-")
		if err != nil {
			return nil, err
		}
		env.DataDir, env.ownDir = dir, true
	}
	runCtx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	server, err := apiserver.New(runCtx, apiserver.Options{DataDir: env.DataDir, BindAddress: "127.0.0.1", HTTPSPort: 0,
		EtcdServers: opts.EtcdServers})
	if err != nil {
		cancel()
		env.cleanup()
		return nil, err
	}
	env.KubeconfigPath = server.KubeconfigPath
	env.Config = rest.CopyConfig(server.Loopback)
	go func() {
		env.runErr = server.Run(runCtx)
		close(env.stopped)
	}()
	if err := env.waitReady(ctx, server); err != nil {
		env.Stop()
		return nil, err
	}
	return env, nil
}

func (e *Env) waitReady(ctx context.Context, server *apiserver.Server) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-e.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := server.WaitReady(ctx); err != nil {
		select {
		case <-e.stopped:
			return fmt.Errorf("server stopped before ready: %w", e.runErr)
		default:
			return err
		}
	}
	return nil
}

// Stop shuts the server down and waits for it.
func (e *Env) Stop() error {
	e.cancel()
	var err error
	select {
	case <-e.stopped:
		err = e.runErr
	case <-time.After(60 * time.Second):
		err = errors.New("server did not stop within 60s")
	}
	e.cleanup()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (e *Env) cleanup() {
	if e.ownDir {
		os.RemoveAll(e.DataDir)
	}
}
