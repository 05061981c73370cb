package main

import (
	"bufio"
	"errors"
	"io"
	"log"
	"sync"
	"time"
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
