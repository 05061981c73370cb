// Command skiff-shim runs the containers of one pod through runc's libcontainer. The node agent starts
// one per pod (`skiff-shim serve --dir POD_STATE_DIR`) in its own session; the shim is the parent of
// the pod's container inits, so it reaps them and keeps their real exit codes, and it serves the agent
// over POD_STATE_DIR/shim.sock (see package nodeagent/runtime/runc/shim for the protocol and client).
//
// libcontainer re-executes this binary as `skiff-shim init` inside every new container, so the binary
// stays small: nothing from k8s.io, and cgo only for runc's nsenter.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// Registers the device cgroup manager; without it libcontainer refuses any device rule.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

func init() {
	// nsenter's constructor has already joined the container's namespaces when we get here; the Go
	// side of the container's init must run before main, and never returns.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}

const usage = `usage: skiff-shim serve --dir POD_STATE_DIR

Serves the containers of one pod on POD_STATE_DIR/shim.sock.
`

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dir := fs.String("dir", "", "the pod state directory")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := serve(ctx, *dir)
	var busy *alreadyServingError
	switch {
	case errors.As(err, &busy):
		fmt.Fprintf(os.Stderr, "skiff-shim: %v\n", err)
		os.Exit(shim.ExitAlreadyServing)
	case err != nil:
		fmt.Fprintf(os.Stderr, "skiff-shim: %v\n", err)
		os.Exit(1)
	}
}
