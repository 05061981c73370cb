package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validService is a ClusterIP service as stored after defaulting and IP allocation.
func validService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
			ClusterIP:             "10.43.0.20",
			ClusterIPs:            []string{"10.43.0.20"},
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr(corev1.IPFamilyPolicySingleStack),
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}
}

func asNodePort(s *corev1.Service) {
	s.Spec.Type = corev1.ServiceTypeNodePort
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	s.Spec.Ports[0].NodePort = 30080
}

func asLoadBalancer(s *corev1.Service) {
	asNodePort(s)
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	s.Spec.AllocateLoadBalancerNodePorts = ptr(true)
}

func asHeadless(s *corev1.Service) {
	s.Spec.ClusterIP = corev1.ClusterIPNone
	s.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
}

func asExternalName(s *corev1.Service) {
	s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone}
}

func TestValidateService(t *testing.T) {
	runCases(t, validService, ValidateService, []tcase[corev1.Service]{
		{name: "cluster IP service passes"},
		{name: "service without an IP yet passes", mutate: func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil }},
		{name: "dual-stack service passes", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.43.0.20", "fd00:43::20"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			s.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicyPreferDualStack)
		}},
		{name: "node port service passes", mutate: asNodePort},
		{name: "load balancer service passes", mutate: asLoadBalancer},
		{name: "headless service without ports passes", mutate: func(s *corev1.Service) { asHeadless(s); s.Spec.Ports = nil }},
		{name: "external name service passes", mutate: asExternalName},
		{name: "fully qualified external name passes", mutate: func(s *corev1.Service) { asExternalName(s); s.Spec.ExternalName = "db.example.com." }},
		{name: "client IP affinity with a timeout passes", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr[int32](10800)}}
		}},

		{name: "name must be a DNS-1035 label", mutate: func(s *corev1.Service) { s.Name = "1web" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "dots are not allowed in service names", mutate: func(s *corev1.Service) { s.Name = "web.v1" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "namespace is required", mutate: func(s *corev1.Service) { s.Namespace = "" }, typ: field.ErrorTypeRequired, field: "metadata.namespace"},
		{name: "ports are required", mutate: func(s *corev1.Service) { s.Spec.Ports = nil }, typ: field.ErrorTypeRequired, field: "spec.ports"},
		{name: "port is 1-65535", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, typ: field.ErrorTypeInvalid, field: "spec.ports[0].port"},
		{name: "port protocol is required", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "" }, typ: field.ErrorTypeRequired, field: "spec.ports[0].protocol"},
		{name: "port protocol is an enum", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }, typ: field.ErrorTypeNotSupported, field: "spec.ports[0].protocol"},
		{name: "names are required with several ports", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP})
		}, typ: field.ErrorTypeRequired, field: "spec.ports[1].name"},
		{name: "port names are unique", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP})
		}, typ: field.ErrorTypeDuplicate, field: "spec.ports[1].name"},
		{name: "port names are DNS labels", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Name = "HTTP" }, typ: field.ErrorTypeInvalid, field: "spec.ports[0].name"},
		{name: "ports are unique per protocol", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "alt", Port: 80, TargetPort: intstr.FromInt32(8081), Protocol: corev1.ProtocolTCP})
		}, typ: field.ErrorTypeDuplicate, field: "spec.ports[1]"},
		{name: "the same port may serve two protocols", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolUDP})
		}},
		{name: "targetPort is a port number or name", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) },
			typ: field.ErrorTypeInvalid, field: "spec.ports[0].targetPort"},
		{name: "named targetPort must be an IANA name", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("--web") },
			typ: field.ErrorTypeInvalid, field: "spec.ports[0].targetPort"},
		{name: "nodePort is a port number", mutate: func(s *corev1.Service) { asNodePort(s); s.Spec.Ports[0].NodePort = 70000 },
			typ: field.ErrorTypeInvalid, field: "spec.ports[0].nodePort"},
		{name: "nodePort outside the allocator range is left to the allocator", mutate: func(s *corev1.Service) { asNodePort(s); s.Spec.Ports[0].NodePort = 8080 }},
		{name: "ClusterIP services have no node ports", mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			typ: field.ErrorTypeForbidden, field: "spec.ports[0].nodePort"},
		{name: "node ports are unique", mutate: func(s *corev1.Service) {
			asNodePort(s)
			s.Spec.Ports = []corev1.ServicePort{
				{Name: "a", Port: 80, TargetPort: intstr.FromInt32(80), Protocol: corev1.ProtocolTCP, NodePort: 30001},
				{Name: "b", Port: 81, TargetPort: intstr.FromInt32(81), Protocol: corev1.ProtocolTCP, NodePort: 30001},
			}
		}, typ: field.ErrorTypeDuplicate, field: "spec.ports[1].nodePort"},
		{name: "appProtocol is a qualified name", mutate: func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = ptr("not valid") },
			typ: field.ErrorTypeInvalid, field: "spec.ports[0].appProtocol"},
		{name: "type is required", mutate: func(s *corev1.Service) { s.Spec.Type = "" }, typ: field.ErrorTypeRequired, field: "spec.type"},
		{name: "type is an enum", mutate: func(s *corev1.Service) { s.Spec.Type = "Internal" }, typ: field.ErrorTypeNotSupported, field: "spec.type"},
		{name: "selector holds labels", mutate: func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} },
			typ: field.ErrorTypeInvalid, field: "spec.selector"},
		{name: "sessionAffinity is required", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "" }, typ: field.ErrorTypeRequired, field: "spec.sessionAffinity"},
		{name: "sessionAffinity is an enum", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }, typ: field.ErrorTypeNotSupported, field: "spec.sessionAffinity"},
		{name: "ClientIP affinity needs a config", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP },
			typ: field.ErrorTypeRequired, field: "spec.sessionAffinityConfig"},
		{name: "ClientIP timeout is at most a day", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr[int32](86401)}}
		}, typ: field.ErrorTypeInvalid, field: "spec.sessionAffinityConfig.clientIP.timeoutSeconds"},
		{name: "affinity config is refused without affinity", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr[int32](10)}}
		}, typ: field.ErrorTypeForbidden, field: "spec.sessionAffinityConfig"},
		{name: "clusterIPs mirror clusterIP", mutate: func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.43.0.21"} },
			typ: field.ErrorTypeInvalid, field: "spec.clusterIPs", detail: "first value must match `clusterIP`"},
		{name: "clusterIP must be an IP or None", mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "auto"; s.Spec.ClusterIPs = []string{"auto"} },
			typ: field.ErrorTypeInvalid, field: "spec.clusterIPs[0]"},
		{name: "None stands alone", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = corev1.ClusterIPNone
			s.Spec.ClusterIPs = []string{corev1.ClusterIPNone, "fd00::1"}
		}, typ: field.ErrorTypeInvalid, field: "spec.clusterIPs", detail: "'None' must be the first and only value"},
		{name: "one cluster IP per family", mutate: func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.43.0.20", "10.43.0.21"} },
			typ: field.ErrorTypeInvalid, field: "spec.clusterIPs", detail: "may specify no more than one IP for each IP family"},
		{name: "cluster IP family matches ipFamilies", mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			typ: field.ErrorTypeInvalid, field: "spec.clusterIPs[0]"},
		{name: "ipFamilies is an enum", mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} },
			typ: field.ErrorTypeNotSupported, field: "spec.ipFamilies[0]"},
		{name: "ipFamilyPolicy is an enum", mutate: func(s *corev1.Service) { s.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicy("Any")) },
			typ: field.ErrorTypeNotSupported, field: "spec.ipFamilyPolicy"},
		{name: "NodePort services cannot be headless", mutate: func(s *corev1.Service) { asNodePort(s); asHeadless(s) },
			typ: field.ErrorTypeInvalid, field: "spec.clusterIPs[0]"},
		{name: "external name is required", mutate: func(s *corev1.Service) { asExternalName(s); s.Spec.ExternalName = "" },
			typ: field.ErrorTypeRequired, field: "spec.externalName"},
		{name: "external name is a DNS name", mutate: func(s *corev1.Service) { asExternalName(s); s.Spec.ExternalName = "not_a_host" },
			typ: field.ErrorTypeInvalid, field: "spec.externalName"},
		{name: "external name services get no cluster IP", mutate: func(s *corev1.Service) { asExternalName(s); s.Spec.ClusterIPs = []string{"10.43.0.1"} },
			typ: field.ErrorTypeForbidden, field: "spec.clusterIPs"},
		{name: "external IPs are IPs", mutate: func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"example.com"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, typ: field.ErrorTypeInvalid, field: "spec.externalIPs[0]"},
		{name: "external IPs are not loopback", mutate: func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"127.0.0.1"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, typ: field.ErrorTypeInvalid, field: "spec.externalIPs[0]", detail: "loopback"},
		{name: "externalTrafficPolicy is required for node ports", mutate: func(s *corev1.Service) { asNodePort(s); s.Spec.ExternalTrafficPolicy = "" },
			typ: field.ErrorTypeRequired, field: "spec.externalTrafficPolicy"},
		{name: "externalTrafficPolicy is refused for internal services", mutate: func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			typ: field.ErrorTypeInvalid, field: "spec.externalTrafficPolicy"},
		{name: "local load balancers need a health check port", mutate: func(s *corev1.Service) {
			asLoadBalancer(s)
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, typ: field.ErrorTypeRequired, field: "spec.healthCheckNodePort"},
		{name: "internalTrafficPolicy is required", mutate: func(s *corev1.Service) { s.Spec.InternalTrafficPolicy = nil },
			typ: field.ErrorTypeRequired, field: "spec.internalTrafficPolicy"},
		{name: "load balancers need allocateLoadBalancerNodePorts", mutate: func(s *corev1.Service) { asLoadBalancer(s); s.Spec.AllocateLoadBalancerNodePorts = nil },
			typ: field.ErrorTypeRequired, field: "spec.allocateLoadBalancerNodePorts"},
		{name: "source ranges are for load balancers", mutate: func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			typ: field.ErrorTypeForbidden, field: "spec.loadBalancerSourceRanges"},
		{name: "source ranges are CIDRs", mutate: func(s *corev1.Service) { asLoadBalancer(s); s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0"} },
			typ: field.ErrorTypeInvalid, field: "spec.loadBalancerSourceRanges[0]"},
		{name: "loadBalancerClass is for load balancers", mutate: func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr("example.com/lb") },
			typ: field.ErrorTypeForbidden, field: "spec.loadBalancerClass"},
		{name: "trafficDistribution is an enum", mutate: func(s *corev1.Service) { s.Spec.TrafficDistribution = ptr("Anywhere") },
			typ: field.ErrorTypeNotSupported, field: "spec.trafficDistribution"},
	})
}

func TestValidateServiceUpdate(t *testing.T) {
	runUpdateCases(t, validService, ValidateServiceUpdate, []ucase[corev1.Service]{
		{name: "port change passes", change: func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 }},
		{name: "type change to NodePort passes", change: asNodePort},
		{name: "cluster IP may not change", change: func(s *corev1.Service) { s.Spec.ClusterIP = "10.43.0.30"; s.Spec.ClusterIPs = []string{"10.43.0.30"} },
			typ: field.ErrorTypeInvalid, field: "spec.clusterIPs[0]", detail: "may not change once set"},
		{name: "a secondary cluster IP may be added", change: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.43.0.20", "fd00:43::20"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			s.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicyPreferDualStack)
		}},
		{name: "releasing the secondary cluster IP requires SingleStack", setup: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.43.0.20", "fd00:43::20"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			s.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicyPreferDualStack)
		}, change: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.43.0.20"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}, typ: field.ErrorTypeInvalid, field: "spec.ipFamilyPolicy"},
		{name: "primary ip family may not change", change: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			typ: field.ErrorTypeInvalid, field: "spec.ipFamilies[0]"},
		{name: "switching to ExternalName drops the IPs", change: asExternalName},
		{name: "load balancer class is fixed", setup: func(s *corev1.Service) { asLoadBalancer(s); s.Spec.LoadBalancerClass = ptr("example.com/a") },
			change: func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr("example.com/b") }, typ: field.ErrorTypeInvalid, field: "spec.loadBalancerClass"},
		{name: "health check port is fixed", setup: func(s *corev1.Service) {
			asLoadBalancer(s)
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 31000
		}, change: func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 31001 }, typ: field.ErrorTypeForbidden, field: "spec.healthCheckNodePort"},
		{name: "the new object is validated too", change: func(s *corev1.Service) { s.Spec.Ports = nil }, typ: field.ErrorTypeRequired, field: "spec.ports"},
	})
}

func TestValidateServiceStatusUpdate(t *testing.T) {
	runUpdateCases(t, func() *corev1.Service { s := validService(); asLoadBalancer(s); return s }, ValidateServiceStatusUpdate, []ucase[corev1.Service]{
		{name: "ingress IP with mode passes", change: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.1.10", IPMode: ptr(corev1.LoadBalancerIPModeVIP)}}
		}},
		{name: "ingress hostname passes", change: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}}
		}},
		{name: "ingress IP needs an IP mode", change: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.1.10"}}
		}, typ: field.ErrorTypeRequired, field: "status.loadBalancer.ingress[0].ipMode"},
		{name: "ingress IP must be valid", change: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.1", IPMode: ptr(corev1.LoadBalancerIPModeVIP)}}
		}, typ: field.ErrorTypeInvalid, field: "status.loadBalancer.ingress[0].ip"},
		{name: "ingress hostname is not an IP", change: func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "10.0.0.1"}}
		}, typ: field.ErrorTypeInvalid, field: "status.loadBalancer.ingress[0].hostname"},
	})
}

func validEndpoints() *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.42.0.7", NodeName: ptr("node-1"), Hostname: "web-0"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.42.0.8"}},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

func TestValidateEndpoints(t *testing.T) {
	runCases(t, validEndpoints, ValidateEndpoints, []tcase[corev1.Endpoints]{
		{name: "valid endpoints pass"},
		{name: "headless endpoints may omit ports", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports = nil }},
		{name: "a subset needs addresses", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses, e.Subsets[0].NotReadyAddresses = nil, nil },
			typ: field.ErrorTypeRequired, field: "subsets[0]"},
		{name: "addresses are IPs", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "pod.local" },
			typ: field.ErrorTypeInvalid, field: "subsets[0].addresses[0].ip"},
		{name: "addresses are not link-local", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "169.254.169.254" },
			typ: field.ErrorTypeInvalid, field: "subsets[0].addresses[0].ip", detail: "link-local"},
		{name: "not-ready addresses are validated too", mutate: func(e *corev1.Endpoints) { e.Subsets[0].NotReadyAddresses[0].IP = "0.0.0.0" },
			typ: field.ErrorTypeInvalid, field: "subsets[0].notReadyAddresses[0].ip"},
		{name: "hostname is a DNS label", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].Hostname = "web.0" },
			typ: field.ErrorTypeInvalid, field: "subsets[0].addresses[0].hostname"},
		{name: "node name is a DNS subdomain", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].NodeName = ptr("Node 1") },
			typ: field.ErrorTypeInvalid, field: "subsets[0].addresses[0].nodeName"},
		{name: "port is 1-65535", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 },
			typ: field.ErrorTypeInvalid, field: "subsets[0].ports[0].port"},
		{name: "port protocol is required", mutate: func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Protocol = "" },
			typ: field.ErrorTypeRequired, field: "subsets[0].ports[0].protocol"},
		{name: "port names are required with several ports", mutate: func(e *corev1.Endpoints) {
			e.Subsets[0].Ports = append(e.Subsets[0].Ports, corev1.EndpointPort{Port: 9090, Protocol: corev1.ProtocolTCP})
		}, typ: field.ErrorTypeRequired, field: "subsets[0].ports[1].name"},
	})
	runUpdateCases(t, validEndpoints, ValidateEndpointsUpdate, []ucase[corev1.Endpoints]{
		{name: "node name may change", change: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].NodeName = ptr("node-2") }},
		{name: "new subsets are validated", change: func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "x" },
			typ: field.ErrorTypeInvalid, field: "subsets[0].addresses[0].ip"},
	})
}
