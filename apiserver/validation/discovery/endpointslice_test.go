package discovery

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

func path(p string, more ...string) *field.Path { return field.NewPath(p, more...) }

func validSlice() *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc12", Namespace: "default", ResourceVersion: "1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.42.0.7"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			Hostname:   ptr.To("web-0"),
			NodeName:   ptr.To("node-1"),
			Zone:       ptr.To("zone-a"),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
			Hints:      &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "zone-a"}}, ForNodes: []discoveryv1.ForNode{{Name: "node-1"}}},
		}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8080), AppProtocol: ptr.To("kubernetes.io/h2c")},
			{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To[int32](53)},
		},
	}
}

func TestValidateEndpointSlice(t *testing.T) {
	ep := path("endpoints").Index(0)
	addr := ep.Child("addresses").Index(0)
	ports := path("ports")
	cases := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   field.ErrorList
	}{
		{"valid slice passes", func(*discoveryv1.EndpointSlice) {}, nil},
		{"IPv6 slice passes", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeIPv6
			s.Endpoints[0].Addresses = []string{"2001:db8::7"}
		}, nil},
		{"FQDN slice passes", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"db.example.com"}
		}, nil},
		{"an empty slice passes", func(s *discoveryv1.EndpointSlice) { s.Endpoints, s.Ports = nil, nil }, nil},
		{"addressType is required", func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, field.ErrorList{
			field.Required(path("addressType"), ""),
		}},
		{"unknown addressType is not supported", func(s *discoveryv1.EndpointSlice) { s.AddressType = "IP" }, field.ErrorList{
			field.NotSupported(path("addressType"), "IP", []string{"FQDN", "IPv4", "IPv6"}),
		}},
		{"endpoints need an address", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }, field.ErrorList{
			field.Required(ep.Child("addresses"), "must contain at least 1 address"),
		}},
		{"addresses must be IPs", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"10.42.0"} }, field.ErrorList{
			field.Invalid(addr, nil, "must be a valid IP address"),
		}},
		{"addresses must match the family", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"2001:db8::7"} }, field.ErrorList{
			field.Invalid(addr, nil, "must be an IPv4 address"),
		}},
		{"IPv6 slices take no IPv4 addresses", func(s *discoveryv1.EndpointSlice) { s.AddressType = discoveryv1.AddressTypeIPv6 }, field.ErrorList{
			field.Invalid(addr, nil, "must be an IPv6 address"),
		}},
		{"loopback addresses are invalid", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"127.0.0.1"} }, field.ErrorList{
			field.Invalid(addr, nil, "may not be in the loopback range"),
		}},
		{"link-local addresses are invalid", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"169.254.169.254"} }, field.ErrorList{
			field.Invalid(addr, nil, "may not be in the link-local range"),
		}},
		{"unspecified addresses are invalid", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"0.0.0.0"} }, field.ErrorList{
			field.Invalid(addr, nil, "may not be unspecified"),
		}},
		{"FQDN addresses must be fully qualified names", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"db"}
		}, field.ErrorList{
			field.Invalid(addr, nil, "at least two segments"),
		}},
		{"at most 1000 endpoints", func(s *discoveryv1.EndpointSlice) {
			for i := range 1000 {
				s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.43.%d.%d", i/250, i%250+1)}})
			}
		}, field.ErrorList{
			field.TooMany(path("endpoints"), 1001, 1000),
		}},
		{"at most 100 addresses per endpoint", func(s *discoveryv1.EndpointSlice) {
			for i := range 100 {
				s.Endpoints[0].Addresses = append(s.Endpoints[0].Addresses, fmt.Sprintf("10.44.0.%d", i+1))
			}
		}, field.ErrorList{
			field.TooMany(ep.Child("addresses"), 101, 100),
		}},
		{"hostname must be a DNS label", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = ptr.To("web.0") }, field.ErrorList{
			field.Invalid(ep.Child("hostname"), nil, ""),
		}},
		{"nodeName must be a DNS subdomain", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = ptr.To("Node_1") }, field.ErrorList{
			field.Invalid(ep.Child("nodeName"), nil, ""),
		}},
		{"deprecated topology holds labels", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints[0].DeprecatedTopology = map[string]string{"rack": "not valid!"}
		}, field.ErrorList{
			field.Invalid(ep.Child("deprecatedTopology"), nil, ""),
		}},
		{"hints are checked", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints[0].Hints = &discoveryv1.EndpointHints{
				ForZones: []discoveryv1.ForZone{{Name: "zone-a"}, {Name: "zone-a"}, {Name: "zone a"}},
				ForNodes: []discoveryv1.ForNode{{Name: "Node_1"}},
			}
		}, field.ErrorList{
			field.Duplicate(ep.Child("hints", "forZones").Index(1).Child("name"), "zone-a"),
			field.Invalid(ep.Child("hints", "forZones").Index(2).Child("name"), nil, ""),
			field.Invalid(ep.Child("hints", "forNodes").Index(0).Child("name"), nil, ""),
		}},
		{"port names must be unique DNS labels", func(s *discoveryv1.EndpointSlice) {
			s.Ports[1].Name = ptr.To("http")
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To("HTTP"), Protocol: ptr.To(corev1.ProtocolTCP)})
		}, field.ErrorList{
			field.Duplicate(ports.Index(1).Child("name"), "http"),
			field.Invalid(ports.Index(2).Child("name"), nil, ""),
		}},
		{"only one port may be unnamed", func(s *discoveryv1.EndpointSlice) {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Protocol: ptr.To(corev1.ProtocolTCP)})
		}, field.ErrorList{
			field.Duplicate(ports.Index(2).Child("name"), ""),
		}},
		{"port protocol is required", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = nil }, field.ErrorList{
			field.Required(ports.Index(0).Child("protocol"), ""),
		}},
		{"unknown port protocol is not supported", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptr.To[corev1.Protocol]("QUIC") }, field.ErrorList{
			field.NotSupported(ports.Index(0).Child("protocol"), "QUIC", []string{"SCTP", "TCP", "UDP"}),
		}},
		{"appProtocol must be a qualified name", func(s *discoveryv1.EndpointSlice) { s.Ports[0].AppProtocol = ptr.To("h2 c") }, field.ErrorList{
			field.Invalid(ports.Index(0).Child("appProtocol"), nil, ""),
		}},
		{"namespace is required", func(s *discoveryv1.EndpointSlice) { s.Namespace = "" }, field.ErrorList{
			field.Required(path("metadata", "namespace"), ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validSlice()
			tc.mutate(s)
			matcher.Test(t, tc.want, ValidateEndpointSlice(s))
		})
	}
}

func TestValidateEndpointSliceUpdate(t *testing.T) {
	old := validSlice()
	s := old.DeepCopy()
	s.Endpoints[0].Addresses = []string{"10.42.0.8"}
	matcher.Test(t, nil, ValidateEndpointSliceUpdate(s, old))

	s.AddressType = discoveryv1.AddressTypeFQDN
	s.Endpoints[0].Addresses = []string{"web.example.com"}
	matcher.Test(t, field.ErrorList{field.Invalid(path("addressType"), nil, "field is immutable")}, ValidateEndpointSliceUpdate(s, old))
}
