package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/nodeagent"
	"github.com/skiffhq/skiff/nodeagent/imagestore"
	"github.com/skiffhq/skiff/nodeagent/podnet"
	"github.com/skiffhq/skiff/nodeagent/runtime/runc"
	"github.com/skiffhq/skiff/nodeagent/volumes"
)

// localRuntime is the runc runtime of this machine and what it is built on.
type localRuntime struct {
	runtime  *runc.Runtime
	images   *imagestore.Store
	capacity corev1.ResourceList
}

func (l *localRuntime) Close() {
	l.runtime.Close()
	l.images.Close()
}

// shimBinary finds skiff-shim: the given path, else next to this executable, else on PATH.
func shimBinary(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "skiff-shim")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("skiff-shim"); err == nil {
		return p, nil
	}
	return "", errors.New("skiff-shim not found next to skiff or on PATH: build it (make build) or give --shim")
}

// openLocalRuntime opens the runc runtime on dataDir: images in DATA/images, pods' state in DATA/pods,
// their logs in DATA/logs, volumes in DATA/volumes.
func openLocalRuntime(ctx context.Context, dataDir, shim, nodeIP string, insecure []string, client kubernetes.Interface, logger logr.Logger) (*localRuntime, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the runc runtime runs containers: it needs root (or run simulated nodes with --simulate)")
	}
	shim, err := shimBinary(shim)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	capacity, err := nodeagent.MachineCapacity(dataDir)
	if err != nil {
		return nil, err
	}
	images, err := imagestore.Open(dataDir)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	network, err := podnet.New(podnet.Config{})
	if err != nil {
		images.Close()
		return nil, err
	}
	resources := &nodeagent.PodResources{
		ContainerEnv:  nodeagent.ContainerEnv{Client: client, NodeIP: nodeIP, Allocatable: capacity},
		VolumeManager: &volumes.Manager{Root: filepath.Join(dataDir, "volumes"), Sources: volumes.ClientSources{Client: client}, Allocatable: capacity},
	}
	rt, err := runc.Open(ctx, runc.Options{Dir: dataDir, ShimBinary: shim, Images: images, Network: network,
		Resources: resources, InsecureRegistries: insecure, NodeMemory: capacity.Memory().Value(), Logger: logger})
	if err != nil {
		images.Close()
		return nil, err
	}
	return &localRuntime{runtime: rt, images: images, capacity: capacity}, nil
}
