package shim

// Exec and attach stream a process's stdio over the shim's socket. Both start as an ordinary HTTP
// request that the shim answers with an error (JSON, as every other call) or with
// `101 Switching Protocols` (Upgrade: skiff-shim-stream), after which the connection carries frames
// both ways:
//
//	[1 byte FrameType][4 bytes big-endian payload length][payload]
//
// The agent sends FrameStdin, FrameCloseStdin and FrameResize (a JSON TerminalSize); the shim sends
// FrameStdout, FrameStderr (a terminal's output is all FrameStdout) and, last, FrameExit (a JSON
// ExitStatus), then closes the connection. A connection that closes before FrameExit means the agent
// went away: the shim kills an exec'd process then, and just detaches an attach.
//
//	POST /v1/containers/{id}/exec    body ExecRequest: runs a new process in the running container
//	POST /v1/containers/{id}/attach  body AttachRequest: joins the container's own stdio from now on

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// StreamProtocol is the Upgrade token of exec and attach connections.
const StreamProtocol = "skiff-shim-stream"

// KindNotRunning is the kind of ErrNotRunning.
const KindNotRunning ErrorKind = "NotRunning"

// ErrNotRunning: exec or attach asked of a container whose init does not run (exited, or still
// starting).
var ErrNotRunning = &Error{Kind: KindNotRunning, Message: "container is not running"}

// ExecRequest asks the shim to run a process in a running container. Unset fields take the
// container's own process's values: its environment (Env is added on top, a name set here wins), its
// working directory and its user. Capabilities, no_new_privs, rlimits, namespaces and cgroup are
// always the container's.
type ExecRequest struct {
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`
	Cwd  string   `json:"cwd,omitempty"`
	// User is nil for the container's process user.
	User *specs.User `json:"user,omitempty"`
	// TTY gives the process a terminal; its output all comes back as stdout.
	TTY bool `json:"tty,omitempty"`
	// Stdin connects the process's stdin to the stream; without it the process reads /dev/null.
	Stdin bool `json:"stdin,omitempty"`
	// ConsoleSize is the terminal's size from the start; the client fills it in from a resize that
	// is already waiting when Exec is called.
	ConsoleSize *TerminalSize `json:"consoleSize,omitempty"`
}

// AttachRequest asks the shim to stream a running container's stdio.
type AttachRequest struct {
	// Stdin asks to write to the container's stdin; refused unless it was created with Stdin.
	Stdin bool `json:"stdin,omitempty"`
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// ExecIO connects an exec or attach stream to the caller. Nil writers discard what they would get;
// a nil Stdin sends nothing. When Stdin ends, the process's stdin is closed (for attach: the
// container's, as the CRI's stdinOnce; a caller that wants it kept open passes a Stdin that does not
// end and cancels the context to detach). Resize may be nil.
type ExecIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Resize         <-chan TerminalSize
}

// ExitStatus is the payload of FrameExit: the exec'd process's or the attached container's exit.
type ExitStatus struct {
	// ExitCode follows the shell: 128+n when signal n killed the process.
	ExitCode int `json:"exitCode"`
}

// FrameType says what a frame of an exec or attach stream carries.
type FrameType byte

// The frame types, with their numbers on the wire.
const (
	FrameStdin      FrameType = 0
	FrameStdout     FrameType = 1
	FrameStderr     FrameType = 2
	FrameResize     FrameType = 3
	FrameExit       FrameType = 4
	FrameCloseStdin FrameType = 5
)

// MaxFramePayload bounds a frame's payload, so that a corrupt length cannot make a reader allocate
// without end.
const MaxFramePayload = 1 << 20

// WriteFrame writes one frame to w in a single Write, so that writers sharing w under a lock never
// interleave.
func WriteFrame(w io.Writer, t FrameType, payload []byte) error {
	if len(payload) > MaxFramePayload {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload), MaxFramePayload)
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = byte(t)
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame from r. The payload is valid until the next call with the same buf,
// which it reuses when large enough. io.EOF means r ended cleanly between frames.
func ReadFrame(r io.Reader, buf []byte) (FrameType, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return 0, nil, err
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return 0, nil, fmt.Errorf("frame header: %w", noEOF(err))
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFramePayload {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds %d", n, MaxFramePayload)
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, fmt.Errorf("frame payload: %w", noEOF(err))
	}
	return FrameType(hdr[0]), buf, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// FrameWriter writes frames from several goroutines to one stream.
type FrameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewFrameWriter returns a FrameWriter on w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Write writes one frame.
func (f *FrameWriter) Write(t FrameType, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return WriteFrame(f.w, t, payload)
}

// WriteJSON writes one frame whose payload is v as JSON.
func (f *FrameWriter) WriteJSON(t FrameType, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return f.Write(t, b)
}

// Exec runs req.Args in the running container id and streams its stdio through io until it exits,
// returning its exit code (128+n when signal n killed it). Cancelling ctx kills the process and
// returns ctx's error. A container that does not run gives ErrNotRunning, an unknown one
// ErrNotFound. Exec does not wait for a copy of io.Stdin that is blocked in a Read.
func (c *Client) Exec(ctx context.Context, id string, req ExecRequest, stdio ExecIO) (int, error) {
	if len(req.Args) == 0 {
		return 0, fmt.Errorf("%w: exec needs args", ErrInvalid)
	}
	if req.TTY && req.ConsoleSize == nil && stdio.Resize != nil {
		select {
		case size, ok := <-stdio.Resize:
			if ok {
				req.ConsoleSize = &size
			}
		default:
		}
	}
	switch {
	case !req.Stdin:
		stdio.Stdin = nil
	case stdio.Stdin == nil:
		// Stdin asked for with nothing to send: the process reads an immediate end of file.
		stdio.Stdin = bytes.NewReader(nil)
	}
	status, err := c.stream(ctx, "/v1/containers/"+url.PathEscape(id)+"/exec", req, stdio)
	if err != nil {
		return 0, err
	}
	return status.ExitCode, nil
}

// Attach streams the running container id's output (from now on) to stdio until the container
// exits (nil) or ctx ends (ctx's error; the container runs on). With stdio.Stdin, input goes to the
// container's stdin, which it must have been created with; Resize resizes a TTY container's terminal.
func (c *Client) Attach(ctx context.Context, id string, stdio ExecIO) error {
	req := AttachRequest{Stdin: stdio.Stdin != nil}
	_, err := c.stream(ctx, "/v1/containers/"+url.PathEscape(id)+"/attach", req, stdio)
	return err
}

// stream opens an upgraded connection to path with body, pumps stdio through it and returns the
// final ExitStatus.
func (c *Client) stream(ctx context.Context, path string, body any, stdio ExecIO) (ExitStatus, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return ExitStatus{}, fmt.Errorf("encode %s: %w", path, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://shim"+path, bytes.NewReader(b))
	if err != nil {
		return ExitStatus{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Connection", "Upgrade")
	hreq.Header.Set("Upgrade", StreamProtocol)
	resp, err := c.http.Do(hreq)
	if err != nil {
		return ExitStatus{}, fmt.Errorf("shim %s: POST %s: %w", c.socket, path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return ExitStatus{}, decodeError(resp)
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return ExitStatus{}, fmt.Errorf("shim %s: POST %s: upgraded body is not writable", c.socket, path)
	}
	defer conn.Close()
	// The transport stops watching ctx once the protocol switched; closing the connection is how the
	// shim learns that we went away.
	stopWatch := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopWatch()

	fw := NewFrameWriter(conn)
	done := make(chan struct{})
	defer close(done)
	if stdio.Stdin != nil {
		go sendStdin(fw, stdio.Stdin)
	}
	if stdio.Resize != nil {
		go func() {
			for {
				select {
				case size, ok := <-stdio.Resize:
					if !ok {
						return
					}
					if fw.WriteJSON(FrameResize, size) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}

	br := bufio.NewReaderSize(conn, 64<<10)
	buf := make([]byte, 32<<10)
	for {
		t, payload, err := ReadFrame(br, buf)
		if err != nil {
			if ctx.Err() != nil {
				return ExitStatus{}, ctx.Err()
			}
			return ExitStatus{}, fmt.Errorf("shim %s: %s: stream ended without an exit status: %w", c.socket, path, err)
		}
		var w io.Writer
		switch t {
		case FrameStdout:
			w = stdio.Stdout
		case FrameStderr:
			w = stdio.Stderr
		case FrameExit:
			var st ExitStatus
			if err := json.Unmarshal(payload, &st); err != nil {
				return ExitStatus{}, fmt.Errorf("shim %s: %s: exit status: %w", c.socket, path, err)
			}
			return st, nil
		default:
			return ExitStatus{}, fmt.Errorf("shim %s: %s: unexpected frame type %d", c.socket, path, t)
		}
		if w != nil {
			if _, err := w.Write(payload); err != nil {
				return ExitStatus{}, fmt.Errorf("write output of %s: %w", path, err)
			}
		}
	}
}

// sendStdin copies r to the stream in frames, then says that stdin ended.
func sendStdin(fw *FrameWriter, r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if fw.Write(FrameStdin, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	_ = fw.Write(FrameCloseStdin, nil)
}
