// Command images builds skiff's test images as OCI image layout tarballs:
//
//	go run ./hack/images -out DIR
//
// and prints, for each, its reference, path and manifest digest. A second run with the same inputs
// writes nothing. `skiff image import DIR/testserver.tar` puts an image in a node's image store.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/skiffhq/skiff/test/images"
)

func main() {
	out := flag.String("out", "bin/images", "directory to write busybox.tar and testserver.tar to")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "images: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *out)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string) error {
	paths, err := images.Build(ctx, out)
	if err != nil {
		return err
	}
	for _, p := range []struct{ ref, path string }{{images.Busybox, paths.Busybox}, {images.TestServer, paths.TestServer}} {
		img, err := images.Load(p.path)
		if err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return fmt.Errorf("digest of %s: %w", p.path, err)
		}
		fmt.Printf("%s\t%s\t%s\n", p.ref, p.path, digest)
	}
	return nil
}
