package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

func TestCRILogSplitsStreamsIntoEntries(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 7000, time.FixedZone("CET", 3600))
	const ts = "2026-01-02T14:04:05.000007000Z"
	long := strings.Repeat("y", maxLogLine)
	tests := []struct {
		name   string
		stream string
		input  string
		want   []string
	}{
		{"one line is one final entry with a UTC fixed-width time", "stdout", "hello\n",
			[]string{ts + " stdout F hello"}},
		{"empty lines are kept", "stderr", "\n\nx\n",
			[]string{ts + " stderr F ", ts + " stderr F ", ts + " stderr F x"}},
		{"output ending without newline ends in a partial entry", "stdout", "a\nb",
			[]string{ts + " stdout F a", ts + " stdout P b"}},
		{"a line of exactly the limit is one partial entry then an empty final one", "stdout", long + "\n",
			[]string{ts + " stdout P " + long, ts + " stdout F "}},
		{"a line over the limit is split", "stdout", long + "zz\n",
			[]string{ts + " stdout P " + long, ts + " stdout F zz"}},
		{"no output writes nothing", "stdout", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := &criLog{w: &buf, now: func() time.Time { return at }, logger: log.New(io.Discard, "", 0)}
			l.copy(tt.stream, strings.NewReader(tt.input))
			var got []string
			if buf.Len() > 0 {
				got = strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") || len(got) != len(tt.want) {
				t.Errorf("entries:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestProcStartTimeNamesTheProcess(t *testing.T) {
	self, err := procStartTime(1)
	if err != nil || self == 0 {
		t.Fatalf("start time of pid 1: %d, %v", self, err)
	}
	if _, err := procStartTime(1 << 30); err == nil {
		t.Error("a pid that does not exist has a start time")
	}
}

func TestRotatingLogKeepsAtMostMaxFilesOfAtMostMaxSize(t *testing.T) {
	entry := func(i int) []byte { return fmt.Appendf(nil, "entry %03d %s\n", i, strings.Repeat("z", 20)) } // 31 bytes
	tests := []struct {
		name      string
		maxSize   int64
		maxFiles  int
		entries   int
		wantFiles map[string][]int // file suffix -> entries it holds
	}{
		{"under the limit nothing rotates", 100, 3, 3,
			map[string][]int{"": {0, 1, 2}}},
		{"a write that would pass the limit goes to a new file", 100, 3, 4,
			map[string][]int{"": {3}, ".1": {0, 1, 2}}},
		{"the oldest file beyond max files is dropped", 100, 3, 10,
			map[string][]int{"": {9}, ".1": {6, 7, 8}, ".2": {3, 4, 5}}},
		{"one file only starts over", 100, 1, 5,
			map[string][]int{"": {3, 4}}},
		{"an entry larger than the limit gets a file of its own", 10, 2, 3,
			map[string][]int{"": {2}, ".1": {1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			l, err := openRotatingLog(path, tt.maxSize, tt.maxFiles)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.entries {
				if _, err := l.Write(entry(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(path + "*")
			if len(files) != len(tt.wantFiles) {
				t.Errorf("files %v, want %d", files, len(tt.wantFiles))
			}
			for suffix, want := range tt.wantFiles {
				var b []byte
				for _, i := range want {
					b = append(b, entry(i)...)
				}
				got, err := os.ReadFile(path + suffix)
				if err != nil || !bytes.Equal(got, b) {
					t.Errorf("%s holds %q (%v), want %q", "0.log"+suffix, got, err, b)
				}
			}
		})
	}
}

func TestRotatingLogDefaultsAndRefusals(t *testing.T) {
	dir := t.TempDir()
	l, err := openRotatingLog(filepath.Join(dir, "a.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.maxSize != 10<<20 || l.maxFiles != 5 {
		t.Errorf("defaults %d/%d, want 10 MiB and 5 as the kubelet's", l.maxSize, l.maxFiles)
	}
	for _, tt := range []struct {
		size  int64
		files int
	}{{-1, 0}, {0, -1}} {
		if _, err := openRotatingLog(filepath.Join(dir, "b.log"), tt.size, tt.files); !errors.Is(err, shim.ErrInvalid) {
			t.Errorf("size %d files %d: %v, want ErrInvalid", tt.size, tt.files, err)
		}
	}
}
