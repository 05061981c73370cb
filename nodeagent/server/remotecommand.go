package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Remote command protocols. v5 adds to v4 that a client can close its stdin (over WebSocket a CLOSE
// frame; over SPDY closing a stream half-closes it anyway); both write a Status on the error stream.
const (
	protocolV5       = "v5.channel.k8s.io"
	protocolV4       = "v4.channel.k8s.io"
	protocolV4Base64 = "v4.base64.channel.k8s.io"
)

// The SPDY stream types, named in each stream's streamType header, and the WebSocket channels.
const (
	streamTypeHeader = "streamType"
	streamStdin      = "stdin"
	streamStdout     = "stdout"
	streamStderr     = "stderr"
	streamError      = "error"
	streamResize     = "resize"

	channelStdin  = 0
	channelStdout = 1
	channelStderr = 2
	channelError  = 3
	channelResize = 4
)

// Status of a command that ended with a non-zero exit code: client-go turns the cause into the
// command's exit code.
const (
	nonZeroExitCodeReason = "NonZeroExitCode"
	exitCodeCauseType     = "ExitCode"
)

// streamOptions are the streams an exec or attach asks for.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

// parseStreamOptions reads the streams asked for, in the kubelet's parameters (input, output, error
// = 1) or those of the pod exec options (stdin, stdout, stderr = true), whichever the caller passes.
func parseStreamOptions(q url.Values) (streamOptions, error) {
	flag := func(names ...string) (bool, error) {
		for _, name := range names {
			if v := q.Get(name); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return false, fmt.Errorf("%s=%q: want true or false", name, v)
				}
				return b, nil
			}
		}
		return false, nil
	}
	var o streamOptions
	var err error
	if o.stdin, err = flag("input", "stdin"); err != nil {
		return o, err
	}
	if o.stdout, err = flag("output", "stdout"); err != nil {
		return o, err
	}
	if o.stderr, err = flag("error", "stderr"); err != nil {
		return o, err
	}
	if o.tty, err = flag("tty"); err != nil {
		return o, err
	}
	if o.tty {
		o.stderr = false // a terminal has one output
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, errors.New("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// session is the open streams of an exec or attach.
type session struct {
	ctx            context.Context // ends when the client's connection does
	stdin          io.Reader
	stdout, stderr io.WriteCloser
	resize         chan TerminalSize
	errorStream    io.Writer
	close          func()
}

// finish writes how the command ended on the error stream and closes the connection.
func (ss *session) finish(status *metav1.Status) error {
	defer ss.close()
	body, err := json.Marshal(status)
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	if _, err := ss.errorStream.Write(body); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		writeStatus(w, http.StatusBadRequest, "you must specify at least one command for the container")
		return
	}
	s.serveRemoteCommand(w, r, func(ss *session, pod podRef) *metav1.Status {
		code, err := s.cfg.Containers.Exec(ss.ctx, pod.pod, pod.container, cmd, ss.stdin, ss.stdout, ss.stderr, ss.resize != nil, ss.resize)
		switch {
		case err != nil:
			return failure(http.StatusInternalServerError, fmt.Sprintf("Internal error occurred: error executing command in container: %v", err))
		case code != 0:
			st := failure(http.StatusInternalServerError, fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code))
			st.Reason, st.Code = nonZeroExitCodeReason, 0
			st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: exitCodeCauseType, Message: strconv.Itoa(code)}}}
			return st
		}
		return &metav1.Status{Status: metav1.StatusSuccess}
	})
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	s.serveRemoteCommand(w, r, func(ss *session, pod podRef) *metav1.Status {
		if err := s.cfg.Containers.Attach(ss.ctx, pod.pod, pod.container, ss.stdin, ss.stdout, ss.stderr, ss.resize != nil, ss.resize); err != nil {
			return failure(http.StatusInternalServerError, fmt.Sprintf("Internal error occurred: error attaching to container: %v", err))
		}
		return &metav1.Status{Status: metav1.StatusSuccess}
	})
}

// serveRemoteCommand checks an exec or attach request, opens its streams over whichever transport
// the client speaks, runs it and writes its Status.
func (s *Server) serveRemoteCommand(w http.ResponseWriter, r *http.Request, run func(*session, podRef) *metav1.Status) {
	opts, err := parseStreamOptions(r.URL.Query())
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	pod, container, lerr := s.podContainer(r)
	if lerr != nil {
		writeStatus(w, lerr.code, lerr.msg)
		return
	}
	var ss *session
	if wsstream.IsWebSocketRequest(r) {
		ss, err = s.openWebSocketSession(w, r, opts)
	} else {
		ss, err = s.openSPDYSession(w, r, opts)
	}
	if err != nil {
		s.log.Error(err, "Opening streams", "pod", pod.Namespace+"/"+pod.Name, "container", container)
		return
	}
	status := run(ss, podRef{pod, container})
	status.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	if err := ss.finish(status); err != nil {
		s.log.V(1).Info("Client gone before the status", "pod", pod.Namespace+"/"+pod.Name, "container", container, "err", err)
	}
}

// openSPDYSession upgrades the request to SPDY and waits for the client's streams.
func (s *Server) openSPDYSession(w http.ResponseWriter, r *http.Request, opts streamOptions) (*session, error) {
	if _, err := httpstream.Handshake(r, w, []string{protocolV5, protocolV4}); err != nil {
		return nil, err // Handshake answered
	}
	type newStream struct {
		stream    httpstream.Stream
		replySent <-chan struct{}
	}
	streams := make(chan newStream)
	done := make(chan struct{})
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case streams <- newStream{st, replySent}:
			return nil
		case <-done:
			return errors.New("no more streams expected")
		}
	})
	if conn == nil {
		return nil, errors.New("SPDY upgrade failed") // the upgrader answered
	}
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	ctx, cancel := context.WithCancel(r.Context())
	noMoreStreams := sync.OnceFunc(func() { close(done) })
	ss := &session{ctx: ctx, close: func() { cancel(); noMoreStreams(); conn.Close() }}
	go func() {
		select {
		case <-conn.CloseChan():
			cancel()
		case <-ctx.Done():
		}
	}()

	want := 1 // error
	for _, b := range []bool{opts.stdin, opts.stdout, opts.stderr, opts.tty} {
		if b {
			want++
		}
	}
	var resize io.Reader
	replies := make(chan struct{}, want)
	timeout := time.NewTimer(s.cfg.StreamCreationTimeout)
	defer timeout.Stop()
	for got := 0; got < want; {
		select {
		case ns := <-streams:
			switch t := ns.stream.Headers().Get(streamTypeHeader); t {
			case streamError:
				ss.errorStream = ns.stream
			case streamStdin:
				ss.stdin = ns.stream
			case streamStdout:
				ss.stdout = ns.stream
			case streamStderr:
				ss.stderr = ns.stream
			case streamResize:
				resize = ns.stream
			default:
				ss.close()
				return nil, fmt.Errorf("unexpected stream type %q", t)
			}
			go func() {
				select {
				case <-ns.replySent:
					replies <- struct{}{}
				case <-ctx.Done():
				}
			}()
		case <-replies:
			got++
		case <-timeout.C:
			ss.close()
			return nil, errors.New("timed out waiting for the client to create streams")
		case <-ctx.Done():
			ss.close()
			return nil, errors.New("connection closed while waiting for streams")
		}
	}
	noMoreStreams()
	if ss.errorStream == nil {
		ss.close()
		return nil, errors.New("client created no error stream")
	}
	if opts.tty && resize != nil {
		ss.resize = make(chan TerminalSize, 1)
		go decodeResizes(ctx, resize, ss.resize)
	}
	return ss, nil
}

// openWebSocketSession upgrades the request to a WebSocket with one channel per stream.
func (s *Server) openWebSocketSession(w http.ResponseWriter, r *http.Request, opts streamOptions) (*session, error) {
	channel := func(want bool, t wsstream.ChannelType) wsstream.ChannelType {
		if want {
			return t
		}
		return wsstream.IgnoreChannel
	}
	channels := []wsstream.ChannelType{
		channelStdin:  channel(opts.stdin, wsstream.ReadChannel),
		channelStdout: channel(opts.stdout, wsstream.WriteChannel),
		channelStderr: channel(opts.stderr, wsstream.WriteChannel),
		channelError:  wsstream.WriteChannel,
		channelResize: wsstream.ReadChannel,
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		protocolV5:       {Binary: true, Channels: channels},
		protocolV4:       {Binary: true, Channels: channels},
		protocolV4Base64: {Binary: false, Channels: channels},
	})
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return nil, fmt.Errorf("WebSocket upgrade: %w", err)
	}
	ctx, cancel := context.WithCancel(r.Context())
	ss := &session{ctx: ctx, errorStream: streams[channelError], close: func() { cancel(); conn.Close() }}
	if opts.stdin {
		ss.stdin = streams[channelStdin]
	}
	if opts.stdout {
		ss.stdout = streams[channelStdout]
	}
	if opts.stderr {
		ss.stderr = streams[channelStderr]
	}
	// The resize channel's reader ends when the connection does (no client closes it on its own):
	// that is how a WebSocket session learns that its client is gone.
	var sizes chan TerminalSize
	if opts.tty {
		sizes = make(chan TerminalSize, 1)
		ss.resize = sizes
	}
	go func() {
		decodeResizes(ctx, streams[channelResize], sizes)
		cancel()
	}()
	return ss, nil
}

// decodeResizes reads terminal sizes from r, JSON objects one after another, and keeps the latest
// in sizes (nil: read and drop them) until r ends.
func decodeResizes(ctx context.Context, r io.Reader, sizes chan TerminalSize) {
	dec := json.NewDecoder(r)
	for ctx.Err() == nil {
		var size TerminalSize
		if err := dec.Decode(&size); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				// Not JSON: drain the stream so that the end of the connection is still seen.
				_, _ = io.Copy(io.Discard, r)
			}
			return
		}
		if sizes == nil {
			continue
		}
		select { // a newer size replaces one not taken yet
		case <-sizes:
		default:
		}
		sizes <- size
	}
}

// podRef is the pod and container a request is for.
type podRef struct {
	pod       *corev1.Pod
	container string
}
