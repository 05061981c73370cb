package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

func logLine(t time.Time, stream, tag, text string) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") + " " + stream + " " + tag + " " + text + "\n"
}

// decodeStatus reads a Status body.
func decodeStatus(t *testing.T, body []byte) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("body %q is no Status: %v", body, err)
	}
	return st
}

func TestContainerLogs(t *testing.T) {
	env := startServer(t)
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	env.writeLog(t, "web", "app", "current.log",
		logLine(t0, "stdout", "F", "first")+logLine(t0.Add(time.Second), "stderr", "P", "sec")+
			logLine(t0.Add(2*time.Second), "stderr", "F", "ond")+logLine(t0.Add(3*time.Second), "stdout", "F", "third"))
	env.writeLog(t, "web", "app", "previous.log", logLine(t0, "stdout", "F", "from the previous instance"))
	client := httpClient(t, env.apiCert, env.apiKey)

	for _, tc := range []struct {
		name, path string
		code       int
		body       string // the body, or the Status message
	}{
		{"the whole log as text", "/containerLogs/default/web/app", 200, "first\nsecond\nthird\n"},
		{"tail and timestamps", "/containerLogs/default/web/app?tailLines=2&timestamps=true", 200,
			t0.Add(time.Second).Format(time.RFC3339Nano) + " second\n" + t0.Add(3*time.Second).Format(time.RFC3339Nano) + " third\n"},
		{"limit bytes", "/containerLogs/default/web/app?limitBytes=8", 200, "first\nse"},
		{"since time", "/containerLogs/default/web/app?sinceTime=" + url.QueryEscape(t0.Add(2*time.Second).Format(time.RFC3339)), 200, "third\n"},
		{"since seconds counts back from now", "/containerLogs/default/web/app?sinceSeconds=60", 200, ""},
		{"previous instance", "/containerLogs/default/web/app?previous=true", 200, "from the previous instance\n"},
		{"no previous instance", "/containerLogs/default/web/sidecar?previous=true", 400,
			`previous terminated container "sidecar" in pod "web" not found`},
		{"container waiting", "/containerLogs/default/web/sidecar", 400,
			`container "sidecar" in pod "web" is waiting to start: ContainerCreating`},
		{"container without status", "/containerLogs/default/web/unseen", 404, `container "unseen" in pod "web" is not available`},
		{"container not in the pod", "/containerLogs/default/web/nope", 404, `container "nope" not found in pod "web"`},
		{"pod not on this node", "/containerLogs/default/other/app", 404, `pod "default/other" does not exist`},
		{"bad tail", "/containerLogs/default/web/app?tailLines=-1", 400, `tailLines="-1": want a whole number of at least 0`},
		{"since time and seconds", "/containerLogs/default/web/app?sinceSeconds=1&sinceTime=2025-01-01T00:00:00Z", 400,
			"at most one of sinceTime or sinceSeconds may be specified"},
		{"unknown path", "/containerLogs/default/web", 404, "no API at GET /containerLogs/default/web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Get(env.url + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.code {
				t.Fatalf("code %d, want %d; body %q", resp.StatusCode, tc.code, body)
			}
			if tc.code == 200 {
				if string(body) != tc.body {
					t.Errorf("body %q, want %q", body, tc.body)
				}
				return
			}
			st := decodeStatus(t, body)
			if st.Message != tc.body || st.Code != int32(tc.code) || st.Status != metav1.StatusFailure || st.Kind != "Status" {
				t.Errorf("status %+v, want code %d and message %q", st, tc.code, tc.body)
			}
		})
	}
}

func TestFollowedLogEndsWhenTheContainerStops(t *testing.T) {
	env := startServer(t)
	path := env.writeLog(t, "web", "app", "current.log", logLine(time.Now(), "stdout", "F", "one"))
	resp, err := httpClient(t, env.apiCert, env.apiKey).Get(env.url + "/containerLogs/default/web/app?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	readLine := func(want string) {
		t.Helper()
		got, err := lines.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("read %q (%v), want %q", got, err, want)
		}
	}
	readLine("one\n")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(logLine(time.Now(), "stdout", "F", "two")); err != nil {
		t.Fatal(err)
	}
	readLine("two\n")
	if _, err := f.WriteString(logLine(time.Now(), "stdout", "F", "last words")); err != nil {
		t.Fatal(err)
	}
	env.pods.update("default", "web", func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "test://2"}}
	})
	readLine("last words\n")
	done := make(chan error, 1)
	go func() { _, err := lines.ReadByte(); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("after the container stopped: %v, want the end of the body", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the followed log did not end when the container stopped")
	}
}

func TestOnlyTheAPIServerAndAdministratorsGetIn(t *testing.T) {
	env := startServer(t)
	env.writeLog(t, "web", "app", "current.log", logLine(time.Now(), "stdout", "F", "secret"))
	other := newTestCA(t, "other-ca")
	adminCert, adminKey := env.ca.clientCert(t, pkix.Name{CommonName: "alice", Organization: []string{MastersGroup}})
	nodeCert, nodeKey := env.ca.clientCert(t, pkix.Name{CommonName: "system:node:node-2", Organization: []string{"system:nodes"}})
	foreignCert, foreignKey := other.clientCert(t, pkix.Name{CommonName: APIServerClientName})
	for _, tc := range []struct {
		name      string
		cert, key []byte
		path      string
		code      int
	}{
		{"the API server", env.apiCert, env.apiKey, "/containerLogs/default/web/app", 200},
		{"an administrator", adminCert, adminKey, "/containerLogs/default/web/app", 200},
		{"no client certificate", nil, nil, "/containerLogs/default/web/app", 401},
		{"a certificate of another CA", foreignCert, foreignKey, "/containerLogs/default/web/app", 401},
		{"a node", nodeCert, nodeKey, "/containerLogs/default/web/app", 403},
		{"a node, for exec", nodeCert, nodeKey, "/exec/default/web/app?command=id&output=1", 403},
		{"healthz without a certificate", nil, nil, "/healthz", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := httpClient(t, tc.cert, tc.key).Get(env.url + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("code %d, want %d (body %q)", resp.StatusCode, tc.code, body)
			}
			if tc.code != 200 {
				if st := decodeStatus(t, body); st.Code != int32(tc.code) {
					t.Errorf("status %+v", st)
				}
			} else if tc.path == "/healthz" && string(body) != "ok" {
				t.Errorf("healthz said %q", body)
			}
		})
	}
}

// executor returns a client of the agent's remote command API over one transport, as kubectl's.
func executor(t *testing.T, env *testEnv, transport, path string, query url.Values) remotecommand.Executor {
	t.Helper()
	u, err := url.Parse(env.url + path + "?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var ex remotecommand.Executor
	switch transport {
	case "websocket":
		ex, err = remotecommand.NewWebSocketExecutor(env.restConfig(), "GET", u.String())
	case "spdy":
		ex, err = remotecommand.NewSPDYExecutor(env.restConfig(), "POST", u)
	case "websocket, falling back to spdy":
		ws, werr := remotecommand.NewWebSocketExecutor(env.restConfig(), "GET", u.String())
		sp, serr := remotecommand.NewSPDYExecutor(env.restConfig(), "POST", u)
		if werr != nil || serr != nil {
			t.Fatal(werr, serr)
		}
		ex, err = remotecommand.NewFallbackExecutor(ws, sp, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// fixedSize is a terminal that has one size.
type fixedSize struct{ sent bool }

func (f *fixedSize) Next() *remotecommand.TerminalSize {
	if f.sent {
		select {} // no further changes; the executor stops asking when the stream ends
	}
	f.sent = true
	return &remotecommand.TerminalSize{Width: 101, Height: 33}
}

func TestExec(t *testing.T) {
	env := startServer(t)
	for _, transport := range []string{"websocket", "spdy", "websocket, falling back to spdy"} {
		for _, tc := range []struct {
			name           string
			cmd            []string
			stdin          string
			tty            bool
			stdout, stderr string
			exitCode       int
		}{
			{name: "stdout and stderr apart", cmd: []string{"sh", "-c", "echo out; echo err >&2"}, stdout: "out\n", stderr: "err\n"},
			{name: "stdin reaches the command and its end ends it", cmd: []string{"cat"}, stdin: "hello\nworld\n", stdout: "hello\nworld\n"},
			{name: "exit code 3 is the client's exit code", cmd: []string{"sh", "-c", "echo bye; exit 3"}, stdout: "bye\n", exitCode: 3},
			{name: "a terminal with the client's size", cmd: []string{"sh", "-c", "test -t 0 && stty size"}, tty: true, stdout: "33 101\r\n"},
		} {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				q := url.Values{"command": tc.cmd, "output": {"1"}}
				if !tc.tty {
					q.Set("error", "1")
				} else {
					q.Set("tty", "1")
				}
				opts := remotecommand.StreamOptions{Tty: tc.tty}
				var stdout, stderr bytes.Buffer
				opts.Stdout = &stdout
				if !tc.tty {
					opts.Stderr = &stderr
				} else {
					opts.TerminalSizeQueue = &fixedSize{}
				}
				if tc.stdin != "" {
					q.Set("input", "1")
					opts.Stdin = strings.NewReader(tc.stdin)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				err := executor(t, env, transport, "/exec/default/web/app", q).StreamWithContext(ctx, opts)
				var exitErr utilexec.ExitError
				switch {
				case tc.exitCode != 0:
					if !errors.As(err, &exitErr) || exitErr.ExitStatus() != tc.exitCode {
						t.Errorf("error %v, want exit code %d", err, tc.exitCode)
					}
				case err != nil:
					t.Errorf("exec: %v", err)
				}
				if stdout.String() != tc.stdout || stderr.String() != tc.stderr {
					t.Errorf("stdout %q stderr %q, want %q and %q", stdout.String(), stderr.String(), tc.stdout, tc.stderr)
				}
			})
		}
	}
}

func TestExecAndAttachRefusals(t *testing.T) {
	env := startServer(t)
	client := httpClient(t, env.apiCert, env.apiKey)
	for _, tc := range []struct {
		name, path string
		code       int
		msg        string
	}{
		{"no command", "/exec/default/web/app?output=1", 400, "you must specify at least one command for the container"},
		{"no stream", "/exec/default/web/app?command=id", 400, "you must specify at least 1 of stdin, stdout, stderr"},
		{"another pod with the same name", "/exec/default/web/uid-other/app?command=id&output=1", 404,
			`pod "default/web" with UID "uid-other" does not exist`},
		{"unknown container", "/attach/default/web/nope?output=1", 404, `container "nope" not found in pod "web"`},
		{"unknown pod", "/portForward/default/gone", 404, `pod "default/gone" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Post(env.url+tc.path, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if st := decodeStatus(t, body); resp.StatusCode != tc.code || st.Message != tc.msg {
				t.Errorf("code %d message %q, want %d %q", resp.StatusCode, st.Message, tc.code, tc.msg)
			}
		})
	}
	// The pod's UID in the path selects that instance of it.
	var out bytes.Buffer
	err := executor(t, env, "spdy", "/exec/default/web/uid-web/app", url.Values{"command": {"echo", "uid"}, "output": {"1"}}).
		StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &out})
	if err != nil || out.String() != "uid\n" {
		t.Errorf("exec with the pod's UID: %q, %v", out.String(), err)
	}
}

func TestAttach(t *testing.T) {
	env := startServer(t)
	for _, transport := range []string{"websocket", "spdy"} {
		t.Run(transport, func(t *testing.T) {
			var out bytes.Buffer
			q := url.Values{"input": {"1"}, "output": {"1"}, "error": {"1"}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := executor(t, env, transport, "/attach/default/web/app", q).StreamWithContext(ctx,
				remotecommand.StreamOptions{Stdin: strings.NewReader("typed\n"), Stdout: &out, Stderr: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != "attached\ntyped\n" {
				t.Errorf("got %q", out.String())
			}
		})
	}
}

// echoServer listens on 127.0.0.1 and answers every connection with what it reads, prefixed.
func echoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := fmt.Fprintf(c, "echo: %s", line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestPortForwardInNetNSRefusesBadPort(t *testing.T) {
	if err := PortForwardInNetNS(context.Background(), "/proc/self/ns/net", 0, nil); err == nil {
		t.Error("port 0 accepted")
	}
	if err := PortForwardInNetNS(context.Background(), "/nonexistent/netns", 80, nil); err == nil {
		t.Error("a missing namespace accepted")
	}
}
