package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// testCA is a certificate authority of the test's own.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// clientCert issues a client certificate for subject, as PEM certificate and key.
func (ca *testCA) clientCert(t *testing.T, subject pkix.Name) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// testPods is the agent's pods, changeable while the server runs.
type testPods struct {
	mu   sync.Mutex
	pods map[string]*corev1.Pod
}

func (p *testPods) Pod(namespace, name string) (*corev1.Pod, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pod, ok := p.pods[namespace+"/"+name]
	if !ok {
		return nil, false
	}
	return pod.DeepCopy(), true
}

func (p *testPods) update(namespace, name string, fn func(*corev1.Pod)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p.pods[namespace+"/"+name])
}

// hostContainers runs "containers" as processes of the host: exec runs the command, attach runs a
// fresh `sh -c 'echo attached; cat'`, logs are files in a directory, port-forward dials in the
// host's (the test's) network namespace.
type hostContainers struct {
	logDir string
	netns  string
}

func (h *hostContainers) LogPath(_ context.Context, pod *corev1.Pod, container string, previous bool) (string, error) {
	name := "current.log"
	if previous {
		name = "previous.log"
	}
	path := filepath.Join(h.logDir, pod.Name, container, name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return path, nil
}

func (h *hostContainers) Exec(ctx context.Context, _ *corev1.Pod, _ string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) (int, error) {
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	return run(c, stdin, stdout, stderr, tty, resize)
}

func (h *hostContainers) Attach(ctx context.Context, _ *corev1.Pod, _ string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) error {
	code, err := run(exec.CommandContext(ctx, "sh", "-c", "echo attached; cat"), stdin, stdout, stderr, tty, resize)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit code %d", code)
	}
	return err
}

func (h *hostContainers) PortForward(ctx context.Context, _ *corev1.Pod, port int32, stream io.ReadWriteCloser) error {
	return PortForwardInNetNS(ctx, h.netns, port, stream)
}

// run runs c with the streams, on a new pseudo-terminal with tty, and returns its exit code.
func run(c *exec.Cmd, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) (int, error) {
	var copies sync.WaitGroup
	if tty {
		ptmx, pts, err := openPTY()
		if err != nil {
			return 0, err
		}
		defer ptmx.Close()
		// A terminal starts with the client's size: wait a moment for the first one.
		select {
		case size := <-resize:
			setSize(ptmx, size)
		case <-time.After(2 * time.Second):
		}
		go func() {
			for size := range resize {
				setSize(ptmx, size)
			}
		}()
		c.Stdin, c.Stdout, c.Stderr = pts, pts, pts
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		err = c.Start()
		pts.Close()
		if err != nil {
			return 0, err
		}
		if stdin != nil {
			go func() { _, _ = io.Copy(ptmx, stdin) }()
		}
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(stdout, ptmx) // ends with EIO when the last holder of the terminal exits
		}()
	} else {
		c.Stdin = stdin
		if stdout != nil {
			c.Stdout = stdout
		}
		if stderr != nil {
			c.Stderr = stderr
		}
		if err := c.Start(); err != nil {
			return 0, err
		}
	}
	err := c.Wait()
	copies.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), nil
	}
	return 0, err
}

func openPTY() (ptmx, pts *os.File, err error) {
	ptmx, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ptmx.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		ptmx.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptmx.Close()
		return nil, nil, err
	}
	return ptmx, pts, nil
}

func setSize(f *os.File, size TerminalSize) {
	ws := unix.Winsize{Row: size.Height, Col: size.Width}
	_, _, _ = unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws)))
}

// testEnv is a Server on 127.0.0.1 with TLS, its pods and its CA.
type testEnv struct {
	url     string
	ca      *testCA
	pods    *testPods
	logDir  string
	apiCert []byte
	apiKey  []byte
}

func startServer(t *testing.T) *testEnv {
	t.Helper()
	ca := newTestCA(t, "cluster-ca")
	logDir := t.TempDir()
	pods := &testPods{pods: map[string]*corev1.Pod{
		"default/web": {
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "uid-web"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}, {Name: "unseen"}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", ContainerID: "test://2",
					State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "test://1", ExitCode: 1}}},
				{Name: "sidecar", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
			}},
		},
	}}
	s, err := New(Config{Pods: pods, Containers: &hostContainers{logDir: logDir, netns: "/proc/self/ns/net"}, ClientCAs: ca.pool,
		StreamCreationTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := SelfSignedServingCert("node-1", []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, cert) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	apiCert, apiKey := ca.clientCert(t, pkix.Name{CommonName: APIServerClientName})
	return &testEnv{url: "https://" + ln.Addr().String(), ca: ca, pods: pods, logDir: logDir, apiCert: apiCert, apiKey: apiKey}
}

// restConfig is how the API server (or kubectl) reaches the agent: with its client certificate, not
// verifying the agent's self-signed one.
func (e *testEnv) restConfig() *rest.Config {
	return &rest.Config{Host: e.url, TLSClientConfig: rest.TLSClientConfig{Insecure: true, CertData: e.apiCert, KeyData: e.apiKey}}
}

// httpClient is a client with the given PEM client certificate (none when nil).
func httpClient(t *testing.T, certPEM, keyPEM []byte) *http.Client {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func (e *testEnv) writeLog(t *testing.T, pod, container, name, content string) string {
	t.Helper()
	dir := filepath.Join(e.logDir, pod, container)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
