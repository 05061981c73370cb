package core

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validContainer is a container as it looks after defaulting.
func validContainer(name string) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    "registry.local/app:1",
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
	}
}

func validPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{validContainer("app")},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		TerminationGracePeriodSeconds: ptr[int64](30),
		SchedulerName:                 corev1.DefaultSchedulerName,
	}
}

func validPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1", Labels: map[string]string{"app": "web"}},
		Spec:       validPodSpec(),
	}
}

func withVolume(p *corev1.Pod, v corev1.Volume) {
	p.Spec.Volumes = append(p.Spec.Volumes, v)
}

func emptyDirVolume(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func httpProbe() *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}},
		TimeoutSeconds:   1,
		PeriodSeconds:    10,
		SuccessThreshold: 1,
		FailureThreshold: 3,
	}
}

func TestValidatePod(t *testing.T) {
	c0 := "spec.containers[0]"
	runCases(t, validPod, ValidatePod, []tcase[corev1.Pod]{
		{name: "valid pod passes"},
		{name: "generateName alone is accepted once a name was generated", mutate: func(p *corev1.Pod) { p.GenerateName = "web-" }},
		{name: "full featured pod passes", mutate: func(p *corev1.Pod) {
			withVolume(p, emptyDirVolume("cache"))
			withVolume(p, corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a", Path: "a.conf"}}}}})
			withVolume(p, corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr[int64](3600), Path: "token"}}}}}})
			p.Spec.ServiceAccountName = "default"
			c := &p.Spec.Containers[0]
			c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
			c.Env = []corev1.EnvVar{
				{Name: "MODE", Value: "prod"},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
				{Name: "TIER", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['tier']"}}},
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				{Name: "PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
			}
			c.EnvFrom = []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}, {Name: "cfg", MountPath: "/etc/app", ReadOnly: true}}
			c.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi"), "example.com/gpu": resource.MustParse("1")},
			}
			c.LivenessProbe = httpProbe()
			c.ReadinessProbe = httpProbe()
			c.StartupProbe = httpProbe()
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
			c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr[int64](1000), AllowPrivilegeEscalation: ptr(false),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
			init := validContainer("setup")
			p.Spec.InitContainers = []corev1.Container{init}
			sidecar := validContainer("proxy")
			sidecar.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			sidecar.ReadinessProbe = httpProbe()
			p.Spec.InitContainers = append(p.Spec.InitContainers, sidecar)
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr[int64](300)}}
			p.Spec.Affinity = &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}},
				PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
					Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname",
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}},
			}
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
			p.Spec.Hostname = "web-0"
			p.Spec.Subdomain = "web"
			p.Spec.ActiveDeadlineSeconds = ptr[int64](600)
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.43.0.10"}, Searches: []string{"svc.cluster.local."}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr("2")}}}
			p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr[int64](2000), Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}}}
		}},

		// metadata
		{name: "name is required", mutate: func(p *corev1.Pod) { p.Name = "" }, typ: field.ErrorTypeRequired, field: "metadata.name"},
		{name: "generateName must be a valid prefix", mutate: func(p *corev1.Pod) { p.GenerateName = "Web-" }, typ: field.ErrorTypeInvalid, field: "metadata.generateName"},
		{name: "name must be a DNS subdomain", mutate: func(p *corev1.Pod) { p.Name = "Web_1" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "namespace is required", mutate: func(p *corev1.Pod) { p.Namespace = "" }, typ: field.ErrorTypeRequired, field: "metadata.namespace"},
		{name: "label keys are qualified names", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"bad key": "v"} }, typ: field.ErrorTypeInvalid, field: "metadata.labels"},
		{name: "label values are limited", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"k": strings.Repeat("v", 64)} }, typ: field.ErrorTypeInvalid, field: "metadata.labels"},
		{name: "annotations are limited to 256KiB", mutate: func(p *corev1.Pod) { p.Annotations = map[string]string{"a": strings.Repeat("x", 256*1024)} }, typ: field.ErrorTypeTooLong, field: "metadata.annotations"},
		{name: "unqualified finalizers must be standard", mutate: func(p *corev1.Pod) { p.Finalizers = []string{"custom"} }, typ: field.ErrorTypeInvalid, field: "metadata.finalizers[0]"},
		{name: "mirror pod annotation needs a node", mutate: func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }, typ: field.ErrorTypeInvalid, field: "metadata.annotations[kubernetes.io/config.mirror]"},
		{name: "deletion cost must be an int32", mutate: func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: "lots"} }, typ: field.ErrorTypeInvalid, field: "metadata.annotations[controller.kubernetes.io/pod-deletion-cost]"},
		{name: "seccomp annotation must name a profile", mutate: func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.SeccompPodAnnotationKey: "weird"} }, typ: field.ErrorTypeInvalid, field: "metadata.annotations.seccomp.security.alpha.kubernetes.io/pod"},

		// containers
		{name: "at least one container", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil }, typ: field.ErrorTypeRequired, field: "spec.containers"},
		{name: "container name is required", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, typ: field.ErrorTypeRequired, field: c0 + ".name"},
		{name: "container name is a DNS label", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App.1" }, typ: field.ErrorTypeInvalid, field: c0 + ".name"},
		{name: "container names are unique", mutate: func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, validContainer("app")) }, typ: field.ErrorTypeDuplicate, field: "spec.containers[1].name"},
		{name: "init container names do not collide with app containers", mutate: func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{validContainer("app")} }, typ: field.ErrorTypeDuplicate, field: "spec.initContainers[0].name"},
		{name: "image is required", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, typ: field.ErrorTypeRequired, field: c0 + ".image", detail: ""},
		{name: "init container image is required", mutate: func(p *corev1.Pod) {
			c := validContainer("init")
			c.Image = ""
			p.Spec.InitContainers = []corev1.Container{c}
		}, typ: field.ErrorTypeRequired, field: "spec.initContainers[0].image"},
		{name: "pod images may not have surrounding whitespace", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, typ: field.ErrorTypeInvalid, field: c0 + ".image"},
		{name: "imagePullPolicy is required", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "" }, typ: field.ErrorTypeRequired, field: c0 + ".imagePullPolicy"},
		{name: "imagePullPolicy is an enum", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" }, typ: field.ErrorTypeNotSupported, field: c0 + ".imagePullPolicy"},
		{name: "terminationMessagePolicy is required", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "" }, typ: field.ErrorTypeRequired, field: c0 + ".terminationMessagePolicy"},
		{name: "terminationMessagePolicy is an enum", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "Stdout" }, typ: field.ErrorTypeNotSupported, field: c0 + ".terminationMessagePolicy"},
		{name: "regular containers may not set restartPolicy", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}, typ: field.ErrorTypeForbidden, field: c0 + ".restartPolicy"},
		{name: "init container restartPolicy may only be Always", mutate: func(p *corev1.Pod) {
			c := validContainer("init")
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicy("OnFailure"))
			p.Spec.InitContainers = []corev1.Container{c}
		}, typ: field.ErrorTypeNotSupported, field: "spec.initContainers[0].restartPolicy"},
		{name: "plain init containers may not have probes", mutate: func(p *corev1.Pod) {
			c := validContainer("init")
			c.LivenessProbe = httpProbe()
			p.Spec.InitContainers = []corev1.Container{c}
		}, typ: field.ErrorTypeForbidden, field: "spec.initContainers[0].livenessProbe"},

		// ports
		{name: "containerPort is required", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Protocol: corev1.ProtocolTCP}}
		}, typ: field.ErrorTypeRequired, field: c0 + ".ports[0].containerPort"},
		{name: "containerPort is at most 65535", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000, Protocol: corev1.ProtocolTCP}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".ports[0].containerPort", detail: "must be between 1 and 65535, inclusive"},
		{name: "port protocol is required", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
		}, typ: field.ErrorTypeRequired, field: c0 + ".ports[0].protocol"},
		{name: "port protocol is TCP, UDP or SCTP", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "ICMP"}}
		}, typ: field.ErrorTypeNotSupported, field: c0 + ".ports[0].protocol"},
		{name: "port names are IANA service names", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http_port", ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".ports[0].name"},
		{name: "port names are unique", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {Name: "http", ContainerPort: 81, Protocol: corev1.ProtocolTCP}}
		}, typ: field.ErrorTypeDuplicate, field: c0 + ".ports[1].name"},
		{name: "host ports do not collide across containers", mutate: func(p *corev1.Pod) {
			c2 := validContainer("second")
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			c2.Ports = []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers = append(p.Spec.Containers, c2)
		}, typ: field.ErrorTypeDuplicate, field: "spec.containers[1].ports[0].hostPort"},
		{name: "an init container may not repeat a host port", mutate: func(p *corev1.Pod) {
			first, second := validContainer("first"), validContainer("second")
			second.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}, {ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.InitContainers = []corev1.Container{first, second}
		}, typ: field.ErrorTypeDuplicate, field: "spec.initContainers[1].ports[1].hostPort"},
		{name: "init containers may reuse a host port one after another", mutate: func(p *corev1.Pod) {
			first, second := validContainer("first"), validContainer("second")
			first.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			second.Ports = first.Ports
			p.Spec.InitContainers = []corev1.Container{first, second}
		}},
		{name: "host network pods need hostPort equal to containerPort", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".ports[0].hostPort"},

		// env
		{name: "env name is required", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} }, typ: field.ErrorTypeRequired, field: c0 + ".env[0].name"},
		{name: "env name may not contain '='", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} }, typ: field.ErrorTypeInvalid, field: c0 + ".env[0].name"},
		{name: "valueFrom needs a source", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{}}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".env[0].valueFrom", detail: "must specify one of"},
		{name: "valueFrom takes exactly one source", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef:     &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"},
			}}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".env[0].valueFrom", detail: "may not have more than one field specified at a time"},
		{name: "value and valueFrom are exclusive", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".env[0].valueFrom", detail: "may not be specified when `value` is not empty"},
		{name: "fieldRef path must be supported", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.phase"}}}}
		}, typ: field.ErrorTypeNotSupported, field: c0 + ".env[0].valueFrom.fieldRef.fieldPath"},
		{name: "secretKeyRef key is required", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}}
		}, typ: field.ErrorTypeRequired, field: c0 + ".env[0].valueFrom.secretKeyRef.key"},
		{name: "resourceFieldRef divisor must fit the resource", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1Mi")}}}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".env[0].valueFrom.resourceFieldRef.divisor"},
		{name: "envFrom needs a source", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{}} }, typ: field.ErrorTypeInvalid, field: c0 + ".envFrom"},

		// volumes and mounts
		{name: "volume names are unique", mutate: func(p *corev1.Pod) {
			withVolume(p, emptyDirVolume("data"))
			withVolume(p, emptyDirVolume("data"))
		}, typ: field.ErrorTypeDuplicate, field: "spec.volumes[1].name"},
		{name: "volume name is required", mutate: func(p *corev1.Pod) { withVolume(p, emptyDirVolume("")) }, typ: field.ErrorTypeRequired, field: "spec.volumes[0].name"},
		{name: "volume needs a source", mutate: func(p *corev1.Pod) { withVolume(p, corev1.Volume{Name: "v"}) }, typ: field.ErrorTypeRequired, field: "spec.volumes[0]", detail: "must specify a volume type"},
		{name: "volume has one source only", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}})
		}, typ: field.ErrorTypeForbidden, field: "spec.volumes[0].hostPath", detail: "may not specify more than 1 volume type"},
		{name: "hostPath path is required", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}})
		}, typ: field.ErrorTypeRequired, field: "spec.volumes[0].hostPath.path"},
		{name: "hostPath may not step back", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/../etc"}}})
		}, typ: field.ErrorTypeInvalid, field: "spec.volumes[0].hostPath.path"},
		{name: "secret volume needs a secret name", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}})
		}, typ: field.ErrorTypeRequired, field: "spec.volumes[0].secret.secretName"},
		{name: "file modes are at most 0777", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr[int32](01000)}}})
		}, typ: field.ErrorTypeInvalid, field: "spec.volumes[0].secret.defaultMode"},
		{name: "configMap item paths are relative", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Items: []corev1.KeyToPath{{Key: "k", Path: "/abs"}}}}})
		}, typ: field.ErrorTypeInvalid, field: "spec.volumes[0].configMap.items[0].path"},
		{name: "projected sources may not write the same path", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "a"}, Items: []corev1.KeyToPath{{Key: "k", Path: "f"}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "b"}, Items: []corev1.KeyToPath{{Key: "k", Path: "f"}}}},
			}}}})
		}, typ: field.ErrorTypeInvalid, field: "spec.volumes[0].projected", detail: "conflicting duplicate paths"},
		{name: "projected token needs a service account", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr[int64](3600)}}}}}})
		}, typ: field.ErrorTypeForbidden, field: "spec.volumes[0].projected.sources[0].serviceAccountToken"},
		{name: "projected token lives at least ten minutes", mutate: func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "default"
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr[int64](60)}}}}}})
		}, typ: field.ErrorTypeInvalid, field: "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds"},
		{name: "downward API volume fields are limited", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "node", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}}}})
		}, typ: field.ErrorTypeNotSupported, field: "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath"},
		{name: "claim volume needs a claim name", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}})
		}, typ: field.ErrorTypeRequired, field: "spec.volumes[0].persistentVolumeClaim.claimName"},
		{name: "ephemeral volume template is validated as a claim", mutate: func(p *corev1.Pod) {
			withVolume(p, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
				VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}}}})
		}, typ: field.ErrorTypeRequired, field: "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources[storage]"},
		{name: "volumeMount must refer to a volume", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "missing", MountPath: "/data"}}
		}, typ: field.ErrorTypeNotFound, field: c0 + ".volumeMounts[0].name"},
		{name: "mountPath is required", mutate: func(p *corev1.Pod) {
			withVolume(p, emptyDirVolume("data"))
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data"}}
		}, typ: field.ErrorTypeRequired, field: c0 + ".volumeMounts[0].mountPath"},
		{name: "mountPaths are unique", mutate: func(p *corev1.Pod) {
			withVolume(p, emptyDirVolume("a"))
			withVolume(p, emptyDirVolume("b"))
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/d"}, {Name: "b", MountPath: "/d"}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".volumeMounts[1].mountPath", detail: "must be unique"},
		{name: "subPath may not escape the volume", mutate: func(p *corev1.Pod) {
			withVolume(p, emptyDirVolume("a"))
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/d", SubPath: "../x"}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".volumeMounts[0].subPath"},
		{name: "bidirectional propagation needs privilege", mutate: func(p *corev1.Pod) {
			withVolume(p, emptyDirVolume("a"))
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/d", MountPropagation: ptr(corev1.MountPropagationBidirectional)}}
		}, typ: field.ErrorTypeForbidden, field: c0 + ".volumeMounts[0].mountPropagation"},
		{name: "volume devices need a claim-backed volume", mutate: func(p *corev1.Pod) {
			withVolume(p, emptyDirVolume("a"))
			p.Spec.Containers[0].VolumeDevices = []corev1.VolumeDevice{{Name: "a", DevicePath: "/dev/xvda"}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".volumeDevices[0].name"},

		// resources
		{name: "requests may not exceed limits", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".resources.requests", detail: "must be less than or equal to cpu limit of 1"},
		{name: "quantities may not be negative", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1")}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".resources.requests[memory]", detail: "must be greater than or equal to 0"},
		{name: "unprefixed resource names are standard", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"gpu": resource.MustParse("1")}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".resources.limits[gpu]"},
		{name: "extended resources are whole numbers", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"example.com/gpu": resource.MustParse("500m")}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".resources.limits[example.com/gpu]", detail: "must be an integer"},
		{name: "extended resources cannot be overcommitted", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")},
				Limits:   corev1.ResourceList{"example.com/gpu": resource.MustParse("2")},
			}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".resources.requests", detail: "must be equal to example.com/gpu limit of 2"},
		{name: "hugepages need cpu or memory", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"hugepages-2Mi": resource.MustParse("4Mi")}
		}, typ: field.ErrorTypeForbidden, field: c0 + ".resources"},
		{name: "resource claims must be declared in the pod", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}}
		}, typ: field.ErrorTypeNotFound, field: c0 + ".resources.claims[0]"},

		// probes and lifecycle
		{name: "probe needs a handler", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{SuccessThreshold: 1}
		}, typ: field.ErrorTypeRequired, field: c0 + ".livenessProbe", detail: "must specify a handler type"},
		{name: "probe has one handler only", mutate: func(p *corev1.Pod) {
			pr := httpProbe()
			pr.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}
			p.Spec.Containers[0].ReadinessProbe = pr
		}, typ: field.ErrorTypeForbidden, field: c0 + ".readinessProbe.tcpSocket"},
		{name: "liveness successThreshold is 1", mutate: func(p *corev1.Pod) {
			pr := httpProbe()
			pr.SuccessThreshold = 2
			p.Spec.Containers[0].LivenessProbe = pr
		}, typ: field.ErrorTypeInvalid, field: c0 + ".livenessProbe.successThreshold", detail: "must be 1"},
		{name: "startup successThreshold is 1", mutate: func(p *corev1.Pod) {
			pr := httpProbe()
			pr.SuccessThreshold = 3
			p.Spec.Containers[0].StartupProbe = pr
		}, typ: field.ErrorTypeInvalid, field: c0 + ".startupProbe.successThreshold"},
		{name: "probe timings are non-negative", mutate: func(p *corev1.Pod) {
			pr := httpProbe()
			pr.PeriodSeconds = -1
			p.Spec.Containers[0].ReadinessProbe = pr
		}, typ: field.ErrorTypeInvalid, field: c0 + ".readinessProbe.periodSeconds"},
		{name: "exec probe needs a command", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{}}, SuccessThreshold: 1}
		}, typ: field.ErrorTypeRequired, field: c0 + ".livenessProbe.exec.command"},
		{name: "httpGet scheme is HTTP or HTTPS", mutate: func(p *corev1.Pod) {
			pr := httpProbe()
			pr.HTTPGet.Scheme = "FTP"
			p.Spec.Containers[0].LivenessProbe = pr
		}, typ: field.ErrorTypeNotSupported, field: c0 + ".livenessProbe.httpGet.scheme"},
		{name: "named probe port must be a valid port name", mutate: func(p *corev1.Pod) {
			pr := httpProbe()
			pr.HTTPGet.Port = intstr.FromString("Not_A_Port")
			p.Spec.Containers[0].LivenessProbe = pr
		}, typ: field.ErrorTypeInvalid, field: c0 + ".livenessProbe.httpGet.port"},
		{name: "readiness probes have no grace period", mutate: func(p *corev1.Pod) {
			pr := httpProbe()
			pr.TerminationGracePeriodSeconds = ptr[int64](5)
			p.Spec.Containers[0].ReadinessProbe = pr
		}, typ: field.ErrorTypeInvalid, field: c0 + ".readinessProbe.terminationGracePeriodSeconds"},
		{name: "sleep hook fits in the grace period", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 60}}}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".lifecycle.preStop.sleep"},

		// security
		{name: "runAsUser is a valid uid", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr[int64](-1)}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".securityContext.runAsUser"},
		{name: "privileged contradicts no privilege escalation", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false)}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".securityContext"},
		{name: "localhost seccomp needs a profile", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}
		}, typ: field.ErrorTypeRequired, field: c0 + ".securityContext.seccompProfile.localhostProfile"},
		{name: "unmasked proc needs a user namespace", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ProcMount: ptr(corev1.UnmaskedProcMount)}
		}, typ: field.ErrorTypeInvalid, field: c0 + ".securityContext.procMount"},
		{name: "fsGroup is a valid gid", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr[int64](-5)}
		}, typ: field.ErrorTypeInvalid, field: "spec.securityContext.fsGroup"},
		{name: "net sysctls are refused with host network", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}}
		}, typ: field.ErrorTypeInvalid, field: "spec.securityContext.sysctls[0].name", detail: "hostNetwork"},
		{name: "sysctl names are well formed", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "Net..core", Value: "1"}}}
		}, typ: field.ErrorTypeInvalid, field: "spec.securityContext.sysctls[0].name"},
		{name: "shareProcessNamespace excludes hostPID", mutate: func(p *corev1.Pod) {
			p.Spec.HostPID = true
			p.Spec.ShareProcessNamespace = ptr(true)
		}, typ: field.ErrorTypeInvalid, field: "spec.shareProcessNamespace"},
		{name: "user namespaces exclude host network", mutate: func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr(false)
			p.Spec.HostNetwork = true
		}, typ: field.ErrorTypeForbidden, field: "spec.hostNetwork"},

		// pod-level settings
		{name: "restartPolicy is required", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "" }, typ: field.ErrorTypeRequired, field: "spec.restartPolicy"},
		{name: "restartPolicy is an enum", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, typ: field.ErrorTypeNotSupported, field: "spec.restartPolicy"},
		{name: "dnsPolicy is required", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "" }, typ: field.ErrorTypeRequired, field: "spec.dnsPolicy"},
		{name: "dnsPolicy is an enum", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, typ: field.ErrorTypeNotSupported, field: "spec.dnsPolicy"},
		{name: "dnsPolicy None needs dnsConfig", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, typ: field.ErrorTypeRequired, field: "spec.dnsConfig"},
		{name: "dns nameservers are IPs", mutate: func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"dns.example.com"}}
		}, typ: field.ErrorTypeInvalid, field: "spec.dnsConfig.nameservers[0]"},
		{name: "terminationGracePeriodSeconds is required", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil }, typ: field.ErrorTypeRequired, field: "spec.terminationGracePeriodSeconds"},
		{name: "terminationGracePeriodSeconds is not negative", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr[int64](-1) }, typ: field.ErrorTypeInvalid, field: "spec.terminationGracePeriodSeconds"},
		{name: "activeDeadlineSeconds is positive", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](0) }, typ: field.ErrorTypeInvalid, field: "spec.activeDeadlineSeconds"},
		{name: "hostname is a DNS label", mutate: func(p *corev1.Pod) { p.Spec.Hostname = "web.example" }, typ: field.ErrorTypeInvalid, field: "spec.hostname"},
		{name: "subdomain is a DNS label", mutate: func(p *corev1.Pod) { p.Spec.Subdomain = "Web" }, typ: field.ErrorTypeInvalid, field: "spec.subdomain"},
		{name: "nodeSelector holds labels", mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "a b"} }, typ: field.ErrorTypeInvalid, field: "spec.nodeSelector"},
		{name: "nodeName is a DNS subdomain", mutate: func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" }, typ: field.ErrorTypeInvalid, field: "spec.nodeName"},
		{name: "serviceAccountName is a DNS subdomain", mutate: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Robot!" }, typ: field.ErrorTypeInvalid, field: "spec.serviceAccountName"},
		{name: "imagePullSecrets carry only a name", mutate: func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "reg"}} }},
		{name: "tolerations with empty key need Exists", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "x"}}
		}, typ: field.ErrorTypeInvalid, field: "spec.tolerations[0].operator"},
		{name: "tolerationSeconds needs NoExecute", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr[int64](5)}}
		}, typ: field.ErrorTypeInvalid, field: "spec.tolerations[0].effect"},
		{name: "toleration effect is an enum", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "Sometimes"}}
		}, typ: field.ErrorTypeNotSupported, field: "spec.tolerations[0].effect"},
		{name: "toleration operator is an enum", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Like"}}
		}, typ: field.ErrorTypeNotSupported, field: "spec.tolerations[0].operator"},
		{name: "node affinity needs terms", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, typ: field.ErrorTypeRequired, field: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"},
		{name: "node affinity In needs values", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, typ: field.ErrorTypeRequired, field: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"},
		{name: "pod affinity selector is a valid label selector", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey:   "zone",
				LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}}}}}
		}, typ: field.ErrorTypeInvalid, field: "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator"},
		{name: "pod affinity needs a topology key", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{}}}}
		}, typ: field.ErrorTypeRequired, field: "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"},
		{name: "affinity weights are 1-100", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 101, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone"}}}}}
		}, typ: field.ErrorTypeInvalid, field: "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"},
		{name: "topology spread maxSkew is positive", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, typ: field.ErrorTypeInvalid, field: "spec.topologySpreadConstraints[0].maxSkew"},
		{name: "topology spread action is an enum", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: "Maybe"}}
		}, typ: field.ErrorTypeNotSupported, field: "spec.topologySpreadConstraints[0].whenUnsatisfiable"},
		{name: "readiness gates are qualified names", mutate: func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "not valid"}}
		}, typ: field.ErrorTypeInvalid, field: "spec.readinessGates[0].conditionType"},
		{name: "scheduling gates are unique", mutate: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}, {Name: "example.com/wait"}}
		}, typ: field.ErrorTypeDuplicate, field: "spec.schedulingGates[1]"},
		{name: "bound pods cannot be gated", mutate: func(p *corev1.Pod) {
			p.Spec.NodeName = "node-1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, typ: field.ErrorTypeForbidden, field: "spec.nodeName"},
		{name: "ephemeral containers cannot be set on create", mutate: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(validContainer("debug"))}}
		}, typ: field.ErrorTypeForbidden, field: "spec.ephemeralContainers"},
		{name: "host aliases hold IPs", mutate: func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "not-an-ip", Hostnames: []string{"db"}}}
		}, typ: field.ErrorTypeInvalid, field: "spec.hostAliases[0].ip"},
		{name: "os name is an enum", mutate: func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: "plan9"} }, typ: field.ErrorTypeNotSupported, field: "spec.os"},
		{name: "windows pods cannot use linux-only options", mutate: func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr[int64](1)}
		}, typ: field.ErrorTypeForbidden, field: "spec.securityContext.runAsUser"},
		{name: "pod-level resources cover container requests", mutate: func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
		}, typ: field.ErrorTypeInvalid, field: "spec.resources.requests[cpu]"},
		{name: "pod-level resources are cpu and memory", mutate: func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}
		}, typ: field.ErrorTypeNotSupported, field: "spec.resources.limits[ephemeral-storage]"},
	})
}

func TestValidatePodUpdate(t *testing.T) {
	runUpdateCases(t, validPod, ValidatePodUpdate, []ucase[corev1.Pod]{
		{name: "unchanged pod passes"},
		{name: "labels may change", change: func(p *corev1.Pod) { p.Labels["tier"] = "front" }},
		{name: "container image may change", change: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "registry.local/app:2" }},
		{name: "activeDeadlineSeconds may be set", change: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](30) }},
		{name: "activeDeadlineSeconds may shrink", setup: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](60) },
			change: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](30) }},
		{name: "activeDeadlineSeconds may not grow", setup: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](30) },
			change: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](60) }, typ: field.ErrorTypeInvalid, field: "spec.activeDeadlineSeconds"},
		{name: "activeDeadlineSeconds may not be removed", setup: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](30) },
			change: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, typ: field.ErrorTypeInvalid, field: "spec.activeDeadlineSeconds"},
		{name: "tolerations may be added", change: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}},
		{name: "existing tolerations may not change", setup: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpEqual, Value: "a"}}
		}, change: func(p *corev1.Pod) { p.Spec.Tolerations[0].Value = "b" }, typ: field.ErrorTypeForbidden, field: "spec.tolerations"},
		{name: "scheduling gates may be removed", setup: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, change: func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }},
		{name: "scheduling gates may not be added", change: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, typ: field.ErrorTypeForbidden, field: "spec.schedulingGates[0].name"},
		{name: "gated pods may gain node selector entries", setup: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, change: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "a"} }},
		{name: "gated pods may not change node selector entries", setup: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
			p.Spec.NodeSelector = map[string]string{"zone": "a"}
		}, change: func(p *corev1.Pod) { p.Spec.NodeSelector["zone"] = "b" }, typ: field.ErrorTypeInvalid, field: "spec.nodeSelector"},
		{name: "other spec fields are immutable", change: func(p *corev1.Pod) { p.Spec.Containers[0].Args = []string{"--debug"} },
			typ: field.ErrorTypeForbidden, field: "spec", detail: "pod updates may not change fields other than"},
		{name: "containers may not be added", change: func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, validContainer("b")) },
			typ: field.ErrorTypeForbidden, field: "spec.containers", detail: "pod updates may not add or remove containers"},
		{name: "image may not be cleared", change: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, typ: field.ErrorTypeRequired, field: "spec.containers[0].image"},
		{name: "name is immutable", change: func(p *corev1.Pod) { p.Name = "other" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "resourceVersion is required", change: func(p *corev1.Pod) { p.ResourceVersion = "" }, typ: field.ErrorTypeInvalid, field: "metadata.resourceVersion"},
		{name: "mirror annotation may not be added", setup: func(p *corev1.Pod) { p.Spec.NodeName = "n1" },
			change: func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} },
			typ:    field.ErrorTypeForbidden, field: "metadata.annotations[kubernetes.io/config.mirror]"},
		{name: "grace period may go from negative to 1", setup: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr[int64](-1) },
			change: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr[int64](1) }},
	})
}

func TestValidatePodStatusUpdate(t *testing.T) {
	running := func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "10.0.0.5", HostIPs: []corev1.HostIP{{IP: "10.0.0.5"}},
			PodIP: "10.42.0.7", PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}}}
	}
	runUpdateCases(t, validPod, ValidatePodStatusUpdate, []ucase[corev1.Pod]{
		{name: "status of a running pod passes", setup: running},
		{name: "conditions may be reported", setup: running, change: func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: "example.com/warm", Status: corev1.ConditionTrue}}
		}},
		{name: "custom condition types are qualified names", setup: running, change: func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "not valid", Status: corev1.ConditionTrue}}
		}, typ: field.ErrorTypeInvalid, field: "status.conditions[0].type"},
		{name: "nodeName may not change through status", setup: running, change: func(p *corev1.Pod) { p.Spec.NodeName = "node-2" },
			typ: field.ErrorTypeForbidden, field: "status.nodeName"},
		{name: "pod IPs are valid", setup: running, change: func(p *corev1.Pod) { p.Status.PodIPs[1].IP = "bogus" },
			typ: field.ErrorTypeInvalid, field: "status.podIPs[1]"},
		{name: "pod IPs are one per family", setup: running, change: func(p *corev1.Pod) { p.Status.PodIPs[1].IP = "10.42.0.8" },
			typ: field.ErrorTypeInvalid, field: "status.podIPs"},
		{name: "hostIPs start with hostIP", setup: running, change: func(p *corev1.Pod) { p.Status.HostIP = "10.0.0.6" },
			typ: field.ErrorTypeInvalid, field: "status.hostIPs[0].ip"},
		{name: "qosClass is immutable", setup: func(p *corev1.Pod) { running(p); p.Status.QOSClass = corev1.PodQOSBestEffort },
			change: func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSGuaranteed }, typ: field.ErrorTypeInvalid, field: "status.qosClass"},
		{name: "terminated containers of a Never pod stay terminated", setup: func(p *corev1.Pod) {
			running(p)
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
		}, change: func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}, typ: field.ErrorTypeForbidden, field: "status.containerStatuses[0].state"},
		{name: "failed containers of an OnFailure pod may restart", setup: func(p *corev1.Pod) {
			running(p)
			p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
		}, change: func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}},
	})
}

func TestValidatePodEphemeralContainersUpdate(t *testing.T) {
	debug := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon(validContainer("debug")), TargetContainerName: "app"}
	runUpdateCases(t, validPod, ValidatePodEphemeralContainersUpdate, []ucase[corev1.Pod]{
		{name: "adding a debug container passes", change: func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debug} }},
		{name: "debug containers may not be removed", setup: func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debug} },
			change: func(p *corev1.Pod) { p.Spec.EphemeralContainers = nil }, typ: field.ErrorTypeForbidden, field: "spec.ephemeralContainers"},
		{name: "debug containers may not change", setup: func(p *corev1.Pod) { p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debug} },
			change: func(p *corev1.Pod) { p.Spec.EphemeralContainers[0].Image = "busybox" }, typ: field.ErrorTypeForbidden, field: "spec.ephemeralContainers"},
		{name: "debug containers may not have ports", change: func(p *corev1.Pod) {
			d := debug
			d.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{d}
		}, typ: field.ErrorTypeForbidden, field: "spec.ephemeralContainers[0].ports"},
		{name: "debug container names are unique across the pod", change: func(p *corev1.Pod) {
			d := debug
			d.Name = "app"
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{d}
		}, typ: field.ErrorTypeDuplicate, field: "spec.ephemeralContainers[0].name"},
		{name: "target container must exist", change: func(p *corev1.Pod) {
			d := debug
			d.TargetContainerName = "ghost"
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{d}
		}, typ: field.ErrorTypeNotFound, field: "spec.ephemeralContainers[0].targetContainerName"},
	})
}

func TestValidatePodBinding(t *testing.T) {
	valid := func() *corev1.Binding {
		return &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
	}
	runCases(t, valid, ValidatePodBinding, []tcase[corev1.Binding]{
		{name: "binding to a node passes"},
		{name: "kind may be omitted", mutate: func(b *corev1.Binding) { b.Target.Kind = "" }},
		{name: "target must be a Node", mutate: func(b *corev1.Binding) { b.Target.Kind = "Pod" }, typ: field.ErrorTypeNotSupported, field: "target.kind"},
		{name: "target name is required", mutate: func(b *corev1.Binding) { b.Target.Name = "" }, typ: field.ErrorTypeRequired, field: "target.name"},
	})
}

func validPodTemplate() *corev1.PodTemplate {
	return &corev1.PodTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "tpl", Namespace: "default", ResourceVersion: "1"},
		Template:   corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: validPodSpec()},
	}
}

func TestValidatePodTemplate(t *testing.T) {
	runCases(t, validPodTemplate, ValidatePodTemplate, []tcase[corev1.PodTemplate]{
		{name: "valid template passes"},
		{name: "name is required", mutate: func(p *corev1.PodTemplate) { p.Name = "" }, typ: field.ErrorTypeRequired, field: "metadata.name"},
		{name: "template labels are validated", mutate: func(p *corev1.PodTemplate) { p.Template.Labels = map[string]string{"a": "b c"} },
			typ: field.ErrorTypeInvalid, field: "template.labels"},
		{name: "template image is required", mutate: func(p *corev1.PodTemplate) { p.Template.Spec.Containers[0].Image = "" },
			typ: field.ErrorTypeRequired, field: "template.spec.containers[0].image"},
	})
	runUpdateCases(t, validPodTemplate, ValidatePodTemplateUpdate, []ucase[corev1.PodTemplate]{
		{name: "template may change", change: func(p *corev1.PodTemplate) { p.Template.Spec.Containers[0].Args = []string{"x"} }},
		{name: "name is immutable", change: func(p *corev1.PodTemplate) { p.Name = "tpl2" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
	})
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tpl := func() *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: validPodSpec()}
	}
	validate := func(s *corev1.PodTemplateSpec) field.ErrorList {
		return ValidatePodTemplateSpec(s, field.NewPath("spec", "template"))
	}
	runCases(t, tpl, validate, []tcase[corev1.PodTemplateSpec]{
		{name: "valid template passes"},
		{name: "templates tolerate padded images", mutate: func(s *corev1.PodTemplateSpec) { s.Spec.Containers[0].Image = " " }},
		{name: "templates may leave hostPort to defaulting", mutate: func(s *corev1.PodTemplateSpec) {
			s.Spec.HostNetwork = true
			s.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		}},
		{name: "template hostPort must still match when set", mutate: func(s *corev1.PodTemplateSpec) {
			s.Spec.HostNetwork = true
			s.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 81, Protocol: corev1.ProtocolTCP}}
		}, typ: field.ErrorTypeInvalid, field: "spec.template.spec.containers[0].ports[0].hostPort"},
		{name: "template image is required", mutate: func(s *corev1.PodTemplateSpec) { s.Spec.Containers[0].Image = "" },
			typ: field.ErrorTypeRequired, field: "spec.template.spec.containers[0].image"},
		{name: "templates may not have ephemeral containers", mutate: func(s *corev1.PodTemplateSpec) {
			s.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(validContainer("debug"))}}
		}, typ: field.ErrorTypeForbidden, field: "spec.template.spec.ephemeralContainers"},
		{name: "template annotations are validated", mutate: func(s *corev1.PodTemplateSpec) { s.Annotations = map[string]string{"bad key": ""} },
			typ: field.ErrorTypeInvalid, field: "spec.template.annotations"},
		{name: "seccomp annotation and field must agree", mutate: func(s *corev1.PodTemplateSpec) {
			s.Annotations = map[string]string{corev1.SeccompPodAnnotationKey: corev1.SeccompProfileNameUnconfined}
			s.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
		}, typ: field.ErrorTypeForbidden, field: "spec.template.spec.securityContext.seccompProfile.type"},
	})
}

func TestValidatePodSpecUsesGivenPath(t *testing.T) {
	spec := validPodSpec()
	spec.Containers[0].Name = ""
	errs := ValidatePodSpec(&spec, nil, field.NewPath("spec", "jobTemplate", "spec", "template", "spec"))
	checkErrors(t, errs, field.ErrorTypeRequired, "spec.jobTemplate.spec.template.spec.containers[0].name", "")
}

func TestValidateResourceRequirements(t *testing.T) {
	req := func() *corev1.ResourceRequirements {
		return &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		}
	}
	validate := func(r *corev1.ResourceRequirements) field.ErrorList {
		return ValidateResourceRequirements(r, field.NewPath("resources"))
	}
	runCases(t, req, validate, []tcase[corev1.ResourceRequirements]{
		{name: "requests within limits pass"},
		{name: "hugepages with memory pass", mutate: func(r *corev1.ResourceRequirements) {
			r.Limits["hugepages-2Mi"] = resource.MustParse("4Mi")
			r.Requests["hugepages-2Mi"] = resource.MustParse("4Mi")
		}},
		{name: "hugepages are whole pages", mutate: func(r *corev1.ResourceRequirements) {
			r.Limits["hugepages-2Mi"] = resource.MustParse("3Mi")
		}, typ: field.ErrorTypeInvalid, field: "resources.limits[hugepages-2Mi]"},
		{name: "request above limit fails", mutate: func(r *corev1.ResourceRequirements) { r.Requests[corev1.ResourceMemory] = resource.MustParse("1Gi") },
			typ: field.ErrorTypeInvalid, field: "resources.requests", detail: "must be less than or equal to memory limit of 64Mi"},
		{name: "negative limit fails", mutate: func(r *corev1.ResourceRequirements) { r.Limits[corev1.ResourceCPU] = resource.MustParse("-1") },
			typ: field.ErrorTypeInvalid, field: "resources.limits[cpu]"},
		{name: "quota-only names are not container resources", mutate: func(r *corev1.ResourceRequirements) { r.Limits[corev1.ResourcePods] = resource.MustParse("1") },
			typ: field.ErrorTypeInvalid, field: "resources.limits[pods]", detail: "must be a standard resource for containers"},
		{name: "malformed names fail", mutate: func(r *corev1.ResourceRequirements) { r.Limits["bad name"] = resource.MustParse("1") },
			typ: field.ErrorTypeInvalid, field: "resources.limits[bad name]"},
	})
}
