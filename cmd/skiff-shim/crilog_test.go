package main

import (
	"bytes"
	"io"
	"log"
	"strings"
	"testing"
	"time"
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
