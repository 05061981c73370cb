package crilog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// base is the time of the first entry of the test files; entry i is i seconds later.
var base = time.Date(2025, 3, 4, 5, 6, 7, 100, time.UTC)

func at(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }

// entries renders lines "stream tag text" as a CRI log with times at(0), at(1), ...
func entries(lines ...string) string {
	var b strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&b, "%s %s\n", at(i).Format("2006-01-02T15:04:05.000000000Z07:00"), l)
	}
	return b.String()
}

func writeLog(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func ptr[T any](v T) *T { return &v }

func TestReadSelectsAndJoinsLines(t *testing.T) {
	log := entries(
		"stdout F one",             // 0
		"stderr F err one",         // 1
		"stdout P two-a ",          // 2
		"stderr P err two-a",       // 3
		"stdout P two-b ",          // 4
		"stdout F two-c",           // 5
		"stderr F ",                // 6: ends "err two-a"
		"stdout F",                 // 7: an empty line without the separator
		"stdout F three",           // 8
		"garbage that is no entry", // 9: skipped
		"stderr F err three",       // 10
	)
	for _, tc := range []struct {
		name           string
		content        string
		opts           Options
		stdout, stderr string
		combined       string // when set, both streams go to one writer and this is what it gets
	}{
		{name: "whole file, streams apart, partial entries joined",
			content: log, stdout: "one\ntwo-a two-b two-c\n\nthree\n", stderr: "err one\nerr two-a\nerr three\n"},
		{name: "one writer gets each line whole, in the order lines end",
			content: log, combined: "one\nerr one\ntwo-a two-b two-c\nerr two-a\n\nthree\nerr three\n"},
		{name: "stream stdout only", content: log, opts: Options{Stream: Stdout},
			stdout: "one\ntwo-a two-b two-c\n\nthree\n"},
		{name: "stream stderr only", content: log, opts: Options{Stream: Stderr},
			stderr: "err one\nerr two-a\nerr three\n"},
		{name: "tail 2 of both streams", content: log, opts: Options{TailLines: ptr[int64](2)},
			stdout: "three\n", stderr: "err three\n"},
		{name: "tail 5 takes a joined line from its first partial entry", content: log,
			opts: Options{TailLines: ptr[int64](5)}, combined: "two-a two-b two-c\nerr two-a\n\nthree\nerr three\n"},
		{name: "tail of one stream skips the lines of the other that end within it", content: log,
			opts: Options{TailLines: ptr[int64](1), Stream: Stderr}, stderr: "err three\n"},
		{name: "tail 3 of stdout starts where its joined line began", content: log,
			opts: Options{TailLines: ptr[int64](3), Stream: Stdout}, stdout: "two-a two-b two-c\n\nthree\n"},
		{name: "tail 0 gives nothing", content: log, opts: Options{TailLines: ptr[int64](0)}},
		{name: "tail beyond the file gives all", content: log, opts: Options{TailLines: ptr[int64](100), Stream: Stdout},
			stdout: "one\ntwo-a two-b two-c\n\nthree\n"},
		{name: "since leaves out lines that began before it", content: log,
			opts: Options{SinceTime: ptr(at(4))}, stdout: "\nthree\n", stderr: "err three\n"},
		{name: "timestamps prefix each line with the time of its first entry", content: log,
			opts: Options{Timestamps: true, Stream: Stderr},
			stderr: at(1).Format(time.RFC3339Nano) + " err one\n" + at(3).Format(time.RFC3339Nano) + " err two-a\n" +
				at(10).Format(time.RFC3339Nano) + " err three\n"},
		{name: "limit bytes cuts within a line", content: log, opts: Options{LimitBytes: ptr[int64](10)},
			combined: "one\nerr on"},
		{name: "limit bytes counts the timestamps", content: log,
			opts:     Options{LimitBytes: ptr(int64(len(at(0).Format(time.RFC3339Nano) + " one"))), Timestamps: true},
			combined: at(0).Format(time.RFC3339Nano) + " one"},
		{name: "a line without its end at the end of the file is written as it is",
			content: entries("stdout F a", "stdout P b"), stdout: "a\nb"},
		{name: "a torn entry at the end is not read",
			content: entries("stdout F a") + "2025-03-04T05:06:07.0", stdout: "a\n"},
		{name: "tail counts an unfinished line at the end as a line",
			content: entries("stdout F a", "stdout F b", "stdout P c"), opts: Options{TailLines: ptr[int64](2)},
			stdout: "b\nc"},
		{name: "empty file", content: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeLog(t, tc.content)
			var out, errOut bytes.Buffer
			var w1, w2 io.Writer = &out, &errOut
			if tc.combined != "" {
				w2 = &out
			}
			if err := Read(context.Background(), path, tc.opts, w1, w2); err != nil {
				t.Fatal(err)
			}
			if tc.combined != "" {
				if out.String() != tc.combined {
					t.Errorf("got %q, want %q", out.String(), tc.combined)
				}
				return
			}
			if out.String() != tc.stdout || errOut.String() != tc.stderr {
				t.Errorf("stdout %q stderr %q, want %q and %q", out.String(), errOut.String(), tc.stdout, tc.stderr)
			}
		})
	}
}

func TestTailReadsAcrossChunks(t *testing.T) {
	// Lines longer than a tail chunk, and more of them than fit in one, split into partial entries.
	var lines []string
	var want []string
	for i := range 400 {
		text := strings.Repeat(string(rune('a'+i%26)), 300)
		lines = append(lines, "stdout P "+text, "stdout F "+fmt.Sprint(i))
		want = append(want, text+fmt.Sprint(i))
	}
	path := writeLog(t, entries(lines...))
	for _, n := range []int64{1, 7, 150, 399, 400} {
		var out bytes.Buffer
		if err := Read(context.Background(), path, Options{TailLines: &n}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got, w := out.String(), strings.Join(want[400-n:], "\n")+"\n"; got != w {
			t.Errorf("tail %d: got %d bytes, want %d", n, len(got), len(w))
		}
	}
}

func TestReadRejectsBadOptions(t *testing.T) {
	path := writeLog(t, entries("stdout F a"))
	for name, opts := range map[string]Options{
		"unknown stream": {Stream: "stdin"},
		"negative tail":  {TailLines: ptr[int64](-1)},
		"zero limit":     {LimitBytes: ptr[int64](0)},
		"negative poll":  {PollInterval: -time.Second},
	} {
		if err := Read(context.Background(), path, opts, io.Discard, io.Discard); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := Read(context.Background(), filepath.Join(t.TempDir(), "missing.log"), Options{}, io.Discard, io.Discard); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want a not-exist error", err)
	}
}

// syncBuffer is a bytes.Buffer that a follower writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("got %q, want %q", b.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func appendLog(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func TestFollowReadsNewOutputAcrossRotationUntilStop(t *testing.T) {
	path := writeLog(t, entries("stdout F before"))
	var stop sync.Mutex
	stopped := false
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, Options{Follow: true, PollInterval: 10 * time.Millisecond,
			Stop: func() bool { stop.Lock(); defer stop.Unlock(); return stopped }}, &out, &out)
	}()
	waitFor(t, &out, "before\n")

	// An entry written in two writes is read once it is whole.
	e := entries("stdout F appended")
	appendLog(t, path, e[:20])
	time.Sleep(50 * time.Millisecond)
	appendLog(t, path, e[20:])
	waitFor(t, &out, "before\nappended\n")

	// Size-based rotation: the old file gets a last line, is renamed, a new file follows; a line that
	// began in the old file ends in the new one.
	appendLog(t, path, entries("stdout F last-of-old", "stderr P split-"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	appendLog(t, path, entries("stderr F line", "stdout F first-of-new"))
	waitFor(t, &out, "before\nappended\nlast-of-old\nsplit-line\nfirst-of-new\n")

	// Stop ends following, after what was written before it is read.
	appendLog(t, path, entries("stdout F final"))
	stop.Lock()
	stopped = true
	stop.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after Stop")
	}
	if got, want := out.String(), "before\nappended\nlast-of-old\nsplit-line\nfirst-of-new\nfinal\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	path := writeLog(t, entries("stdout F a"))
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	atEnd := make(chan struct{})
	var once sync.Once
	// Stop is first asked once the follower has read all there was: then "b" is new output.
	notify := func() bool { once.Do(func() { close(atEnd) }); return false }
	go func() {
		done <- Read(ctx, path, Options{Follow: true, TailLines: ptr[int64](0), Stop: notify}, &out, &out)
	}()
	<-atEnd
	appendLog(t, path, entries("stdout F b"))
	waitFor(t, &out, "b\n")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}

func TestFollowStartsAgainAfterTruncation(t *testing.T) {
	path := writeLog(t, entries("stdout F a", "stdout F b"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	go func() { _ = Read(ctx, path, Options{Follow: true, PollInterval: 10 * time.Millisecond}, &out, &out) }()
	waitFor(t, &out, "a\nb\n")
	if err := os.WriteFile(path, []byte(entries("stdout F c")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, "a\nb\nc\n")
}
