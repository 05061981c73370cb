package nodeagent

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/nodeagent/runtime/runc"
	"github.com/skiffhq/skiff/nodeagent/volumes"
)

// PodResources gives the runc runtime what a pod's containers need from the API: environments,
// pull secrets and volumes.
type PodResources struct {
	ContainerEnv
	VolumeManager *volumes.Manager
}

var _ runc.PodResources = (*PodResources)(nil)

// Volumes sets the pod's volumes up (again: configMap, secret and downwardAPI content is refreshed).
func (p *PodResources) Volumes(ctx context.Context, pod *corev1.Pod) (map[string]runc.Volume, error) {
	vols, err := p.VolumeManager.SetUp(ctx, pod)
	if err != nil {
		return nil, err
	}
	out := make(map[string]runc.Volume, len(vols))
	for name, v := range vols {
		out[name] = runc.Volume{HostPath: v.HostPath, ReadOnly: v.ReadOnly}
	}
	return out, nil
}

// ReleaseVolumes tears the pod's volumes down.
func (p *PodResources) ReleaseVolumes(ctx context.Context, uid types.UID) error {
	return p.VolumeManager.TearDown(ctx, uid)
}

// SubPath resolves a volume mount's subPath inside its volume.
func (p *PodResources) SubPath(volume, subPath string) (string, error) {
	return volumes.ResolveSubPath(volume, subPath)
}
