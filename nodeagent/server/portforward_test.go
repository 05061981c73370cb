package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	apimachineryhttpstream "k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: port-forward enters a network namespace")
	}
}

// dialers returns the port-forward clients kubectl has for the URL.
func dialers(t *testing.T, env *testEnv, u *url.URL) map[string]apimachineryhttpstream.Dialer {
	t.Helper()
	transport, upgrader, err := spdy.RoundTripperFor(env.restConfig())
	if err != nil {
		t.Fatal(err)
	}
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, env.restConfig())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]apimachineryhttpstream.Dialer{
		"spdy":                        spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u),
		"spdy tunnelled in websocket": tunnel,
	}
}

func TestPortForwardRoundTripsBytes(t *testing.T) {
	requireRoot(t)
	env := startServer(t)
	port := echoServer(t)
	u, err := url.Parse(env.url + "/portForward/default/web")
	if err != nil {
		t.Fatal(err)
	}
	for name, dialer := range dialers(t, env, u) {
		t.Run(name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- pf.ForwardPorts() }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("ForwardPorts: %v", err)
			case <-time.After(10 * time.Second):
				close(stop)
				t.Fatal("port-forward not ready")
			}
			defer func() {
				close(stop)
				if err := <-done; err != nil {
					t.Errorf("ForwardPorts: %v", err)
				}
			}()
			ports, err := pf.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			// Two connections one after another: each is a new pair of streams.
			for i := range 2 {
				c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", ports[0].Local), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				for _, msg := range []string{"ping\n", strings.Repeat("x", 100000) + "\n"} {
					if _, err := io.WriteString(c, msg); err != nil {
						t.Fatal(err)
					}
					got, err := r.ReadString('\n')
					if err != nil || got != "echo: "+msg {
						t.Fatalf("connection %d: read %d bytes (%v), want %d", i, len(got), err, len("echo: "+msg))
					}
				}
				c.Close()
			}
		})
	}
}

// TestPortForwardV4WebSocket drives the WebSocket channel protocol: per port a data and an error
// channel, each opened with the port number.
func TestPortForwardV4WebSocket(t *testing.T) {
	requireRoot(t)
	env := startServer(t)
	port := echoServer(t)
	closed, err := net.Listen("tcp4", "127.0.0.1:0") // a port with nobody listening once closed
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	pair, err := tls.X509KeyPair(env.apiCert, env.apiKey)
	if err != nil {
		t.Fatal(err)
	}
	d := gwebsocket.Dialer{
		TLSClientConfig:  &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{pair}},
		Subprotocols:     []string{"v4.channel.k8s.io"},
		HandshakeTimeout: 5 * time.Second,
	}
	wsURL := strings.Replace(env.url, "https://", "wss://", 1) + fmt.Sprintf("/portForward/default/web?port=%d&port=%d", port, closedPort)
	ws, _, err := d.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))

	// Channel 0 and 1 (data, error) are the echo port, 2 and 3 the closed one.
	got := map[byte][]byte{}
	read := func() (byte, []byte) {
		t.Helper()
		_, msg, err := ws.ReadMessage()
		if err != nil || len(msg) == 0 {
			t.Fatalf("read: %v", err)
		}
		return msg[0], msg[1:]
	}
	for range 4 { // the port prefixes
		ch, data := read()
		if len(data) < 2 {
			t.Fatalf("channel %d began with %q", ch, data)
		}
		got[ch] = append(got[ch], data[2:]...)
		want := port
		if ch >= 2 {
			want = closedPort
		}
		if p := binary.LittleEndian.Uint16(data[:2]); int(p) != want {
			t.Errorf("channel %d: port %d, want %d", ch, p, want)
		}
	}
	if err := ws.WriteMessage(gwebsocket.BinaryMessage, append([]byte{0}, "over websocket\n"...)); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(string(got[0]), "\n") || !strings.Contains(string(got[3]), "refused") {
		ch, data := read()
		got[ch] = append(got[ch], data...)
	}
	if string(got[0]) != "echo: over websocket\n" {
		t.Errorf("data: %q", got[0])
	}
	if msg := string(got[3]); !strings.Contains(msg, fmt.Sprintf("error forwarding port %d to pod web", closedPort)) {
		t.Errorf("error channel of the closed port: %q", msg)
	}
}

// netnsWithServer makes a network namespace of the test's own on a thread that stays in it, with a
// server on 127.0.0.1 there that greets and echoes; it returns the namespace's path and the port. The
// thread ends (and the namespace with it) when the test does.
func netnsWithServer(t *testing.T) (string, int) {
	t.Helper()
	type result struct {
		path string
		port int
		err  error
	}
	res := make(chan result, 1)
	end := make(chan struct{})
	t.Cleanup(func() { close(end) })
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fail := func(err error) { res <- result{err: err} }
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			fail(fmt.Errorf("unshare: %w", err))
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			fail(err)
			return
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			fail(err)
			return
		}
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fail(err)
			return
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_, _ = io.WriteString(c, "inside\n")
					_, _ = io.Copy(c, c)
				}()
			}
		}()
		res <- result{path: fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()), port: ln.Addr().(*net.TCPAddr).Port}
		<-end
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path, r.port
}

func TestPortForwardInNetNSDialsInsideTheNamespace(t *testing.T) {
	requireRoot(t)
	path, port := netnsWithServer(t)
	client, stream := net.Pipe()
	defer client.Close()
	done := make(chan error, 1)
	go func() { done <- PortForwardInNetNS(context.Background(), path, int32(port), stream) }()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(client)
	if greeting, err := r.ReadString('\n'); err != nil || greeting != "inside\n" {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	if _, err := io.WriteString(client, "round trip\n"); err != nil {
		t.Fatal(err)
	}
	if echo, err := r.ReadString('\n'); err != nil || echo != "round trip\n" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	// The client ends its side: the pod's side gets EOF, closes, and the forward returns.
	client.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("PortForwardInNetNS: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PortForwardInNetNS did not return after both sides closed")
	}
}
