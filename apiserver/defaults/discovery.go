package defaults

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// EndpointSlice defaults every port to TCP and an empty name.
func EndpointSlice(obj *discoveryv1.EndpointSlice) {
	for i := range obj.Ports {
		p := &obj.Ports[i]
		if p.Name == nil {
			p.Name = ptr.To("")
		}
		if p.Protocol == nil {
			p.Protocol = ptr.To(corev1.ProtocolTCP)
		}
	}
}
