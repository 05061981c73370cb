package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/skiffhq/skiff/nodeagent/podnet"
)

// dialTimeout bounds connecting to a pod's port: a port nobody listens on is refused at once, a
// namespace with a broken loopback must not hang the client.
const dialTimeout = 10 * time.Second

// PortForwardInNetNS connects to 127.0.0.1:port in the network namespace mounted at netnsPath and
// copies stream to it and back, as Containers.PortForward does for a pod. It returns when the pod's
// side closes the connection or ctx ends; when the client ends its side first, the pod's side is
// told (a half close) and may still answer.
func PortForwardInNetNS(ctx context.Context, netnsPath string, port int32, stream io.ReadWriteCloser) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port %d: want 1 to 65535", port)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	var conn net.Conn
	err := podnet.InNamespace(netnsPath, func() error {
		// The socket is made on this thread, in the namespace, and stays there.
		d := net.Dialer{Timeout: dialTimeout}
		var err error
		conn, err = d.DialContext(ctx, "tcp4", addr)
		return err
	})
	if err != nil {
		return fmt.Errorf("dial %s in %s: %w", addr, netnsPath, err)
	}
	defer conn.Close()

	fromPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	go func() {
		// Ends when the client closes its side (then the pod gets EOF) or the stream is torn down.
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	select {
	case err := <-fromPod:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("copy from %s: %w", addr, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
