package shim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ExitAlreadyServing is the exit code of `skiff-shim serve` when another shim serves the directory.
const ExitAlreadyServing = 3

// Start returns a client of the shim serving dir, launching `binary serve --dir dir` first when none
// answers. The shim runs in its own session so that it outlives the caller; its stderr goes to
// dir/shim.log. Start returns once the shim answers on its socket.
func Start(ctx context.Context, binary, dir string) (*Client, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("start shim: pod state dir %q is not absolute", dir)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := NewClient(SocketPath(dir))
	if _, err := c.Info(ctx); err == nil {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	logPath := filepath.Join(dir, LogFileName)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "serve", "--dir", dir)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start shim %s: %w", binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var waitErr error
	shimExited := false
	for {
		select {
		case <-ctx.Done():
			if !shimExited {
				_ = cmd.Process.Kill()
			}
			return nil, fmt.Errorf("start shim for %s: %w", dir, ctx.Err())
		case waitErr = <-exited:
			shimExited = true
			var ee *exec.ExitError
			if !errors.As(waitErr, &ee) || ee.ExitCode() != ExitAlreadyServing {
				return nil, fmt.Errorf("shim for %s exited at start (%v): %s", dir, waitErr, logTail(logPath))
			}
			// Another shim won a race to serve dir: keep polling its socket.
		case <-tick.C:
		}
		if _, err := c.Info(ctx); err == nil {
			return c, nil
		}
	}
}

// logTail returns the last lines of the shim's log, to explain a failed start.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 2048 {
		s = s[len(s)-2048:]
	}
	return s
}
