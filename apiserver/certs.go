package apiserver

import (
	"fmt"
	"net"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiffhq/skiff/apiserver/pki"
)

type certificates struct {
	ca             *pki.CA
	serving, admin pki.KeyPair
}

// loadCertificates makes or reads the cluster CA, the serving certificate (for every name and address
// the server is reached by) and the admin's client certificate.
func loadCertificates(dir string, opts Options, serviceIP string) (*certificates, error) {
	ca, err := pki.LoadOrCreateCA(dir, "skiff-ca")
	if err != nil {
		return nil, err
	}
	hosts := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(serviceIP)}
	for _, a := range []string{opts.AdvertiseAddress, opts.BindAddress} {
		if ip := net.ParseIP(a); ip != nil && !ip.IsUnspecified() {
			ips = append(ips, ip)
		}
	}
	if ip := net.ParseIP(opts.BindAddress); ip != nil && ip.IsUnspecified() {
		ips = append(ips, interfaceIPs()...)
	}
	serving, err := ca.ServingCert(dir, "serving", "kube-apiserver", hosts, dedupe(ips))
	if err != nil {
		return nil, err
	}
	admin, err := ca.ClientCert(dir, "admin", "system:admin", []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	return &certificates{ca: ca, serving: serving, admin: admin}, nil
}

// writeKubeconfig writes a kubeconfig for the admin, reaching the server at url.
func writeKubeconfig(path, url string, caPEM []byte, admin pki.KeyPair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["skiff"] = &clientcmdapi.Cluster{Server: url, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: admin.CertPEM, ClientKeyData: admin.KeyPEM}
	cfg.Contexts["skiff"] = &clientcmdapi.Context{Cluster: "skiff", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "skiff"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return os.Chmod(path, 0o600)
}

// interfaceIPs are the addresses of the machine's interfaces.
func interfaceIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP)
		}
	}
	return out
}

// advertiseAddress is the address other machines reach the server at: the bind address when it is
// specific and not loopback, else the first non-loopback IPv4 address of the machine. Endpoints may not
// point at loopback, so a machine with no other address advertises none.
func advertiseAddress(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		return ip.String()
	}
	for _, ip := range interfaceIPs() {
		if ip.To4() != nil && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			return ip.String()
		}
	}
	return ""
}

// loopbackHost is the host the server reaches itself at.
func loopbackHost(bind string) string {
	ip := net.ParseIP(bind)
	switch {
	case ip == nil || ip.IsUnspecified():
		return "127.0.0.1"
	default:
		return ip.String()
	}
}

func dedupe(ips []net.IP) []net.IP {
	var out []net.IP
	seen := map[string]bool{}
	for _, ip := range ips {
		if ip != nil && !seen[ip.String()] {
			seen[ip.String()] = true
			out = append(out, ip)
		}
	}
	return out
}
