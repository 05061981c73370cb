package endpointslice

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The functions below say how a Service sees a pod. The endpoints controller shares them, as upstream's
// shares k8s.io/endpointslice/util.

// ShouldPodBeInEndpoints says whether a pod is an endpoint of the Services selecting it: terminal pods
// and pods without an IP never are; terminating pods are only if includeTerminating.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// ShouldSetHostname says whether a pod's endpoint carries its hostname: it does when the pod names the
// Service as its subdomain, which gives it a DNS name under the Service.
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace
}

// IsPodReady says whether the pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// FindPort resolves a Service port's targetPort for a pod: a number stands for itself (an unset one for
// the service port), a name is looked up among the named ports of the Service port's protocol in the
// pod's containers, then in its sidecars (restartable init containers).
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	if sp.TargetPort.Type == intstr.Int {
		if sp.TargetPort.IntVal == 0 {
			return sp.Port, true
		}
		return sp.TargetPort.IntVal, true
	}
	name, protocol := sp.TargetPort.StrVal, orTCP(sp.Protocol)
	match := func(ports []corev1.ContainerPort) (int32, bool) {
		for _, p := range ports {
			if p.Name == name && orTCP(p.Protocol) == protocol {
				return p.ContainerPort, true
			}
		}
		return 0, false
	}
	for _, c := range pod.Spec.Containers {
		if port, ok := match(c.Ports); ok {
			return port, true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			if port, ok := match(c.Ports); ok {
				return port, true
			}
		}
	}
	return 0, false
}

func orTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// IsServiceIPSet says whether the Service has a cluster IP, that is, is not headless.
func IsServiceIPSet(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.ClusterIP != ""
}
