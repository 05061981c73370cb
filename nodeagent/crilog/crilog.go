// Package crilog reads container log files in the CRI format, the files the shim writes for every
// container instance and the kubelet serves for `kubectl logs`:
//
//	2024-05-01T10:00:00.123456789Z stdout F a whole line
//	2024-05-01T10:00:00.223456789Z stderr P the first part of a long line
//	2024-05-01T10:00:00.223456790Z stderr F and its end
//
// Read turns such a file back into the container's output: partial entries (P) are joined with the
// entry that ends their line (F), and the options of a pod log request (tail, since, timestamps, byte
// limit, one stream only, follow) apply to those joined lines. Following survives size-based rotation:
// when the file is renamed away and a new one appears at the same path, reading goes on in the new one.
package crilog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Stream names as they appear in the file and in Options.Stream.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// DefaultPollInterval is how often a follower looks for new output, rotation and Stop. There is no
// inotify watcher: a short poll costs one stat per interval and works on every filesystem.
const DefaultPollInterval = 100 * time.Millisecond

// maxPending bounds how much of one unfinished line is held back waiting for its end; beyond it the
// part seen so far is written out, as a line would be that had no end.
const maxPending = 1 << 20

// Options select what of a log file Read writes, with the meaning of the pod log options.
type Options struct {
	// Follow keeps reading new output until ctx ends or Stop reports true.
	Follow bool
	// TailLines, when set, starts with the last TailLines lines instead of the beginning.
	TailLines *int64
	// SinceTime, when set, leaves out lines written before it.
	SinceTime *time.Time
	// Timestamps prefixes every line with the time it was written, in RFC 3339 with nanoseconds.
	Timestamps bool
	// LimitBytes, when set, stops after that many bytes have been written.
	LimitBytes *int64
	// Stream is "" for both streams, Stdout or Stderr for one.
	Stream string

	// Stop, when set, is asked while following, each time all output so far has been read; once it
	// reports true (the container has exited), what remains is read and Read returns.
	Stop func() bool
	// PollInterval is how often a follower polls; DefaultPollInterval when zero.
	PollInterval time.Duration
}

func (o *Options) validate() error {
	switch o.Stream {
	case "", Stdout, Stderr:
	default:
		return fmt.Errorf("stream %q: want %q, %q or both", o.Stream, Stdout, Stderr)
	}
	if o.TailLines != nil && *o.TailLines < 0 {
		return fmt.Errorf("tail lines %d: must not be negative", *o.TailLines)
	}
	if o.LimitBytes != nil && *o.LimitBytes <= 0 {
		return fmt.Errorf("limit bytes %d: must be positive", *o.LimitBytes)
	}
	if o.PollInterval < 0 {
		return fmt.Errorf("poll interval %s: must not be negative", o.PollInterval)
	}
	return nil
}

// entry is one line of a log file.
type entry struct {
	time    time.Time
	stream  int // index into streamNames
	partial bool
	text    []byte // without the newline
}

var streamNames = [2]string{Stdout, Stderr}

// parseEntry parses one line of a log file, without its newline.
func parseEntry(line []byte) (entry, error) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return entry{}, errors.New("no stream after the time")
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return entry{}, fmt.Errorf("time: %w", err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return entry{}, errors.New("no tag after the stream")
	}
	e := entry{time: t}
	switch string(stream) {
	case Stdout:
		e.stream = 0
	case Stderr:
		e.stream = 1
	default:
		return entry{}, fmt.Errorf("unknown stream %q", stream)
	}
	// The text may be empty ("... stdout F" from an empty line written without the separator).
	tag, text, _ := bytes.Cut(rest, []byte{' '})
	switch string(tag) {
	case "F":
	case "P":
		e.partial = true
	default:
		return entry{}, fmt.Errorf("unknown tag %q", tag)
	}
	e.text = text
	return e, nil
}

// errLimit ends reading once LimitBytes have been written.
var errLimit = errors.New("byte limit reached")

// Read writes the log file at path, as lines of the container's output, to stdout and stderr by the
// stream each line was written to; see Options for what is written. Lines that are not CRI log
// entries (a torn write after a crash) are skipped. A follower returns ctx.Err() when ctx ends and nil
// when Stop reports true.
func Read(ctx context.Context, path string, opts Options, stdout, stderr io.Writer) error {
	if err := opts.validate(); err != nil {
		return err
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open container log: %w", err)
	}
	defer func() { f.Close() }()

	r := &reader{opts: opts, out: [2]io.Writer{stdout, stderr}}
	if opts.Stream == Stdout {
		r.skip[1] = true
	} else if opts.Stream == Stderr {
		r.skip[0] = true
	}
	var start int64
	if opts.TailLines != nil {
		start, r.minEnd, err = tailStart(f, *opts.TailLines, r.skip)
		if err != nil {
			return fmt.Errorf("container log %s: %w", path, err)
		}
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("container log %s: %w", path, err)
	}
	err = r.run(ctx, path, f, start)
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// line is the part of a line of one stream read so far.
type line struct {
	started bool
	time    time.Time // of its first entry
	text    []byte
	flushed bool // a first part was written already (the line outgrew maxPending)
	dropped bool // it is left out (before SinceTime or before the tail)
}

type reader struct {
	opts    Options
	out     [2]io.Writer
	skip    [2]bool
	pending [2]line
	// minEnd: lines that end in an entry at an offset below it are left out (they precede the tail).
	minEnd  int64
	written int64
}

// run reads f from offset to its end, and, when following, goes on with new output and with the
// files that replace f at path.
func (r *reader) run(ctx context.Context, path string, f *os.File, offset int64) error {
	br := bufio.NewReaderSize(f, 64<<10)
	var carry []byte // the start of an entry whose newline is not written yet
	stopping, switching := false, false
	var timer *time.Timer
	for {
		chunk, err := br.ReadSlice('\n')
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			carry = append(carry, chunk...)
			if err != nil {
				continue // an entry longer than the buffer: keep collecting it
			}
			entryOffset := offset
			offset += int64(len(carry))
			if err := r.handle(entryOffset, carry[:len(carry)-1]); err != nil {
				return err
			}
			carry = carry[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("read container log: %w", err)
		}
		carry = append(carry, chunk...)

		// All that is written has been read.
		if !r.opts.Follow || stopping {
			return r.flushPending()
		}
		if switching {
			// The old file is drained; a torn entry at its end will never be finished.
			nf, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("open rotated container log: %w", err)
			}
			f.Close()
			f, offset, carry, switching = nf, 0, carry[:0], false
			br.Reset(f)
			continue
		}
		if r.opts.Stop != nil && r.opts.Stop() {
			stopping = true // read once more: output may have come between the last read and Stop
			continue
		}
		if rotated, err := replaced(path, f); err != nil {
			return err
		} else if rotated {
			switching = true // drain what the old file got before the rename, then switch
			continue
		}
		if st, err := f.Stat(); err != nil {
			return fmt.Errorf("stat container log: %w", err)
		} else if st.Size() < offset {
			// Truncated in place: start again at its beginning.
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("container log: %w", err)
			}
			offset, carry = 0, carry[:0]
			br.Reset(f)
			continue
		}
		if timer == nil {
			timer = time.NewTimer(r.opts.PollInterval)
			defer timer.Stop()
		} else {
			timer.Reset(r.opts.PollInterval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// replaced reports whether the file at path is another one than f now: f was rotated away. While no
// file is at path (between the rename and the new file), f is still the one to read.
func replaced(path string, f *os.File) (bool, error) {
	cur, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat container log: %w", err)
	}
	open, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat container log: %w", err)
	}
	return !os.SameFile(cur, open), nil
}

// handle takes the entry at offset.
func (r *reader) handle(offset int64, raw []byte) error {
	e, err := parseEntry(raw)
	if err != nil || r.skip[e.stream] {
		return nil
	}
	l := &r.pending[e.stream]
	if !l.started {
		*l = line{started: true, time: e.time, text: l.text[:0]}
		l.dropped = r.opts.SinceTime != nil && e.time.Before(*r.opts.SinceTime)
	}
	l.text = append(l.text, e.text...)
	if e.partial {
		if len(l.text) >= maxPending {
			return r.write(e.stream, false)
		}
		return nil
	}
	if offset < r.minEnd {
		l.dropped = true
	}
	return r.write(e.stream, true)
}

// write writes the pending line of stream s: all of it when complete, else the part so far.
func (r *reader) write(s int, complete bool) error {
	l := &r.pending[s]
	defer func() {
		l.text = l.text[:0]
		if complete {
			l.started, l.flushed = false, false
		} else {
			l.flushed = true
		}
	}()
	if l.dropped {
		return nil
	}
	var buf []byte
	if r.opts.Timestamps && !l.flushed {
		buf = l.time.AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, ' ')
	}
	buf = append(buf, l.text...)
	if complete {
		buf = append(buf, '\n')
	}
	limited := false
	if r.opts.LimitBytes != nil {
		if left := *r.opts.LimitBytes - r.written; int64(len(buf)) >= left {
			buf, limited = buf[:left], true
		}
	}
	n, err := r.out[s].Write(buf)
	r.written += int64(n)
	if err != nil {
		return fmt.Errorf("write %s: %w", streamNames[s], err)
	}
	if limited {
		return errLimit
	}
	return nil
}

// flushPending writes the lines that have no end (yet): the output a container wrote without a final
// newline.
func (r *reader) flushPending() error {
	for s := range r.pending {
		if r.pending[s].started && len(r.pending[s].text) > 0 {
			if err := r.write(s, false); err != nil {
				if errors.Is(err, errLimit) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}
