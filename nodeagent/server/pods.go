package server

import (
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// lookupError is a request's failure with its HTTP code.
type lookupError struct {
	code int
	msg  string
}

func (e *lookupError) Error() string { return e.msg }

// pod finds the request's pod, and with a {uid} in the path only that instance of it.
func (s *Server) pod(r *http.Request) (*corev1.Pod, *lookupError) {
	ns, name := r.PathValue("namespace"), r.PathValue("pod")
	pod, ok := s.cfg.Pods.Pod(ns, name)
	if !ok || pod == nil {
		return nil, &lookupError{http.StatusNotFound, fmt.Sprintf("pod %q does not exist", ns+"/"+name)}
	}
	if uid := types.UID(r.PathValue("uid")); uid != "" && pod.UID != uid {
		return nil, &lookupError{http.StatusNotFound, fmt.Sprintf("pod %q with UID %q does not exist", ns+"/"+name, uid)}
	}
	return pod, nil
}

// podContainer finds the request's pod and checks that its spec has the request's container.
func (s *Server) podContainer(r *http.Request) (*corev1.Pod, string, *lookupError) {
	pod, err := s.pod(r)
	if err != nil {
		return nil, "", err
	}
	container := r.PathValue("container")
	if !hasContainer(pod, container) {
		return nil, "", &lookupError{http.StatusNotFound, fmt.Sprintf("container %q not found in pod %q", container, pod.Name)}
	}
	return pod, container, nil
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// containerStatus returns the status of the pod's container of that name, of any kind.
func containerStatus(pod *corev1.Pod, name string) (*corev1.ContainerStatus, bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i], true
			}
		}
	}
	return nil, false
}
