// Package shim is the node agent's side of skiff-shim, the small per-pod process that runs a pod's
// containers through runc's libcontainer (cmd/skiff-shim). It holds the protocol the two speak (HTTP
// and JSON over the unix socket POD_STATE_DIR/shim.sock), a Client for it, Start to launch or find the
// shim of a pod state directory, and DefaultSpec, a minimal OCI spec the agent builds on.
//
// The shim, not the agent, is the parent of every container's init: it reaps them and keeps their exit
// codes in records under POD_STATE_DIR/containers, so pods keep running and their exits stay known while
// the agent restarts. The agent reconnects with a new Client and lists what runs.
//
// This package imports nothing from libcontainer, so the agent binary links neither cgo nor runc.
package shim
