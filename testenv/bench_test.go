package testenv_test

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/testenv"
)

// BenchmarkStart measures an in-process server from nothing to ready, on a fresh temporary dir each time
// (budget: well under a second). Run with `go test -run '^$' -bench Start ./testenv/`.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		env, err := testenv.Start(context.Background(), testenv.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := env.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
