package discovery

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

const (
	maxEndpoints      = 1000
	maxAddresses      = 100
	maxPorts          = 20000
	maxTopologyLabels = 16
	maxZoneHints      = 8
	maxNodeHints      = 8
)

// ValidateEndpointSlice validates an EndpointSlice on create.
func ValidateEndpointSlice(slice *discoveryv1.EndpointSlice) field.ErrorList {
	return validateEndpointSlice(slice, nil)
}

// ValidateEndpointSliceUpdate validates an update of an EndpointSlice. The address type is immutable;
// addresses already stored in a legacy IP format stay accepted.
func ValidateEndpointSliceUpdate(slice, old *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&slice.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	var oldAddresses []string
	for _, ep := range old.Endpoints {
		oldAddresses = append(oldAddresses, ep.Addresses...)
	}
	allErrs = append(allErrs, validateEndpointSlice(slice, oldAddresses)...)
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(slice.AddressType, old.AddressType, field.NewPath("addressType"))...)
	return allErrs
}

func validateEndpointSlice(slice *discoveryv1.EndpointSlice, validOldAddresses []string) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&slice.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	typePath := field.NewPath("addressType")
	switch slice.AddressType {
	case "":
		allErrs = append(allErrs, field.Required(typePath, ""))
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		allErrs = append(allErrs, field.NotSupported(typePath, slice.AddressType, []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}))
	}
	allErrs = append(allErrs, validateEndpoints(slice.Endpoints, slice.AddressType, validOldAddresses, field.NewPath("endpoints"))...)
	allErrs = append(allErrs, validatePorts(slice.Ports, field.NewPath("ports"))...)
	return allErrs
}

func validateEndpoints(endpoints []discoveryv1.Endpoint, addressType discoveryv1.AddressType, validOldAddresses []string, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxEndpoints)}
	}
	var allErrs field.ErrorList
	for i := range endpoints {
		ep := &endpoints[i]
		idxPath := fldPath.Index(i)
		addrPath := idxPath.Child("addresses")
		switch {
		case len(ep.Addresses) == 0:
			allErrs = append(allErrs, field.Required(addrPath, "must contain at least 1 address"))
		case len(ep.Addresses) > maxAddresses:
			allErrs = append(allErrs, field.TooMany(addrPath, len(ep.Addresses), maxAddresses))
		}
		for j, addr := range ep.Addresses {
			allErrs = append(allErrs, validateAddress(addr, addressType, validOldAddresses, addrPath.Index(j))...)
		}
		if ep.NodeName != nil {
			for _, msg := range apivalidation.NameIsDNSSubdomain(*ep.NodeName, false) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("nodeName"), *ep.NodeName, msg))
			}
		}
		topologyPath := idxPath.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			allErrs = append(allErrs, field.TooMany(topologyPath, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		allErrs = append(allErrs, metavalidation.ValidateLabels(ep.DeprecatedTopology, topologyPath)...)
		if ep.Hostname != nil {
			for _, msg := range utilvalidation.IsDNS1123Label(*ep.Hostname) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.Hints != nil {
			allErrs = append(allErrs, validateHints(ep.Hints, idxPath.Child("hints"))...)
		}
	}
	return allErrs
}

// validateAddress checks an address against the slice's type. IP endpoints may not be unspecified,
// loopback or link-local: those mean something different on every node.
func validateAddress(addr string, addressType discoveryv1.AddressType, validOld []string, fldPath *field.Path) field.ErrorList {
	switch addressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		if errs := utilvalidation.IsValidIPForLegacyField(fldPath, addr, false, validOld); len(errs) > 0 {
			return errs
		}
		ip := netutils.ParseIPSloppy(addr)
		var allErrs field.ErrorList
		if addressType == discoveryv1.AddressTypeIPv4 && ip.To4() == nil {
			allErrs = append(allErrs, field.Invalid(fldPath, addr, "must be an IPv4 address"))
		}
		if addressType == discoveryv1.AddressTypeIPv6 && ip.To4() != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, addr, "must be an IPv6 address"))
		}
		switch {
		case ip.IsUnspecified():
			allErrs = append(allErrs, field.Invalid(fldPath, addr, fmt.Sprintf("may not be unspecified (%v)", addr)))
		case ip.IsLoopback():
			allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
		case ip.IsLinkLocalUnicast():
			allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
		case ip.IsLinkLocalMulticast():
			allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
		}
		return allErrs
	case discoveryv1.AddressTypeFQDN:
		return utilvalidation.IsFullyQualifiedDomainName(fldPath, addr)
	}
	// Unknown address types are reported once, on addressType.
	return nil
}

func validatePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxPorts)}
	}
	var allErrs field.ErrorList
	seen := make(map[string]bool, len(ports))
	protocols := []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	for i, port := range ports {
		idxPath := fldPath.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			for _, msg := range utilvalidation.IsDNS1123Label(name) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), name, msg))
			}
		}
		// Ports are told apart by name, so at most one may be unnamed.
		if seen[name] {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), name))
		}
		seen[name] = true
		switch {
		case port.Protocol == nil:
			allErrs = append(allErrs, field.Required(idxPath.Child("protocol"), ""))
		case *port.Protocol != corev1.ProtocolTCP && *port.Protocol != corev1.ProtocolUDP && *port.Protocol != corev1.ProtocolSCTP:
			allErrs = append(allErrs, field.NotSupported(idxPath.Child("protocol"), *port.Protocol, protocols))
		}
		if port.AppProtocol != nil {
			for _, msg := range utilvalidation.IsQualifiedName(*port.AppProtocol) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return allErrs
}

func validateHints(hints *discoveryv1.EndpointHints, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	zonesPath := fldPath.Child("forZones")
	if len(hints.ForZones) > maxZoneHints {
		return field.ErrorList{field.TooMany(zonesPath, len(hints.ForZones), maxZoneHints)}
	}
	zones := make(map[string]bool, len(hints.ForZones))
	for i, z := range hints.ForZones {
		p := zonesPath.Index(i).Child("name")
		if zones[z.Name] {
			allErrs = append(allErrs, field.Duplicate(p, z.Name))
		}
		zones[z.Name] = true
		for _, msg := range utilvalidation.IsValidLabelValue(z.Name) {
			allErrs = append(allErrs, field.Invalid(p, z.Name, msg))
		}
	}
	nodesPath := fldPath.Child("forNodes")
	if len(hints.ForNodes) > maxNodeHints {
		return append(allErrs, field.TooMany(nodesPath, len(hints.ForNodes), maxNodeHints))
	}
	nodes := make(map[string]bool, len(hints.ForNodes))
	for i, n := range hints.ForNodes {
		p := nodesPath.Index(i).Child("name")
		if nodes[n.Name] {
			allErrs = append(allErrs, field.Duplicate(p, n.Name))
		}
		nodes[n.Name] = true
		for _, msg := range apivalidation.NameIsDNSSubdomain(n.Name, false) {
			allErrs = append(allErrs, field.Invalid(p, n.Name, msg))
		}
	}
	return allErrs
}
