// Package server is the node agent's HTTPS API, the part of the kubelet's port 10250 that the API
// server proxies the pod subresources to:
//
//	GET      /containerLogs/{namespace}/{pod}/{container}   pods/log: the container's output as text
//	GET|POST /exec/{namespace}/{pod}[/{uid}]/{container}    pods/exec: a command in the container
//	GET|POST /attach/{namespace}/{pod}[/{uid}]/{container}  pods/attach: the container's own streams
//	GET|POST /portForward/{namespace}/{pod}[/{uid}]         pods/portforward: TCP to the pod's ports
//	GET      /healthz                                        "ok", without a client certificate
//
// exec and attach speak the remote command protocols kubectl speaks: v5.channel.k8s.io and
// v4.channel.k8s.io over WebSocket, and the same over SPDY; port-forward speaks portforward.k8s.io
// over SPDY, SPDY tunnelled through a WebSocket, and the v4 WebSocket channel protocol. Errors before
// a stream is open are Kubernetes Status objects; errors after are written to the stream's error
// channel, and a command's non-zero exit code reaches the client as its exit code.
//
// Every request but /healthz must come with a client certificate that the cluster CA signed and that
// names the API server (CommonName kube-apiserver-kubelet-client) or a cluster administrator
// (Organization system:masters): the agent runs commands in containers for whoever gets in.
//
// The package knows nothing of a container runtime: the agent passes its pods (Pods) and a runtime
// (Containers) that runs commands, attaches, finds log files and dials ports.
package server
