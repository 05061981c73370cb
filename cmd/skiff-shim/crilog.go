package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// maxLogLine is the longest line written as one log entry; longer lines are split into partial
// entries, as the kubelet does.
const maxLogLine = 16 * 1024

// criTimeFormat is RFC 3339 with a fixed nine-digit fraction, so that log lines sort as text.
const criTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// criLog writes a container's output in the CRI log format, one entry per line:
// "<RFC 3339 UTC time> <stdout|stderr> <F|P> <text>". F closes a line; P is part of a line that was
// longer than maxLogLine or that the stream ended without a newline.
type criLog struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	logger *log.Logger
	failed bool
}

// copy writes the entries of stream read from r until r ends. Write errors are logged once and the
// output is still drained, so that a full disk never blocks the container on a full pipe.
func (l *criLog) copy(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			l.entry(stream, "F", line[:len(line)-1])
		case errors.Is(err, bufio.ErrBufferFull):
			l.entry(stream, "P", line)
		default:
			// io.EOF for a pipe, EIO for a terminal whose other side closed: either ends the stream.
			if len(line) > 0 {
				l.entry(stream, "P", line)
			}
			return
		}
	}
}

func (l *criLog) entry(stream, tag string, text []byte) {
	buf := make([]byte, 0, len(criTimeFormat)+len(stream)+len(text)+8)
	buf = l.now().UTC().AppendFormat(buf, criTimeFormat)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	buf = append(buf, ' ')
	buf = append(buf, tag...)
	buf = append(buf, ' ')
	buf = append(buf, text...)
	buf = append(buf, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(buf); err != nil && !l.failed {
		l.failed = true
		l.logger.Printf("write container log: %v (further output is dropped)", err)
	}
}

// Defaults of the log rotation, as the kubelet's containerLogMaxSize and containerLogMaxFiles.
const (
	defaultLogMaxSize  = 10 << 20
	defaultLogMaxFiles = 5
)

// rotatingLog is a container's log file that is rotated by size: a write that would take it past
// maxSize first renames path.(n-1) to path.n ... path to path.1, dropping what falls beyond
// maxFiles-1 rotated files, and opens a new file at path. criLog writes one entry per Write, so
// files always end between entries.
type rotatingLog struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// openRotatingLog opens path for append; zero limits take the defaults.
func openRotatingLog(path string, maxSize int64, maxFiles int) (*rotatingLog, error) {
	switch {
	case maxSize < 0:
		return nil, fmt.Errorf("%w: log max size %d is negative", shim.ErrInvalid, maxSize)
	case maxFiles < 0:
		return nil, fmt.Errorf("%w: log max files %d is negative", shim.ErrInvalid, maxFiles)
	case maxSize == 0:
		maxSize = defaultLogMaxSize
	}
	if maxFiles == 0 {
		maxFiles = defaultLogMaxFiles
	}
	l := &rotatingLog{path: path, maxSize: maxSize, maxFiles: maxFiles}
	if err := l.open(0); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *rotatingLog) open(flag int) error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|flag, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first when p would not fit. An entry larger than maxSize gets a file of
// its own rather than being split.
func (l *rotatingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(p)) > l.maxSize {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *rotatingLog) rotate() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	l.f = nil
	if l.maxFiles == 1 {
		// No rotated file is kept: start the live one over.
		return l.open(os.O_TRUNC)
	}
	// Oldest first, so that each rename's target is free or the file being dropped.
	for i := l.maxFiles - 1; i >= 1; i-- {
		from := l.path
		if i > 1 {
			from = l.path + "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(from, l.path+"."+strconv.Itoa(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			// Keep logging into the live file rather than losing output.
			if oerr := l.open(0); oerr != nil {
				return oerr
			}
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	return l.open(os.O_TRUNC)
}

// Close closes the live file.
func (l *rotatingLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
