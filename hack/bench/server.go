package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one `skiff server` process on a fresh data dir and a free loopback port.
type server struct {
	cmd     *exec.Cmd
	dataDir string
	port    int
	logs    bytes.Buffer
	exited  chan struct{} // closed when the process has exited, with waitErr set
	waitErr error
}

// startServer starts bin and waits for /readyz; it returns the server and the time from exec to ready.
func startServer(ctx context.Context, bin string) (*server, time.Duration, error) {
	dir, err := os.MkdirTemp("", "skiff-bench-")
	if err != nil {
		return nil, 0, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, 0, err
	}
	s := &server{dataDir: dir, port: port, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "server", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--https-port", strconv.Itoa(port), "--disable", "agent,controllers")
	s.cmd.Stdout, s.cmd.Stderr = &s.logs, &s.logs
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, 0, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.stop()
		return nil, 0, fmt.Errorf("%w\nserver log:\n%s", err, s.logs.String())
	}
	return s, time.Since(start), nil
}

// waitReady polls /readyz anonymously over https, trusting only the cluster CA, which the server writes
// to its data dir during start.
func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", s.port)
	var client *http.Client
	var lastErr error
	for {
		if client == nil {
			client, lastErr = caClient(filepath.Join(s.dataDir, "tls", "ca.crt"))
		}
		if client != nil {
			lastErr = getOK(ctx, client, url)
			if lastErr == nil {
				client.CloseIdleConnections()
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before ready: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w (last: %v)", ctx.Err(), lastErr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func caClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	return &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}, nil
}

func getOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		return fmt.Errorf("%s: %d %q", url, resp.StatusCode, body)
	}
	return nil
}

// stop ends the process with SIGTERM (SIGKILL after 30 s) and removes its data dir.
func (s *server) stop() error {
	defer os.RemoveAll(s.dataDir)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal skiff %d: %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.exited:
		return s.waitErr
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("skiff %d did not stop within 30s of SIGTERM", s.cmd.Process.Pid)
	}
}

func (s *server) kubeconfig() string { return filepath.Join(s.dataDir, "admin.kubeconfig") }

// memory is a process's resident set and proportional set size, in bytes.
type memory struct {
	RSS int64
	PSS int64
}

func (s *server) memory() (memory, error) {
	pid := s.cmd.Process.Pid
	rss, err := procKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	if err != nil {
		return memory{}, err
	}
	pss, err := procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	if err != nil {
		return memory{}, err
	}
	return memory{RSS: rss, PSS: pss}, nil
}

// procKB reads a "Field:   1234 kB" line of a /proc file, in bytes.
func procKB(path, field string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == field && fields[2] == "kB" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %s: %w", path, field, err)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s line", path, field)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
