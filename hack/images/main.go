// Command images builds skiff's test images as OCI layout tarballs:
//
//	go run ./hack/images -out DIR
//
// and prints each one's path and digest. `skiff image import --data-dir DATA DIR/testserver.tar`
// puts one in a node's image store.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/skiffhq/skiff/test/images"
)

func main() {
	out := flag.String("out", "bin/images", "directory to write the image tarballs to")
	flag.Parse()
	paths, err := images.Build(context.Background(), *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
	for _, p := range []struct{ ref, path string }{{images.Busybox, paths.Busybox}, {images.TestServer, paths.TestServer}} {
		img, err := images.Load(p.path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "images:", err)
			os.Exit(1)
		}
		digest, err := img.Digest()
		if err != nil {
			fmt.Fprintln(os.Stderr, "images:", err)
			os.Exit(1)
		}
		fmt.Printf("%s\t%s\t%s\n", p.ref, p.path, digest)
	}
}
