package defaults

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// check applies a defaulting function to in and compares the result with want; applying it again must
// change nothing.
func check[T any](t *testing.T, apply func(*T), in, want *T) {
	t.Helper()
	got := in
	apply(got)
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("defaulted\n got: %s\nwant: %s", toJSON(t, got), toJSON(t, want))
	}
	again := *got
	apply(&again)
	if !apiequality.Semantic.DeepEqual(&again, want) {
		t.Errorf("defaulting twice differs from once: %s", toJSON(t, &again))
	}
}

// defaultedContainer is a container with the defaults every container gets.
func defaultedContainer(name, image string, pull corev1.PullPolicy) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          pull,
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// defaultedPodSpec is a pod spec with the defaults every pod spec gets.
func defaultedPodSpec(containers ...corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    containers,
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		SchedulerName:                 "default-scheduler",
		TerminationGracePeriodSeconds: ptr.To(int64(30)),
		SecurityContext:               &corev1.PodSecurityContext{},
	}
}

func TestPodDefaults(t *testing.T) {
	probe := func(p corev1.Probe) *corev1.Probe { return &p }
	tests := []struct {
		name string
		in   corev1.PodSpec
		want corev1.PodSpec
	}{
		{
			name: "a bare pod gets the pod and container defaults",
			in:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
			want: func() corev1.PodSpec {
				s := defaultedPodSpec(defaultedContainer("app", "nginx", corev1.PullAlways))
				s.EnableServiceLinks = ptr.To(true)
				return s
			}(),
		},
		{
			name: "values the client set are kept",
			in: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "app", Image: "nginx:1.27", ImagePullPolicy: corev1.PullNever,
					TerminationMessagePath: "/tmp/msg", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				}},
				RestartPolicy:                 corev1.RestartPolicyNever,
				DNSPolicy:                     corev1.DNSDefault,
				SchedulerName:                 "other",
				TerminationGracePeriodSeconds: ptr.To(int64(5)),
				SecurityContext:               &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
				EnableServiceLinks:            ptr.To(false),
			},
			want: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "app", Image: "nginx:1.27", ImagePullPolicy: corev1.PullNever,
					TerminationMessagePath: "/tmp/msg", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				}},
				RestartPolicy:                 corev1.RestartPolicyNever,
				DNSPolicy:                     corev1.DNSDefault,
				SchedulerName:                 "other",
				TerminationGracePeriodSeconds: ptr.To(int64(5)),
				SecurityContext:               &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
				EnableServiceLinks:            ptr.To(false),
			},
		},
		{
			name: "ports get TCP, probes their thresholds, HTTP actions their scheme and path",
			in: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "nginx:1.27",
				Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)},
				}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}},
					TimeoutSeconds: 5, PeriodSeconds: 20, SuccessThreshold: 2, FailureThreshold: 7,
				},
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTPS},
				}},
				Lifecycle: &corev1.Lifecycle{
					PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}},
					PreStop:   &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}},
				},
			}}},
			want: func() corev1.PodSpec {
				c := defaultedContainer("app", "nginx:1.27", corev1.PullIfNotPresent)
				c.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}
				c.LivenessProbe = probe(corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				})
				c.ReadinessProbe = probe(corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000, Service: ptr.To("")}},
					TimeoutSeconds: 5, PeriodSeconds: 20, SuccessThreshold: 2, FailureThreshold: 7,
				})
				c.StartupProbe = probe(corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTPS}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				})
				c.Lifecycle = &corev1.Lifecycle{
					PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}},
					PreStop:   &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}},
				}
				s := defaultedPodSpec(c)
				s.EnableServiceLinks = ptr.To(true)
				return s
			}(),
		},
		{
			name: "limits become requests where requests are missing, quantities are rounded to milli units",
			in: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1", Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				}}},
				Containers: []corev1.Container{{Name: "app", Image: "nginx:1", Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0001"), corev1.ResourceMemory: resource.MustParse("1Gi")},
					Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
				}}},
			},
			want: func() corev1.PodSpec {
				init := defaultedContainer("init", "busybox:1", corev1.PullIfNotPresent)
				init.Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
					Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				}
				app := defaultedContainer("app", "nginx:1", corev1.PullIfNotPresent)
				app.Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
				}
				s := defaultedPodSpec(app)
				s.InitContainers = []corev1.Container{init}
				s.EnableServiceLinks = ptr.To(true)
				return s
			}(),
		},
		{
			name: "ephemeral containers get the container defaults but not requests from limits",
			in: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", Image: "busybox", Resources: corev1.ResourceRequirements{
						Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
					},
				}}},
			},
			want: func() corev1.PodSpec {
				debug := defaultedContainer("debug", "busybox", corev1.PullAlways)
				debug.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
				s := defaultedPodSpec(defaultedContainer("app", "nginx:1", corev1.PullIfNotPresent))
				s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(debug)}}
				s.EnableServiceLinks = ptr.To(true)
				return s
			}(),
		},
		{
			name: "host-network pods get their container ports as host ports",
			in: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
				Name: "app", Image: "nginx:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 9090, HostPort: 9091}},
			}}},
			want: func() corev1.PodSpec {
				c := defaultedContainer("app", "nginx:1", corev1.PullIfNotPresent)
				c.Ports = []corev1.ContainerPort{
					{ContainerPort: 8080, HostPort: 8080, Protocol: corev1.ProtocolTCP},
					{ContainerPort: 9090, HostPort: 9091, Protocol: corev1.ProtocolTCP},
				}
				s := defaultedPodSpec(c)
				s.HostNetwork = true
				s.EnableServiceLinks = ptr.To(true)
				return s
			}(),
		},
		{
			name: "environment field references get apiVersion v1",
			in: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1", Env: []corev1.EnvVar{
				{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				{Name: "KEY", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "env", Path: "a.env", Key: "K"}}},
			}}}},
			want: func() corev1.PodSpec {
				c := defaultedContainer("app", "nginx:1", corev1.PullIfNotPresent)
				c.Env = []corev1.EnvVar{
					{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}},
					{Name: "KEY", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "env", Path: "a.env", Key: "K", Optional: ptr.To(false)}}},
				}
				s := defaultedPodSpec(c)
				s.EnableServiceLinks = ptr.To(true)
				return s
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tt.in}
			want := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tt.want}
			check(t, Pod, in, want)
		})
	}
}

func TestPodAddsNoTolerations(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}}}
	Pod(pod)
	if len(pod.Spec.Tolerations) != 0 {
		t.Errorf("tolerations = %v, want none: the not-ready and unreachable ones come from admission", pod.Spec.Tolerations)
	}
}

func TestPodStatusQuantitiesAreRounded(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
		AllocatedResources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0005")},
	}}}}
	Pod(pod)
	if got := pod.Status.ContainerStatuses[0].AllocatedResources[corev1.ResourceCPU]; got.String() != "1m" {
		t.Errorf("allocated cpu = %s, want 1m", got.String())
	}
}

func TestVolumeDefaults(t *testing.T) {
	mode := ptr.To(int32(0o644))
	tests := []struct {
		name string
		in   corev1.VolumeSource
		want corev1.VolumeSource
	}{
		{"a volume without a source is an emptyDir", corev1.VolumeSource{}, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{"hostPath type is the empty type", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
			corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data", Type: ptr.To(corev1.HostPathUnset)}}},
		{"a set hostPath type is kept", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/d", Type: ptr.To(corev1.HostPathDirectory)}},
			corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/d", Type: ptr.To(corev1.HostPathDirectory)}}},
		{"secret files are 0644", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}},
			corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: mode}}},
		{"a set secret mode is kept", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr.To(int32(0o400))}},
			corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr.To(int32(0o400))}}},
		{"configMap files are 0644", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}},
			corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, DefaultMode: mode}}},
		{"downwardAPI files are 0644 and field references v1",
			corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			}}},
			corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{DefaultMode: mode, Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			}}}},
		{"projected files are 0644 and service account tokens last an hour",
			corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
				}}},
			}}},
			corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: mode, Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(3600))}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}},
				}}},
			}}}},
		{"ephemeral volume claims are filesystems",
			corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}},
			corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
				Spec: corev1.PersistentVolumeClaimSpec{VolumeMode: ptr.To(corev1.PersistentVolumeFilesystem)},
			}}}},
		{"image volumes get a pull policy from their tag",
			corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example/data:v1"}},
			corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example/data:v1", PullPolicy: corev1.PullIfNotPresent}}},
		{"in-tree RBD volumes get upstream's pool, user and keyring",
			corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{RBDImage: "img"}},
			corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{RBDImage: "img", RBDPool: "rbd", RadosUser: "admin", Keyring: "/etc/ceph/keyring"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: tt.in}}}
			PodSpec(spec)
			if got := spec.Volumes[0].VolumeSource; !apiequality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("volume\n got: %s\nwant: %s", toJSON(t, got), toJSON(t, tt.want))
			}
		})
	}
}

func TestImagePullPolicy(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"nginx@" + digest, corev1.PullIfNotPresent},
		{"nginx:latest@" + digest, corev1.PullAlways},
		{"library/nginx:1.27-alpine", corev1.PullIfNotPresent},
		{"localhost:5000/app", corev1.PullAlways},
		{"localhost:5000/app:v1", corev1.PullIfNotPresent},
		{"registry.example.com:5000/team/app:1.0", corev1.PullIfNotPresent},
		{"[::1]:5000/app", corev1.PullAlways},
		{"Registry/app", corev1.PullAlways},
		// References that do not parse: validation rejects them, the policy does not matter but is upstream's.
		{"", corev1.PullIfNotPresent},
		{"Nginx", corev1.PullIfNotPresent},
		{"nginx:", corev1.PullIfNotPresent},
		{"nginx@sha256:abc", corev1.PullIfNotPresent},
		{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if got := pullPolicyFor(tt.image); got != tt.want {
				t.Errorf("pull policy of %q = %s, want %s", tt.image, got, tt.want)
			}
		})
	}
}

func TestPodTemplateSpecLeavesPodOnlyDefaultsOut(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
		Name: "app", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
	}}}}
	PodTemplateSpec(tmpl)
	c := tmpl.Spec.Containers[0]
	if tmpl.Spec.EnableServiceLinks != nil || c.Resources.Requests != nil || c.Ports[0].HostPort != 0 {
		t.Errorf("template got pod-only defaults: %s", toJSON(t, tmpl))
	}
	if c.ImagePullPolicy != corev1.PullAlways || c.Ports[0].Protocol != corev1.ProtocolTCP || tmpl.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Errorf("template did not get the pod spec defaults: %s", toJSON(t, tmpl))
	}
}

func TestServiceDefaults(t *testing.T) {
	port := func(p int32) corev1.ServicePort { return corev1.ServicePort{Port: p} }
	defaultedPort := func(p int32) corev1.ServicePort {
		return corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(p)}
	}
	cluster := ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
	tests := []struct {
		name string
		in   corev1.ServiceSpec
		want corev1.ServiceSpec
	}{
		{
			name: "a bare service is a ClusterIP service without affinity, ports TCP to the same port",
			in:   corev1.ServiceSpec{Ports: []corev1.ServicePort{port(80)}},
			want: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
				Ports: []corev1.ServicePort{defaultedPort(80)}, InternalTrafficPolicy: cluster,
			},
		},
		{
			name: "set protocols, target ports and policies are kept",
			in: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{
					{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
					{Port: 80, TargetPort: intstr.FromInt32(8080)},
				},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
				InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
			},
			want: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, SessionAffinity: corev1.ServiceAffinityNone,
				Ports: []corev1.ServicePort{
					{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
					{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)},
				},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
				InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
			},
		},
		{
			name: "NodePort services route external traffic cluster-wide",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{port(80)}},
			want: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, SessionAffinity: corev1.ServiceAffinityNone, Ports: []corev1.ServicePort{defaultedPort(80)},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: cluster,
			},
		},
		{
			name: "LoadBalancer services also allocate node ports and report VIP ingress",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{port(443)}},
			want: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityNone, Ports: []corev1.ServicePort{defaultedPort(443)},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: cluster,
				AllocateLoadBalancerNodePorts: ptr.To(true),
			},
		},
		{
			name: "a ClusterIP service with external IPs is externally accessible",
			in:   corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.1"}},
			want: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone, ExternalIPs: []string{"192.0.2.1"},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: cluster,
			},
		},
		{
			name: "ExternalName services get no traffic policy",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone},
		},
		{
			name: "ClientIP affinity lasts three hours unless set",
			in:   corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP},
			want: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityClientIP, InternalTrafficPolicy: cluster,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(10800))}},
			},
		},
		{
			name: "no affinity drops an affinity config",
			in: corev1.ServiceSpec{
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(60))}},
			},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: cluster},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Service, &corev1.Service{Spec: tt.in}, &corev1.Service{Spec: tt.want})
		})
	}
}

func TestServiceLeavesAllocationsToTheAllocators(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}}}
	Service(svc)
	if svc.Spec.ClusterIP != "" || svc.Spec.IPFamilyPolicy != nil || svc.Spec.IPFamilies != nil || svc.Spec.Ports[0].NodePort != 0 {
		t.Errorf("service got allocations: %s", toJSON(t, svc.Spec))
	}
}

func TestServiceLoadBalancerIngressGetsVIPMode(t *testing.T) {
	svc := &corev1.Service{
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{IP: "192.0.2.10"}, {Hostname: "lb.example.com"}, {IP: "192.0.2.11", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)},
		}}},
	}
	Service(svc)
	ing := svc.Status.LoadBalancer.Ingress
	if ptr.Deref(ing[0].IPMode, "") != corev1.LoadBalancerIPModeVIP || ing[1].IPMode != nil || *ing[2].IPMode != corev1.LoadBalancerIPModeProxy {
		t.Errorf("ingress = %s", toJSON(t, ing))
	}
}

func TestNamespaceDefaults(t *testing.T) {
	deleting := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		name string
		in   *corev1.Namespace
		want *corev1.Namespace
	}{
		{
			name: "a new namespace is labelled with its name, Active, with the kubernetes finalizer",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
		{
			name: "other finalizers and labels are kept, the name label is corrected",
			in: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "x", "env": "prod"}},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/cleanup"}},
			},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a", "env": "prod"}},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/cleanup", "kubernetes"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
		{
			name: "a namespace being deleted does not get the finalizer back",
			in: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "old", DeletionTimestamp: &deleting},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "old", DeletionTimestamp: &deleting, Labels: map[string]string{"kubernetes.io/metadata.name": "old"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
		},
		{
			name: "a namespace still to be named gets no name label",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, Namespace, tt.in, tt.want) })
	}
}

func TestPersistentVolumeDefaults(t *testing.T) {
	check(t, PersistentVolume,
		&corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
		}},
		&corev1.PersistentVolume{
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data", Type: ptr.To(corev1.HostPathUnset)}},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
		})
	t.Run("set values are kept", func(t *testing.T) {
		pv := &corev1.PersistentVolume{
			Spec: corev1.PersistentVolumeSpec{
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				VolumeMode:                    ptr.To(corev1.PersistentVolumeBlock),
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
		}
		check(t, PersistentVolume, pv.DeepCopy(), pv)
	})
}

func TestPersistentVolumeClaimDefaults(t *testing.T) {
	check(t, PersistentVolumeClaim,
		&corev1.PersistentVolumeClaim{},
		&corev1.PersistentVolumeClaim{
			Spec:   corev1.PersistentVolumeClaimSpec{VolumeMode: ptr.To(corev1.PersistentVolumeFilesystem)},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		})
	t.Run("set values are kept", func(t *testing.T) {
		pvc := &corev1.PersistentVolumeClaim{
			Spec:   corev1.PersistentVolumeClaimSpec{VolumeMode: ptr.To(corev1.PersistentVolumeBlock)},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
		}
		check(t, PersistentVolumeClaim, pvc.DeepCopy(), pvc)
	})
}

func TestSmallCoreKindDefaults(t *testing.T) {
	t.Run("secrets are Opaque", func(t *testing.T) {
		check(t, Secret, &corev1.Secret{}, &corev1.Secret{Type: corev1.SecretTypeOpaque})
	})
	t.Run("a secret type is kept", func(t *testing.T) {
		check(t, Secret, &corev1.Secret{Type: corev1.SecretTypeTLS}, &corev1.Secret{Type: corev1.SecretTypeTLS})
	})
	t.Run("config maps get an empty data map", func(t *testing.T) {
		check(t, ConfigMap, &corev1.ConfigMap{}, &corev1.ConfigMap{Data: map[string]string{}})
	})
	t.Run("endpoint ports are TCP", func(t *testing.T) {
		check(t, Endpoints,
			&corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}},
			&corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{
				{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP},
			}}}})
	})
	t.Run("a node's allocatable defaults to its capacity", func(t *testing.T) {
		capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")}
		node := &corev1.Node{Status: corev1.NodeStatus{Capacity: capacity}}
		check(t, Node, node, &corev1.Node{Status: corev1.NodeStatus{Capacity: capacity.DeepCopy(), Allocatable: capacity.DeepCopy()}})
		node.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("3")
		if node.Status.Capacity.Cpu().String() != "4" {
			t.Errorf("allocatable shares its map with capacity")
		}
	})
	t.Run("a node's allocatable is kept", func(t *testing.T) {
		node := &corev1.Node{Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3500m")},
		}}
		check(t, Node, node.DeepCopy(), node)
	})
	t.Run("quota quantities are rounded to milli units", func(t *testing.T) {
		check(t, ResourceQuota,
			&corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0001")}}},
			&corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")}}})
	})
	t.Run("container limit ranges default the limit to max and the request to the limit, else min", func(t *testing.T) {
		check(t, LimitRange,
			&corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
				{
					Type: corev1.LimitTypeContainer,
					Max:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Min:  corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
				{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
			}}},
			&corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
				{
					Type:           corev1.LimitTypeContainer,
					Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Min:            corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
					Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
				{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
			}}})
	})
}

func TestReplicationControllerDefaults(t *testing.T) {
	labels := map[string]string{"app": "web"}
	template := func() *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}}},
		}
	}
	defaultedTemplate := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       defaultedPodSpec(defaultedContainer("app", "nginx:1", corev1.PullIfNotPresent)),
	}
	t.Run("one replica, selector and labels from the template", func(t *testing.T) {
		check(t, ReplicationController,
			&corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: template()}},
			&corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To(int32(1)), Selector: labels, Template: defaultedTemplate},
			})
	})
	t.Run("set replicas, selector and labels are kept", func(t *testing.T) {
		check(t, ReplicationController,
			&corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": "front"}},
				Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To(int32(0)), Selector: map[string]string{"app": "web"}, Template: template()},
			},
			&corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": "front"}},
				Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To(int32(0)), Selector: labels, Template: defaultedTemplate},
			})
	})
	t.Run("the selector is a copy of the template's labels", func(t *testing.T) {
		rc := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: template()}}
		ReplicationController(rc)
		rc.Spec.Template.Labels["extra"] = "x"
		if len(rc.Spec.Selector) != 1 || len(rc.Labels) != 1 {
			t.Errorf("selector %v and labels %v follow later template changes", rc.Spec.Selector, rc.Labels)
		}
	})
	t.Run("pod templates are defaulted", func(t *testing.T) {
		check(t, PodTemplate, &corev1.PodTemplate{Template: *template()}, &corev1.PodTemplate{Template: *defaultedTemplate})
	})
}

func TestCoreKindsWithoutDefaultsAreLeftAsWritten(t *testing.T) {
	event := &corev1.Event{Source: corev1.EventSource{Component: "kubelet", Host: "node-a"}, Message: "m"}
	check(t, Event, event.DeepCopy(), event)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	check(t, ServiceAccount, sa.DeepCopy(), sa)
	binding := &corev1.Binding{Target: corev1.ObjectReference{Kind: "Node", Name: "n"}}
	check(t, Binding, binding.DeepCopy(), binding)
}
