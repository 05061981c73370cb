package nodeagent

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/nodeagent/downward"
	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// reasonCreateConfigError is the waiting reason of a container whose configuration cannot be made.
const reasonCreateConfigError = "CreateContainerConfigError"

// ContainerEnv makes containers' environments from the API, as the kubelet does.
type ContainerEnv struct {
	Client kubernetes.Interface
	// NodeIP is status.hostIP.
	NodeIP string
	// Allocatable is the node's, the limit of a container that sets none.
	Allocatable corev1.ResourceList
}

func configErr(format string, args ...any) error {
	return &runtime.ContainerError{Reason: reasonCreateConfigError, Message: fmt.Sprintf(format, args...)}
}

// Env returns container's environment: envFrom first, then env in order, each value's $(VAR)
// references expanded from the variables before it. A missing ConfigMap, Secret or key that is not
// optional is a CreateContainerConfigError with the kubelet's message.
func (e *ContainerEnv) Env(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	pod = e.withHostIP(pod)
	var order []string
	vars := map[string]string{}
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	configMaps := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	getConfigMap := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, nil
		}
		cm, err := e.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		configMaps[name] = cm
		return cm, nil
	}
	getSecret := func(name string) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s, err := e.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		secrets[name] = s
		return s, nil
	}
	missing := func(err error, what, name string, optional *bool) (skip bool, _ error) {
		if apierrors.IsNotFound(err) {
			if optional != nil && *optional {
				return true, nil
			}
			return false, configErr("%s %q not found", what, name)
		}
		return false, fmt.Errorf("get %s %s/%s: %w", what, pod.Namespace, name, err)
	}

	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := getConfigMap(from.ConfigMapRef.Name)
			if err != nil {
				if skip, err := missing(err, "configmap", from.ConfigMapRef.Name, from.ConfigMapRef.Optional); skip {
					continue
				} else {
					return nil, err
				}
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := getSecret(from.SecretRef.Name)
			if err != nil {
				if skip, err := missing(err, "secret", from.SecretRef.Name, from.SecretRef.Optional); skip {
					continue
				} else {
					return nil, err
				}
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		for k, v := range data {
			name := from.Prefix + k
			// The kubelet skips keys that are not valid names (and says so in an event).
			if len(validation.IsEnvVarName(name)) > 0 {
				continue
			}
			set(name, v)
		}
	}

	for _, ev := range c.Env {
		if ev.ValueFrom == nil {
			set(ev.Name, runtime.ExpandVars(ev.Value, vars))
			continue
		}
		src := ev.ValueFrom
		switch {
		case src.FieldRef != nil:
			v, err := downward.FieldValue(pod, src.FieldRef.FieldPath)
			if err != nil {
				return nil, configErr("%v", err)
			}
			set(ev.Name, v)
		case src.ResourceFieldRef != nil:
			v, err := downward.ResourceValue(pod, c.Name, src.ResourceFieldRef, e.Allocatable)
			if err != nil {
				return nil, configErr("%v", err)
			}
			set(ev.Name, v)
		case src.ConfigMapKeyRef != nil:
			ref := src.ConfigMapKeyRef
			cm, err := getConfigMap(ref.Name)
			if err != nil {
				if skip, err := missing(err, "configmap", ref.Name, ref.Optional); skip {
					continue
				} else {
					return nil, err
				}
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if b, okb := cm.BinaryData[ref.Key]; okb {
					v, ok = string(b), true
				}
			}
			if !ok {
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				return nil, configErr("couldn't find key %v in ConfigMap %v/%v", ref.Key, pod.Namespace, ref.Name)
			}
			set(ev.Name, v)
		case src.SecretKeyRef != nil:
			ref := src.SecretKeyRef
			s, err := getSecret(ref.Name)
			if err != nil {
				if skip, err := missing(err, "secret", ref.Name, ref.Optional); skip {
					continue
				} else {
					return nil, err
				}
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				return nil, configErr("couldn't find key %v in Secret %v/%v", ref.Key, pod.Namespace, ref.Name)
			}
			set(ev.Name, string(v))
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

// withHostIP returns pod with status.hostIP(s) set to the node's, as the kubelet knows them before
// it has written them.
func (e *ContainerEnv) withHostIP(pod *corev1.Pod) *corev1.Pod {
	if pod.Status.HostIP != "" || e.NodeIP == "" {
		return pod
	}
	pod = pod.DeepCopy()
	pod.Status.HostIP = e.NodeIP
	pod.Status.HostIPs = []corev1.HostIP{{IP: e.NodeIP}}
	return pod
}

// PullSecrets returns the payloads of the pod's image pull secrets that exist: a missing one is
// skipped, as the kubelet does.
func (e *ContainerEnv) PullSecrets(ctx context.Context, pod *corev1.Pod) ([][]byte, error) {
	var out [][]byte
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := e.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get image pull secret %s/%s: %w", pod.Namespace, ref.Name, err)
		}
		for _, key := range []string{corev1.DockerConfigJsonKey, corev1.DockerConfigKey} {
			if b, ok := s.Data[key]; ok && len(strings.TrimSpace(string(b))) > 0 {
				out = append(out, b)
			}
		}
	}
	return out, nil
}
