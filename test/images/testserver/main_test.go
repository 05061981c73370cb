package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testserver")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeAnswersAndTurnsUnhealthyAndExitsOnTerm(t *testing.T) {
	bin := build(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	unhealthy := filepath.Join(t.TempDir(), "unhealthy")
	cmd := exec.Command(bin, "serve", "--listen", addr, "--unhealthy-file", unhealthy)
	cmd.Env = append(os.Environ(), "GREETING=hello")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not listen within 10s")
		}
	}
	host, _ := os.Hostname()
	if code, body := get(t, base+"/"); code != 200 || body != host+"\n" {
		t.Errorf("GET /: %d %q, want the hostname %q", code, body, host)
	}
	if _, body := get(t, base+"/echo?msg=ping"); body != "ping" {
		t.Errorf("GET /echo: %q", body)
	}
	if _, body := get(t, base+"/env"); !strings.Contains(body, "GREETING=hello\n") {
		t.Errorf("GET /env lacks GREETING=hello: %q", body)
	}
	if _, body := get(t, base+"/clientip"); body != "127.0.0.1\n" {
		t.Errorf("GET /clientip: %q", body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("healthz %d before the file exists", code)
	}
	if err := os.WriteFile(unhealthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, base+"/healthz"); code != 500 {
		t.Errorf("healthz %d with the file, want 500", code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
}

func TestExitCommandExitsWithItsCode(t *testing.T) {
	out, err := exec.Command(build(t), "exit", "3").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit 3: %v", err)
	}
	if string(out) != "exiting 3\nexiting 3\n" {
		t.Errorf("output %q", out)
	}
}
