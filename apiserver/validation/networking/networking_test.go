package networking

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

func path(p string, more ...string) *field.Path { return field.NewPath(p, more...) }

func serviceBackend(name string, port int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: port}}}
}

func validIngress() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{
				Host: "app.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: serviceBackend("web", 80)},
					{Path: "/healthz", PathType: ptr.To(networkingv1.PathTypeExact), Backend: networkingv1.IngressBackend{
						Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}},
					}},
				}}},
			}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"app.example.com", "*.example.com"}, SecretName: "app-tls"}},
		},
	}
}

func TestValidateIngress(t *testing.T) {
	rule := path("spec", "rules").Index(0)
	paths := rule.Child("http", "paths")
	backend := paths.Index(0).Child("backend")
	cases := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   field.ErrorList
	}{
		{"valid ingress passes", func(*networkingv1.Ingress) {}, nil},
		{"default backend alone passes", func(i *networkingv1.Ingress) {
			i.Spec.Rules, i.Spec.TLS = nil, nil
			b := serviceBackend("web", 8080)
			i.Spec.DefaultBackend = &b
		}, nil},
		{"wildcard host and resource backend pass", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].Host = "*.example.com"
			i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{
				APIGroup: ptr.To("storage.example.com"), Kind: "Bucket", Name: "static"}}
		}, nil},
		{"rules or default backend are required", func(i *networkingv1.Ingress) { i.Spec.Rules = nil }, field.ErrorList{
			field.Invalid(path("spec"), nil, "either `defaultBackend` or `rules` must be specified"),
		}},
		{"host may not be an IP", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }, field.ErrorList{
			field.Invalid(rule.Child("host"), nil, "must be a DNS name, not an IP address"),
		}},
		{"host must be a DNS name", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "App.Example.com" }, field.ErrorList{
			field.Invalid(rule.Child("host"), nil, "RFC 1123 subdomain"),
		}},
		{"wildcard must be the whole first label", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "app*.example.com" }, field.ErrorList{
			field.Invalid(rule.Child("host"), nil, "wildcard DNS-1123 subdomain"),
		}},
		{"http rule needs paths", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil }, field.ErrorList{
			field.Required(paths, ""),
		}},
		{"pathType is required", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil }, field.ErrorList{
			field.Required(paths.Index(0).Child("pathType"), "pathType must be specified"),
		}},
		{"unknown pathType is not supported", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = ptr.To[networkingv1.PathType]("Regex")
		}, field.ErrorList{
			field.NotSupported(paths.Index(0).Child("pathType"), "Regex", []string{"Exact", "ImplementationSpecific", "Prefix"}),
		}},
		{"Prefix paths must be absolute", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "api" }, field.ErrorList{
			field.Invalid(paths.Index(0).Child("path"), nil, "must be an absolute path"),
		}},
		{"Exact paths must be clean", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[1].Path = "/a//b/.." }, field.ErrorList{
			field.Invalid(paths.Index(1).Child("path"), nil, "must not contain '//'"),
			field.Invalid(paths.Index(1).Child("path"), nil, "cannot end with '/..'"),
		}},
		{"ImplementationSpecific paths may be empty", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = ptr.To(networkingv1.PathTypeImplementationSpecific)
			i.Spec.Rules[0].HTTP.Paths[0].Path = ""
		}, nil},
		{"a backend is required", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{} }, field.ErrorList{
			field.Invalid(backend, nil, "resource or service backend is required"),
		}},
		{"service and resource backends are exclusive", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Resource = &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}
		}, field.ErrorList{
			field.Invalid(backend, nil, "cannot set both resource and service backends"),
		}},
		{"service name must be a DNS-1035 label", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend = serviceBackend("1web", 80)
		}, field.ErrorList{
			field.Invalid(backend.Child("service", "name"), nil, "DNS-1035 label"),
		}},
		{"service name is required", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend = serviceBackend("", 80) }, field.ErrorList{
			field.Required(backend.Child("service", "name"), ""),
		}},
		{"port name and number are exclusive", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "http"
		}, field.ErrorList{
			field.Invalid(backend, nil, "cannot set both port name & port number"),
		}},
		{"a port is required", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend = serviceBackend("web", 0) }, field.ErrorList{
			field.Required(backend, "port name or number is required"),
		}},
		{"port number must be in range", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend = serviceBackend("web", 70000) }, field.ErrorList{
			field.Invalid(backend.Child("service", "port", "number"), nil, "between 1 and 65535"),
		}},
		{"resource backend needs kind and name", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{APIGroup: ptr.To("Bad_Group")}}
		}, field.ErrorList{
			field.Invalid(backend.Child("resource", "apiGroup"), nil, ""),
			field.Required(backend.Child("resource", "kind"), "kind is required"),
			field.Required(backend.Child("resource", "name"), "name is required"),
		}},
		{"TLS hosts and secret names are checked", func(i *networkingv1.Ingress) {
			i.Spec.TLS = append(i.Spec.TLS, networkingv1.IngressTLS{Hosts: []string{"bad_host"}, SecretName: "Bad_Secret"})
		}, field.ErrorList{
			field.Invalid(path("spec", "tls").Index(1).Child("hosts").Index(0), nil, ""),
			field.Invalid(path("spec", "tls").Index(1).Child("secretName"), nil, ""),
		}},
		{"ingressClassName must be a DNS subdomain", func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To("Nginx!") }, field.ErrorList{
			field.Invalid(path("spec", "ingressClassName"), nil, ""),
		}},
		{"class annotation must agree with ingressClassName", func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{"kubernetes.io/ingress.class": "traefik"}
		}, field.ErrorList{
			field.Invalid(path("metadata", "annotations").Key("kubernetes.io/ingress.class"), nil, "must match `ingressClassName`"),
		}},
		{"matching class annotation passes", func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := validIngress()
			tc.mutate(i)
			matcher.Test(t, tc.want, ValidateIngress(i))
		})
	}
}

func TestValidateIngressUpdate(t *testing.T) {
	old := validIngress()
	ing := old.DeepCopy()
	ing.Spec.Rules[0].Host = "other.example.com"
	matcher.Test(t, nil, ValidateIngressUpdate(ing, old))

	ing.Spec.TLS[0].SecretName = "Bad_Secret"
	matcher.Test(t, field.ErrorList{field.Invalid(path("spec", "tls").Index(0).Child("secretName"), nil, "")}, ValidateIngressUpdate(ing, old))
}

func TestValidateIngressUpdateToleratesExistingInvalidData(t *testing.T) {
	old := validIngress()
	old.Spec.TLS[0].SecretName = "Bad_Secret"
	old.Spec.Rules[0].Host = "*.example.com"
	old.Spec.Rules[0].HTTP.Paths[0].Path = "relative"
	ing := old.DeepCopy()
	ing.Labels = map[string]string{"team": "web"}
	matcher.Test(t, nil, ValidateIngressUpdate(ing, old))
}

func TestValidateIngressStatusUpdate(t *testing.T) {
	old := validIngress()
	ing := old.DeepCopy()
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.10"}, {Hostname: "lb.example.com"}}
	matcher.Test(t, nil, ValidateIngressStatusUpdate(ing, old))

	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "300.1.1.1"}, {Hostname: "192.0.2.10"}}
	lb := path("status", "loadBalancer", "ingress")
	matcher.Test(t, field.ErrorList{
		field.Invalid(lb.Index(0).Child("ip"), nil, ""),
		field.Invalid(lb.Index(1).Child("hostname"), nil, "must be a DNS name, not an IP address"),
	}, ValidateIngressStatusUpdate(ing, old))
}

func validIngressClass() *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", ResourceVersion: "1"},
		Spec: networkingv1.IngressClassSpec{
			Controller: "k8s.io/ingress-nginx",
			Parameters: &networkingv1.IngressClassParametersReference{
				APIGroup: ptr.To("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb",
				Scope: ptr.To(networkingv1.IngressClassParametersReferenceScopeNamespace), Namespace: ptr.To("ingress"),
			},
		},
	}
}

func TestValidateIngressClass(t *testing.T) {
	params := path("spec", "parameters")
	cases := []struct {
		name   string
		mutate func(*networkingv1.IngressClass)
		want   field.ErrorList
	}{
		{"valid class passes", func(*networkingv1.IngressClass) {}, nil},
		{"class is cluster-scoped", func(c *networkingv1.IngressClass) { c.Namespace = "default" }, field.ErrorList{
			field.Forbidden(path("metadata", "namespace"), "not allowed on this type"),
		}},
		{"controller is required", func(c *networkingv1.IngressClass) { c.Spec.Controller = "" }, field.ErrorList{
			field.Required(path("spec", "controller"), ""),
		}},
		{"controller must be domain-prefixed", func(c *networkingv1.IngressClass) { c.Spec.Controller = "nginx" }, field.ErrorList{
			field.Invalid(path("spec", "controller"), nil, ""),
		}},
		{"controller is limited to 250 characters", func(c *networkingv1.IngressClass) { c.Spec.Controller = "example.com/" + strings.Repeat("x", 250) }, field.ErrorList{
			field.TooLong(path("spec", "controller"), "", 250),
		}},
		{"parameters scope is required", func(c *networkingv1.IngressClass) { c.Spec.Parameters.Scope = nil }, field.ErrorList{
			field.Required(params.Child("scope"), ""),
		}},
		{"namespaced parameters need a namespace", func(c *networkingv1.IngressClass) { c.Spec.Parameters.Namespace = nil }, field.ErrorList{
			field.Required(params.Child("namespace"), "`parameters.scope` is set to 'Namespace'"),
		}},
		{"cluster parameters take no namespace", func(c *networkingv1.IngressClass) {
			c.Spec.Parameters.Scope = ptr.To(networkingv1.IngressClassParametersReferenceScopeCluster)
		}, field.ErrorList{
			field.Forbidden(params.Child("namespace"), "`parameters.scope` is set to 'Cluster'"),
		}},
		{"unknown scope is not supported", func(c *networkingv1.IngressClass) { c.Spec.Parameters.Scope = ptr.To("Global") }, field.ErrorList{
			field.NotSupported(params.Child("scope"), "Global", []string{"Cluster", "Namespace"}),
		}},
		{"parameters need a kind", func(c *networkingv1.IngressClass) { c.Spec.Parameters.Kind = "" }, field.ErrorList{
			field.Required(params.Child("kind"), ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validIngressClass()
			tc.mutate(c)
			matcher.Test(t, tc.want, ValidateIngressClass(c))
		})
	}
}

func TestValidateIngressClassUpdate(t *testing.T) {
	old := validIngressClass()
	c := old.DeepCopy()
	c.Spec.Parameters.Name = "internal-lb"
	matcher.Test(t, nil, ValidateIngressClassUpdate(c, old))

	c.Spec.Controller = "example.com/other"
	matcher.Test(t, field.ErrorList{field.Invalid(path("spec", "controller"), nil, "field is immutable")}, ValidateIngressClassUpdate(c, old))
}

func validNetworkPolicy() *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-web", Namespace: "default", ResourceVersion: "1"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(5432))}, {Port: ptr.To(intstr.FromString("metrics"))}},
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, NamespaceSelector: &metav1.LabelSelector{}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}},
				},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(32000)), EndPort: ptr.To[int32](32768)}},
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "2001:db8::/32"}}},
			}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
}

func TestValidateNetworkPolicy(t *testing.T) {
	ingressPorts := path("spec", "ingress").Index(0).Child("ports")
	from := path("spec", "ingress").Index(0).Child("from")
	cases := []struct {
		name   string
		mutate func(*networkingv1.NetworkPolicy)
		want   field.ErrorList
	}{
		{"valid policy passes", func(*networkingv1.NetworkPolicy) {}, nil},
		{"deny-all policy passes", func(np *networkingv1.NetworkPolicy) {
			np.Spec = networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}
		}, nil},
		{"pod selector is validated", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Like", Values: []string{"w"}}}
		}, field.ErrorList{
			field.Invalid(path("spec", "podSelector", "matchExpressions").Index(0).Child("operator"), nil, ""),
		}},
		{"unknown protocol is not supported", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Protocol = ptr.To[corev1.Protocol]("ICMP")
		}, field.ErrorList{
			field.NotSupported(ingressPorts.Index(0).Child("protocol"), "ICMP", []string{"TCP", "UDP", "SCTP"}),
		}},
		{"port number must be in range", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Port = ptr.To(intstr.FromInt32(0))
		}, field.ErrorList{
			field.Invalid(ingressPorts.Index(0).Child("port"), nil, "between 1 and 65535"),
		}},
		{"port name must be valid", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[1].Port = ptr.To(intstr.FromString("metrics_port"))
		}, field.ErrorList{
			field.Invalid(ingressPorts.Index(1).Child("port"), nil, ""),
		}},
		{"endPort may not be below port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].EndPort = ptr.To[int32](80)
		}, field.ErrorList{
			field.Invalid(ingressPorts.Index(0).Child("endPort"), nil, "must be greater than or equal to `port`"),
		}},
		{"endPort must be in range", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].EndPort = ptr.To[int32](70000)
		}, field.ErrorList{
			field.Invalid(ingressPorts.Index(0).Child("endPort"), nil, "between 1 and 65535"),
		}},
		{"endPort needs a numeric port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[1].EndPort = ptr.To[int32](9000)
		}, field.ErrorList{
			field.Invalid(ingressPorts.Index(1).Child("endPort"), nil, "may not be specified when `port` is non-numeric"),
		}},
		{"endPort needs a port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[1] = networkingv1.NetworkPolicyPort{EndPort: ptr.To[int32](9000)}
		}, field.ErrorList{
			field.Invalid(ingressPorts.Index(1).Child("endPort"), nil, "may not be specified when `port` is not specified"),
		}},
		{"a peer must select something", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[0] = networkingv1.NetworkPolicyPeer{}
		}, field.ErrorList{
			field.Required(from.Index(0), "must specify a peer"),
		}},
		{"ipBlock may not be combined with selectors", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[1].PodSelector = &metav1.LabelSelector{}
		}, field.ErrorList{
			field.Forbidden(from.Index(1), "may not specify both ipBlock and another peer"),
		}},
		{"ipBlock cidr is required", func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].From[1].IPBlock.CIDR = "" }, field.ErrorList{
			field.Required(from.Index(1).Child("ipBlock", "cidr"), ""),
		}},
		{"ipBlock cidr must parse", func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].From[1].IPBlock.CIDR = "10.0.0.0/33" }, field.ErrorList{
			field.Invalid(from.Index(1).Child("ipBlock", "cidr"), nil, "must be a valid CIDR value"),
		}},
		{"except must be a strict subset of cidr", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[1].IPBlock.Except = []string{"192.168.0.0/16", "10.0.0.0/8", "not-a-cidr"}
		}, field.ErrorList{
			field.Invalid(from.Index(1).Child("ipBlock", "except").Index(0), nil, "must be a strict subset of `cidr`"),
			field.Invalid(from.Index(1).Child("ipBlock", "except").Index(1), nil, "must be a strict subset of `cidr`"),
			field.Invalid(from.Index(1).Child("ipBlock", "except").Index(2), nil, "must be a valid CIDR value"),
		}},
		{"egress peers are validated", func(np *networkingv1.NetworkPolicy) { np.Spec.Egress[0].To[0].IPBlock.CIDR = "2001:db8::/129" }, field.ErrorList{
			field.Invalid(path("spec", "egress").Index(0).Child("to").Index(0).Child("ipBlock", "cidr"), nil, ""),
		}},
		{"unknown policy type is not supported", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"Both"}
		}, field.ErrorList{
			field.NotSupported(path("spec", "policyTypes").Index(0), "Both", []string{"Ingress", "Egress"}),
		}},
		{"at most two policy types", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		}, field.ErrorList{
			field.Invalid(path("spec", "policyTypes"), nil, "may not specify more than two policyTypes"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			np := validNetworkPolicy()
			tc.mutate(np)
			matcher.Test(t, tc.want, ValidateNetworkPolicy(np))
		})
	}
}

func TestValidateNetworkPolicyUpdate(t *testing.T) {
	old := validNetworkPolicy()
	np := old.DeepCopy()
	np.Spec.Egress = nil
	np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	matcher.Test(t, nil, ValidateNetworkPolicyUpdate(np, old))

	np.Namespace = "other"
	matcher.Test(t, field.ErrorList{field.Invalid(path("metadata", "namespace"), nil, "field is immutable")}, ValidateNetworkPolicyUpdate(np, old))
}
