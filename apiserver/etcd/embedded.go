// Package etcd runs the embedded etcd member that stores the API server's objects when no external etcd is
// given. It listens on loopback only; its data lives under the server's data dir.
package etcd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Embedded is a running single-member etcd.
type Embedded struct {
	etcd *embed.Etcd
	// ClientURL is where clients reach the member (http on loopback).
	ClientURL string
}

// StartEmbedded starts an etcd member on loopback with its data in dir and waits until it serves.
// A member that already has data in dir keeps the ports it was first given, so its stored peer
// address stays true across restarts.
func StartEmbedded(ctx context.Context, dir string, logger *zap.Logger) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd data dir: %w", err)
	}
	clientPort, peerPort, err := ports(filepath.Join(dir, "ports"))
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "skiff"
	cfg.Dir = filepath.Join(dir, "data")
	// A single member needs no long elections: short ticks make it leader in tens of milliseconds.
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.EnableGRPCGateway = false
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
	cfg.LogLevel = "error"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd did not become ready within 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Embedded{etcd: e, ClientURL: clientURL.String()}, nil
}

// Err reports a fatal error of the member after start.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the member.
func (e *Embedded) Close() { e.etcd.Close() }

// ports reads the member's ports from path, or picks two free loopback ports and records them.
func ports(path string) (client, peer int, err error) {
	if b, err := os.ReadFile(path); err == nil {
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d %d", &client, &peer); err == nil && free(client) && free(peer) {
			return client, peer, nil
		}
	}
	if client, err = freePort(); err != nil {
		return 0, 0, err
	}
	if peer, err = freePort(); err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", client, peer)), 0o600); err != nil {
		return 0, 0, fmt.Errorf("record etcd ports: %w", err)
	}
	return client, peer, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func free(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
