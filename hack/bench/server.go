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

// process is a skiff process the benchmark started, with its output kept for error reports.
type process struct {
	cmd     *exec.Cmd
	logs    bytes.Buffer
	exited  chan struct{} // closed when the process has exited, with waitErr set
	waitErr error
}

func startProcess(bin string, args ...string) (*process, error) {
	p := &process{exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %s: %w", bin, args[0], err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// server is one `skiff server` process on a fresh data dir and a free loopback port.
type server struct {
	*process
	dataDir string
	port    int
}

// startServer starts bin with the extra flags given (the benchmarks of the API server alone pass
// --disable agent,controllers) and waits for /readyz; it returns the server and the time from exec to
// ready.
func startServer(ctx context.Context, bin string, extra ...string) (*server, time.Duration, error) {
	dir, err := os.MkdirTemp("", "skiff-bench-")
	if err != nil {
		return nil, 0, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, 0, err
	}
	s := &server{dataDir: dir, port: port}
	took, err := s.start(ctx, bin, extra...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, 0, err
	}
	return s, took, nil
}

// start runs the server process on s's data dir and port and waits for /readyz.
func (s *server) start(ctx context.Context, bin string, extra ...string) (time.Duration, error) {
	args := append([]string{"server", "--data-dir", s.dataDir, "--bind-address", "127.0.0.1",
		"--https-port", strconv.Itoa(s.port)}, extra...)
	start := time.Now()
	p, err := startProcess(bin, args...)
	if err != nil {
		return 0, err
	}
	s.process = p
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		p.stop()
		return 0, fmt.Errorf("%w\nserver log:\n%s", err, p.logs.String())
	}
	return time.Since(start), nil
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

// stop ends the server and removes its data dir.
func (s *server) stop() error {
	defer os.RemoveAll(s.dataDir)
	return s.process.stop()
}

// stop ends the process with SIGTERM (SIGKILL after 30 s).
func (p *process) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal skiff %d: %w", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("skiff %d did not stop within 30s of SIGTERM", p.cmd.Process.Pid)
	}
}

func (s *server) kubeconfig() string { return filepath.Join(s.dataDir, "admin.kubeconfig") }

// memory is a process's resident set and proportional set size, in bytes.
type memory struct {
	RSS int64
	PSS int64
}

func (p *process) memory() (memory, error) {
	pid := p.cmd.Process.Pid
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
