package crilog

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// tailChunk is how much of the file is read at a time, from its end backwards.
const tailChunk = 32 << 10

// tailStart finds where the last n lines of the streams not skipped begin, reading f backwards from
// its end so that a long log costs only its tail. It returns the offset to read from and the offset
// of the entry that ends the first of those lines: a line of another stream that started after start
// but ended before minEnd is not one of the n.
//
// A line is its partial entries and the full entry that ends it; the streams interleave, so a line of
// stdout may have begun before the last lines of stderr. A run of partial entries at the end of the
// file is a line too (one that has not ended yet).
func tailStart(f *os.File, n int64, skip [2]bool) (start, minEnd int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("stat: %w", err)
	}
	end, err := lastNewline(f, st.Size())
	if err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return end, end, nil
	}
	var (
		count int64
		open  [2]bool // a counted line of this stream has not been seen to its beginning yet
		seen  [2]bool // an entry of this stream has been seen
	)
	start, minEnd = end, end
	err = scanBackward(f, end, func(off int64, raw []byte) bool {
		e, err := parseEntry(raw)
		if err != nil || skip[e.stream] {
			return true
		}
		s := e.stream
		switch {
		case !e.partial:
			open[s] = false // this entry ends the line before the open one
			seen[s] = true
			if count < n {
				count++
				open[s] = true
				start, minEnd = off, off
			}
		case open[s]:
			start = min(start, off)
		case !seen[s]:
			seen[s] = true // partial entries at the end: an unfinished line
			if count < n {
				count++
				open[s] = true
				start, minEnd = min(start, off), off
			}
		}
		return count < n || open[0] || open[1]
	})
	if err != nil {
		return 0, 0, err
	}
	if count < n {
		return 0, 0, nil // fewer lines than asked for: all of them
	}
	return start, minEnd, nil
}

// lastNewline returns the offset just after the last newline in the first size bytes of f: what
// follows it is an entry still being written.
func lastNewline(f *os.File, size int64) (int64, error) {
	buf := make([]byte, tailChunk)
	for pos := size; pos > 0; {
		k := min(int64(len(buf)), pos)
		pos -= k
		if _, err := f.ReadAt(buf[:k], pos); err != nil && err != io.EOF {
			return 0, fmt.Errorf("read: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:k], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
	}
	return 0, nil
}

// scanBackward calls fn with every line (without its newline) of the first end bytes of f, the last
// first, with the offset it starts at, until fn returns false. end is just after a newline.
func scanBackward(f *os.File, end int64, fn func(off int64, line []byte) bool) error {
	var data []byte // the bytes from pos to the start of the last line given to fn
	pos := end
	for {
		// data ends with a newline; find the one before it.
		if len(data) > 0 {
			if i := bytes.LastIndexByte(data[:len(data)-1], '\n'); i >= 0 {
				if !fn(pos+int64(i)+1, data[i+1:len(data)-1]) {
					return nil
				}
				data = data[:i+1]
				continue
			}
			if pos == 0 {
				fn(0, data[:len(data)-1])
				return nil
			}
		} else if pos == 0 {
			return nil
		}
		k := min(int64(tailChunk), pos)
		pos -= k
		buf := make([]byte, int(k)+len(data))
		if _, err := f.ReadAt(buf[:k], pos); err != nil && err != io.EOF {
			return fmt.Errorf("read: %w", err)
		}
		copy(buf[k:], data)
		data = buf
	}
}
