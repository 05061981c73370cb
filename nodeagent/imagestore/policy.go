package imagestore

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// Waiting reasons of a container whose image is not there, as the kubelet reports them.
const (
	ReasonErrImagePull      = "ErrImagePull"
	ReasonImagePullBackOff  = "ImagePullBackOff"
	ReasonErrImageNeverPull = "ErrImageNeverPull"
	ReasonInvalidImageName  = "InvalidImageName"
)

// PullPolicyFor is the policy of a container that gives none, as the API server defaults it: Always
// for an image tagged :latest or not tagged at all, IfNotPresent otherwise (a digest included).
func PullPolicyFor(image string) corev1.PullPolicy {
	r, err := parse(image)
	if err != nil {
		return corev1.PullIfNotPresent
	}
	if r.digest == "" && r.tag == defaultTag {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// ShouldPull says whether the kubelet pulls an image under policy, given whether the store has it.
func ShouldPull(policy corev1.PullPolicy, present bool) bool {
	switch policy {
	case corev1.PullAlways:
		return true
	case corev1.PullNever:
		return false
	default:
		return !present
	}
}

// EnsureImage makes the container's image present as its pull policy says (an empty policy is
// defaulted by PullPolicyFor) and returns it. Failures are *runtime.ContainerError with the kubelet's
// reasons: InvalidImageName, ErrImageNeverPull, ErrImagePull; backing off (ImagePullBackOff) is the
// caller's.
func (s *Store) EnsureImage(ctx context.Context, c *corev1.Container, opts PullOptions) (Image, error) {
	ref, err := Normalize(c.Image)
	if err != nil {
		return Image{}, &runtime.ContainerError{
			Reason:  ReasonInvalidImageName,
			Message: fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: %v", c.Image, c.Image, err),
		}
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = PullPolicyFor(c.Image)
	}
	img, present := s.Get(ref)
	if !ShouldPull(policy, present) {
		if !present {
			return Image{}, &runtime.ContainerError{
				Reason:  ReasonErrImageNeverPull,
				Message: fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image),
			}
		}
		return img, nil
	}
	img, err = s.Pull(ctx, ref, opts)
	if err != nil {
		return Image{}, &runtime.ContainerError{
			Reason:  ReasonErrImagePull,
			Message: fmt.Sprintf("Failed to pull image %q: %v", c.Image, err),
		}
	}
	return img, nil
}
