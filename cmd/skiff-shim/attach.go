package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// attachBuffer is how many chunks of output (each at most one read of the container's pipe, 16 KiB)
// wait for one attached client; beyond that the client's output is dropped, never the container
// stalled.
const attachBuffer = 256

// fanout copies a container's output to the clients attached to it. Its zero value has no client.
// Writes never block: the log copy that feeds it must keep pace with the container.
type fanout struct {
	mu   sync.Mutex
	subs map[*attachSub]struct{}
}

// outputChunk is one piece of a container's output and the stream it came on.
type outputChunk struct {
	frame shim.FrameType
	data  []byte
}

// attachSub is one attached client's queue.
type attachSub struct {
	ch      chan outputChunk
	dropped atomic.Int64 // bytes that did not fit in ch
}

func (f *fanout) subscribe() *attachSub {
	sub := &attachSub{ch: make(chan outputChunk, attachBuffer)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*attachSub]struct{}{}
	}
	f.subs[sub] = struct{}{}
	return sub
}

func (f *fanout) unsubscribe(sub *attachSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, sub)
}

// stream returns the writer of one of the container's streams.
func (f *fanout) stream(frame shim.FrameType) io.Writer {
	return fanoutWriter{f, frame}
}

type fanoutWriter struct {
	f     *fanout
	frame shim.FrameType
}

func (w fanoutWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	if len(w.f.subs) == 0 {
		return len(p), nil
	}
	chunk := outputChunk{w.frame, slices.Clone(p)}
	for sub := range w.f.subs {
		select {
		case sub.ch <- chunk:
		default:
			sub.dropped.Add(int64(len(p)))
		}
	}
	return len(p), nil
}

// attachStdio is what attach reaches of a container that this shim started: its output, our end of
// its stdin when it was created with Stdin (the pipe, or the terminal), and its terminal's master.
// A container adopted from an earlier shim has none: its stdio went with that shim.
type attachStdio struct {
	output  fanout
	stdin   *os.File
	console *os.File

	stdinMu     sync.Mutex // serializes input between attached clients
	stdinClosed bool
}

// tee returns r, whose reads also go to the attached clients as frames of the named stream.
func (a *attachStdio) tee(stream string, r io.Reader) io.Reader {
	frame := shim.FrameStdout
	if stream == "stderr" {
		frame = shim.FrameStderr
	}
	return io.TeeReader(r, a.output.stream(frame))
}

func (a *attachStdio) writeStdin(p []byte) error {
	a.stdinMu.Lock()
	defer a.stdinMu.Unlock()
	if a.stdinClosed {
		return os.ErrClosed
	}
	_, err := a.stdin.Write(p)
	return err
}

// closeStdin ends the container's input, as the CRI's stdinOnce does when its client detaches.
func (a *attachStdio) closeStdin() {
	a.stdinMu.Lock()
	defer a.stdinMu.Unlock()
	if !a.stdinClosed {
		a.stdinClosed = true
		closeInput(a.stdin, a.console)
	}
}

func (s *server) handleAttach(w http.ResponseWriter, r *http.Request) {
	var req shim.AttachRequest
	if err := decodeStreamRequest(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("id")
	c, _, err := s.running(id)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	stdio := c.stdio
	s.mu.Unlock()
	switch {
	case stdio == nil:
		writeError(w, fmt.Errorf("%w: container %s was started by an earlier shim; its stdio is not connected to this one", shim.ErrInvalid, id))
		return
	case req.Stdin && stdio.stdin == nil:
		writeError(w, fmt.Errorf("%w: container %s was not created with stdin; attach cannot write to it", shim.ErrInvalid, id))
		return
	}
	sub := stdio.output.subscribe()
	defer stdio.output.unsubscribe(sub)
	conn, br, err := upgrade(w)
	if err != nil {
		s.logger.Printf("attach to %s: %v", id, err)
		return
	}
	s.runAttachSession(c, stdio, conn, br, sub, req.Stdin)
}

// runAttachSession streams c's output to conn and the client's input to c until c exits or the
// client goes away.
func (s *server) runAttachSession(c *container, stdio *attachStdio, conn net.Conn, br *bufio.Reader, sub *attachSub, withStdin bool) {
	defer conn.Close()
	fw := shim.NewFrameWriter(conn)
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		_ = readAttachFrames(br, stdio, withStdin)
	}()
	for {
		select {
		case chunk := <-sub.ch:
			if fw.Write(chunk.frame, chunk.data) != nil {
				return
			}
		case <-c.exited:
			// finish closes exited only after the output copies ended, so what is queued is all.
			for drained := false; !drained; {
				select {
				case chunk := <-sub.ch:
					if fw.Write(chunk.frame, chunk.data) != nil {
						return
					}
				default:
					drained = true
				}
			}
			s.mu.Lock()
			code := c.rec.ExitCode
			s.mu.Unlock()
			_ = fw.WriteJSON(shim.FrameExit, shim.ExitStatus{ExitCode: code})
			return
		case <-gone:
			return
		}
	}
}

// readAttachFrames applies an attached client's frames to the container until the client's side
// ends.
func readAttachFrames(br *bufio.Reader, stdio *attachStdio, withStdin bool) error {
	buf := make([]byte, 32<<10)
	for {
		t, payload, err := shim.ReadFrame(br, buf)
		if err != nil {
			return err
		}
		switch t {
		case shim.FrameStdin:
			if withStdin && stdio.writeStdin(payload) != nil {
				withStdin = false
			}
		case shim.FrameCloseStdin:
			if withStdin {
				stdio.closeStdin()
				withStdin = false
			}
		case shim.FrameResize:
			var size shim.TerminalSize
			if err := json.Unmarshal(payload, &size); err != nil {
				return fmt.Errorf("resize frame: %w", err)
			}
			if stdio.console != nil {
				_ = setWinsize(stdio.console, size)
			}
		default:
			return fmt.Errorf("unexpected frame type %d from the client", t)
		}
	}
}
