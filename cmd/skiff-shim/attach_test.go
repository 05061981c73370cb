package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

func TestFanoutDropsForAStalledClientAndNeverBlocks(t *testing.T) {
	var f fanout
	stalled := f.subscribe()
	reading := f.subscribe()
	var got bytes.Buffer
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for chunk := range reading.ch {
			if chunk.frame != shim.FrameStderr {
				t.Errorf("chunk on frame %d, want stderr", chunk.frame)
			}
			got.Write(chunk.data)
		}
	}()

	w := f.stream(shim.FrameStderr)
	buf := []byte("0123456789")
	const writes = attachBuffer * 4
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < writes; i++ {
			if n, err := w.Write(buf); n != len(buf) || err != nil {
				t.Errorf("write = %d, %v", n, err)
			}
			// The writer may reuse its buffer at once: subscribers must hold copies.
			buf[0] = '0' + (buf[0]-'0'+1)%10
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a client that does not read blocked the writer")
	}
	f.unsubscribe(reading)
	close(reading.ch)
	<-readerDone

	if len(stalled.ch) != attachBuffer {
		t.Errorf("stalled client queued %d chunks, want its full buffer %d", len(stalled.ch), attachBuffer)
	}
	if want := int64((writes - attachBuffer) * 10); stalled.dropped.Load() != want {
		t.Errorf("stalled client dropped %d bytes, want %d", stalled.dropped.Load(), want)
	}
	if got.Len() == 0 || got.Bytes()[0] != '0' {
		t.Fatalf("reading client got %d bytes starting %q", got.Len(), got.Bytes()[:min(got.Len(), 10)])
	}
	// What the reading client got is whole chunks, each as written then.
	for i := 0; i+10 <= got.Len(); i += 10 {
		if c := got.Bytes()[i]; c < '0' || c > '9' || string(got.Bytes()[i+1:i+10]) != "123456789" {
			t.Fatalf("chunk at %d is %q", i, got.Bytes()[i:i+10])
		}
	}

	// With no client left, writes cost nothing and still report success.
	f.unsubscribe(stalled)
	if n, err := w.Write(buf); n != len(buf) || err != nil {
		t.Errorf("write without clients = %d, %v", n, err)
	}
}
