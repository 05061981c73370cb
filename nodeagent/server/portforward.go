package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Port-forward protocols: SPDY streams in pairs (data and error) per forwarded connection, the same
// SPDY tunnelled through a WebSocket (what kubectl tries first), and one WebSocket with a data and an
// error channel per port named in the query.
const (
	portForwardProtocol       = "portforward.k8s.io"
	portForwardTunnelProtocol = "SPDY/3.1+" + portForwardProtocol

	portHeader      = "port"
	requestIDHeader = "requestID"
	streamData      = "data"
)

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	pod, lerr := s.pod(r)
	if lerr != nil {
		writeStatus(w, lerr.code, lerr.msg)
		return
	}
	switch {
	case wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		s.portForwardTunnel(w, r, pod)
	case wsstream.IsWebSocketRequest(r):
		s.portForwardWebSocket(w, r, pod)
	default:
		if _, err := httpstream.Handshake(r, w, []string{portForwardProtocol}); err != nil {
			return // Handshake answered
		}
		pf := newSPDYPortForward(s, r.Context(), pod)
		conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, pf.newStream)
		if conn == nil {
			return // the upgrader answered
		}
		pf.run(conn)
	}
}

// portForwardTunnel serves SPDY port-forward streams inside a WebSocket.
func (s *Server) portForwardTunnel(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) {
	upgrader := gwebsocket.Upgrader{
		Subprotocols: []string{portForwardTunnelProtocol},
		// Who may connect is settled by the client certificate; there is no browser origin to check.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	pf := newSPDYPortForward(s, r.Context(), pod)
	conn, err := spdy.NewServerConnection(portforward.NewTunnelingConnection("portforward", ws), pf.newStream)
	if err != nil {
		s.log.Error(err, "Port-forward tunnel", "pod", pod.Namespace+"/"+pod.Name)
		_ = ws.Close()
		return
	}
	pf.run(conn)
}

// spdyPortForward serves the streams of one SPDY port-forward connection: the client opens an error
// and a data stream, with the same requestID, for each connection it forwards.
type spdyPortForward struct {
	s       *Server
	ctx     context.Context
	pod     *corev1.Pod
	streams chan httpstream.Stream
	done    chan struct{}
}

func newSPDYPortForward(s *Server, ctx context.Context, pod *corev1.Pod) *spdyPortForward {
	return &spdyPortForward{s: s, ctx: ctx, pod: pod, streams: make(chan httpstream.Stream), done: make(chan struct{})}
}

// newStream takes a stream the client opened; a stream without a valid port or type is refused.
func (pf *spdyPortForward) newStream(st httpstream.Stream, _ <-chan struct{}) error {
	h := st.Headers()
	if _, err := parsePort(h.Get(portHeader)); err != nil {
		return err
	}
	if t := h.Get(streamTypeHeader); t != streamData && t != streamError {
		return fmt.Errorf("invalid stream type %q", t)
	}
	if h.Get(requestIDHeader) == "" {
		return fmt.Errorf("%q header is required", requestIDHeader)
	}
	select {
	case pf.streams <- st:
		return nil
	case <-pf.done:
		return errors.New("connection closing")
	}
}

// pair is the two streams of one forwarded connection.
type pair struct {
	data, err httpstream.Stream
	timer     *time.Timer
}

// run pairs the streams and forwards each pair until the connection closes.
func (pf *spdyPortForward) run(conn httpstream.Connection) {
	conn.SetIdleTimeout(pf.s.cfg.StreamIdleTimeout)
	ctx, cancel := context.WithCancel(pf.ctx)
	var wg sync.WaitGroup
	defer func() {
		// Closing the connection resets its streams, which ends the forwards still copying.
		cancel()
		close(pf.done)
		conn.Close()
		wg.Wait()
	}()
	pairs := map[string]*pair{}
	expired := make(chan string)
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-ctx.Done():
			return
		case id := <-expired:
			if p, ok := pairs[id]; ok {
				delete(pairs, id)
				msg := fmt.Sprintf("timed out waiting for the streams of request %s", id)
				for _, st := range []httpstream.Stream{p.err, p.data} {
					if st != nil {
						if st == p.err {
							_, _ = io.WriteString(st, msg)
						}
						_ = st.Reset()
					}
				}
			}
		case st := <-pf.streams:
			id := st.Headers().Get(requestIDHeader)
			p, ok := pairs[id]
			if !ok {
				p = &pair{}
				pairs[id] = p
				p.timer = time.AfterFunc(pf.s.cfg.StreamCreationTimeout, func() {
					select {
					case expired <- id:
					case <-ctx.Done():
					}
				})
			}
			if st.Headers().Get(streamTypeHeader) == streamError {
				if p.err != nil {
					_ = st.Reset()
					continue
				}
				p.err = st
			} else {
				if p.data != nil {
					_ = st.Reset()
					continue
				}
				p.data = st
			}
			if p.err == nil || p.data == nil {
				continue
			}
			p.timer.Stop()
			delete(pairs, id)
			port, _ := parsePort(p.data.Headers().Get(portHeader)) // checked in newStream
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.RemoveStreams(p.data, p.err)
				pf.s.forward(ctx, pf.pod, port, p.data, p.err)
				_ = p.err.Close()
			}()
		}
	}
}

// forward forwards one connection and reports a failure on its error stream.
func (s *Server) forward(ctx context.Context, pod *corev1.Pod, port int32, data io.ReadWriteCloser, errStream io.Writer) {
	defer data.Close()
	if err := s.cfg.Containers.PortForward(ctx, pod, port, data); err != nil {
		msg := fmt.Sprintf("error forwarding port %d to pod %s, uid %v: %v", port, pod.Name, pod.UID, err)
		_, _ = io.WriteString(errStream, msg)
		if st, ok := data.(httpstream.Stream); ok {
			_ = st.Reset()
		}
	}
}

// portForwardWebSocket serves the ports named in the query, a data and an error channel each; each
// channel begins with its port as two little-endian bytes.
func (s *Server) portForwardWebSocket(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) {
	var ports []int32
	for _, v := range r.URL.Query()[portHeader] {
		for _, p := range strings.Split(v, ",") {
			port, err := parsePort(p)
			if err != nil {
				writeStatus(w, http.StatusBadRequest, err.Error())
				return
			}
			ports = append(ports, port)
		}
	}
	if len(ports) == 0 {
		writeStatus(w, http.StatusBadRequest, `query parameter "port" is required`)
		return
	}
	channels := make([]wsstream.ChannelType, 0, 2*len(ports))
	for range ports {
		channels = append(channels, wsstream.ReadWriteChannel, wsstream.WriteChannel)
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"":               {Binary: true, Channels: channels},
		protocolV4:       {Binary: true, Channels: channels},
		protocolV4Base64: {Binary: false, Channels: channels},
	})
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		s.log.Error(err, "Port-forward WebSocket upgrade", "pod", pod.Namespace+"/"+pod.Name)
		return
	}
	defer conn.Close()
	var wg sync.WaitGroup
	for i, port := range ports {
		data, errStream := streams[2*i], streams[2*i+1]
		var prefix [2]byte
		binary.LittleEndian.PutUint16(prefix[:], uint16(port))
		if _, err := data.Write(prefix[:]); err != nil {
			return
		}
		if _, err := errStream.Write(prefix[:]); err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.forward(r.Context(), pod, port, data, errStream)
		}()
	}
	wg.Wait()
}

func parsePort(s string) (int32, error) {
	port, err := strconv.ParseUint(s, 10, 16)
	if err != nil || port == 0 {
		return 0, fmt.Errorf("port %q: want a number from 1 to 65535", s)
	}
	return int32(port), nil
}
