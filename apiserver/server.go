// Package apiserver assembles skiff's API server: k8s.io/apiserver serving the built-in resources of
// the registry packages, k8s.io/apiextensions-apiserver in front of it serving CRDs and custom
// resources, etcd (embedded or external) below, TLS with a cluster CA, and the objects every cluster
// has from its first start (namespaces, the kubernetes Service).
package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	apiextensionsoptions "k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/endpoints/discovery/aggregated"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/healthz"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/dynamic"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/common"

	"github.com/skiffhq/skiff/apiserver/admission/defaultstorageclass"
	"github.com/skiffhq/skiff/apiserver/admission/resourcequota"
	"github.com/skiffhq/skiff/apiserver/allocator"
	"github.com/skiffhq/skiff/apiserver/authn"
	"github.com/skiffhq/skiff/apiserver/etcd"
	"github.com/skiffhq/skiff/apiserver/openapi"
	"github.com/skiffhq/skiff/apiserver/registry"
	"github.com/skiffhq/skiff/apiserver/registry/core"
	"github.com/skiffhq/skiff/apiserver/registry/groups"
	"github.com/skiffhq/skiff/apiserver/scheme"
)

// Options configure a Server. The zero value of each field but DataDir means its default.
type Options struct {
	// DataDir holds the CA, certificates, kubeconfig and (embedded) etcd data.
	DataDir string
	// BindAddress and HTTPSPort are where the API is served (default 0.0.0.0:6443; port 0 picks a free one).
	BindAddress string
	HTTPSPort   int
	// AdvertiseAddress is the address the kubernetes Service's endpoints point at (default: the
	// machine's first non-loopback IPv4 address, or 127.0.0.1).
	AdvertiseAddress string
	// EtcdServers, if set, are the URLs of an external etcd; otherwise etcd is embedded.
	EtcdServers                           []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// ServiceCIDR is the range of Service ClusterIPs (default 10.43.0.0/16).
	ServiceCIDR string
	// ServiceNodePortRange is the range of NodePorts (default 30000-32767).
	ServiceNodePortRange string
	// TokenAuthFile is a static token file in upstream's CSV format.
	TokenAuthFile string
	// Logger receives the server's and etcd's logs.
	Logger *zap.Logger
}

func (o *Options) setDefaults() error {
	if o.DataDir == "" {
		return errors.New("a data dir is required")
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return err
	}
	o.DataDir = abs
	if o.BindAddress == "" {
		o.BindAddress = "0.0.0.0"
	}
	if o.HTTPSPort == 0 && o.BindAddress != "127.0.0.1" {
		o.HTTPSPort = 6443
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.43.0.0/16"
	}
	if o.ServiceNodePortRange == "" {
		o.ServiceNodePortRange = "30000-32767"
	}
	if o.AdvertiseAddress == "" {
		o.AdvertiseAddress = advertiseAddress(o.BindAddress)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return nil
}

// Server is a configured API server, ready to run.
type Server struct {
	opts   Options
	server *genericapiserver.GenericAPIServer
	etcd   *etcd.Embedded
	shared *registry.Etcd
	// KubeconfigPath is the admin kubeconfig, written at start.
	KubeconfigPath string
	// Loopback is a privileged client config for the server itself.
	Loopback *restclient.Config
	// Address is the host:port the server listens on.
	Address string
	// CAPEM is the cluster CA certificate.
	CAPEM []byte
	// NodeTokenPath is the file holding the token agents join with.
	NodeTokenPath string
}

// New prepares a server: certificates, etcd, storage and handlers. Run serves it.
func New(ctx context.Context, opts Options) (_ *Server, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	ips, err := allocator.NewIPRange(opts.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	ports, err := allocator.ParsePortRange(opts.ServiceNodePortRange)
	if err != nil {
		return nil, err
	}

	listener, port, err := genericoptions.CreateListener("tcp", net.JoinHostPort(opts.BindAddress, strconv.Itoa(opts.HTTPSPort)), net.ListenConfig{})
	if err != nil {
		return nil, fmt.Errorf("listen on %s:%d: %w", opts.BindAddress, opts.HTTPSPort, err)
	}
	defer func() {
		if err != nil {
			listener.Close()
		}
	}()
	s.Address = net.JoinHostPort(loopbackHost(opts.BindAddress), strconv.Itoa(port))

	certs, err := loadCertificates(filepath.Join(opts.DataDir, "tls"), opts, ips.First())
	if err != nil {
		return nil, err
	}
	s.CAPEM = certs.ca.CertPEM
	s.NodeTokenPath = filepath.Join(opts.DataDir, NodeTokenFile)
	nodeToken, err := loadOrCreateNodeToken(s.NodeTokenPath, certs.ca.CertPEM)
	if err != nil {
		return nil, err
	}
	s.KubeconfigPath = filepath.Join(opts.DataDir, "admin.kubeconfig")
	if err := writeKubeconfig(s.KubeconfigPath, "https://"+s.Address, certs.ca.CertPEM, certs.admin); err != nil {
		return nil, err
	}

	etcdConfig, err := s.startEtcd(ctx)
	if err != nil {
		return nil, err
	}

	config := genericapiserver.NewRecommendedConfig(scheme.Codecs)
	config.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()
	config.FlowControl = nil
	// Agents and controllers hold watches open; on shutdown they are ended (clients re-watch elsewhere)
	// instead of keeping the server up until the HTTP shutdown timeout of a minute.
	config.ShutdownWatchTerminationGracePeriod = 2 * time.Second
	config.PublicAddress = net.ParseIP(opts.AdvertiseAddress)
	config.ExternalAddress = s.Address
	serving, err := dynamiccertificates.NewStaticCertKeyContent("serving-cert", certs.serving.CertPEM, certs.serving.KeyPEM)
	if err != nil {
		return nil, err
	}
	clientCA, err := dynamiccertificates.NewStaticCAContent("client-ca", certs.ca.CertPEM)
	if err != nil {
		return nil, err
	}
	config.SecureServing = &genericapiserver.SecureServingInfo{Listener: listener, Cert: serving, ClientCA: clientCA, MinTLSVersion: 0x0303}
	authnConfig := authn.Config{ClientCA: clientCA, TokenAuthFile: opts.TokenAuthFile}
	nodeJoinAuthn(&authnConfig, nodeToken)
	authenticator, err := authn.New(authnConfig)
	if err != nil {
		return nil, err
	}
	config.Authentication.Authenticator = authenticator
	// RBAC comes later; until then every authenticated user may do everything.
	config.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	s.Loopback = &restclient.Config{
		Host:            "https://" + s.Address,
		BearerToken:     randomToken(),
		TLSClientConfig: restclient.TLSClientConfig{CAData: certs.ca.CertPEM},
		QPS:             -1,
	}
	s.Loopback.ContentType = "application/vnd.kubernetes.protobuf"
	config.LoopbackClientConfig = s.Loopback
	genericapiserver.AuthorizeClientBearerToken(config.LoopbackClientConfig, &config.Authentication, &config.Authorization)

	namer := openapinamer.NewDefinitionNamer(scheme.Scheme, apiextensionsapiserver.Scheme)
	definitions := openapiDefinitions()
	config.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(definitions, namer)
	config.OpenAPIConfig.Info.Title = "Kubernetes"
	config.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(definitions, namer)
	config.OpenAPIV3Config.Info.Title = "Kubernetes"
	config.AggregatedDiscoveryGroupManager = aggregated.NewResourceManager("apis")

	clientset, err := kubernetes.NewForConfig(s.Loopback)
	if err != nil {
		return nil, err
	}
	config.SharedInformerFactory = kubeinformers.NewSharedInformerFactory(clientset, 10*time.Minute)
	if err := applyAdmission(config, clientset); err != nil {
		return nil, err
	}
	if err := addEtcdChecks(&config.Config, etcdConfig, ctx.Done()); err != nil {
		return nil, err
	}

	factory := &registry.StorageFactory{Config: *etcdConfig, WatchCache: true, Etcd: s.shared}
	serviceIPs := allocator.New(s.shared.Client.Client, etcdConfig.Prefix+"/ranges/serviceips", ips)
	nodePorts := allocator.New(s.shared.Client.Client, etcdConfig.Prefix+"/ranges/servicenodeports", ports)
	coreStorage, err := core.Storage(core.Options{Factory: factory, ServiceIPs: serviceIPs, NodePorts: nodePorts})
	if err != nil {
		return nil, err
	}
	namedGroups, err := groups.All(factory)
	if err != nil {
		return nil, err
	}

	// The core server builds no OpenAPI of its own: the front server serves one spec of both.
	coreConfig := *config
	coreConfig.SkipOpenAPIInstallation = true
	coreServer, err := coreConfig.Complete().New("skiff-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	if err := installAPIs(coreServer, coreStorage, namedGroups); err != nil {
		return nil, err
	}
	installNodeJoin(coreServer.Handler.NonGoRestfulMux, certs.ca)

	// CRDs and custom resources: apiextensions-apiserver, in front, sharing the discovery manager.
	extConfig := *config
	extConfig.Serializer = apiextensionsapiserver.Codecs
	extConfig.RESTOptionsGetter = s.shared.Shared(
		apiextensionsRESTOptions(etcdConfig, apiextensionsapiserver.Codecs.LegacyCodec(apiextensionsv1GV)), true)
	extConfig.MergedResourceConfig = apiextensionsapiserver.DefaultAPIResourceConfigSource()
	// Health, version and the root index are served once, by the core server behind.
	extConfig.HealthzChecks, extConfig.LivezChecks, extConfig.ReadyzChecks = nil, nil, nil
	extConfig.PostStartHooks = map[string]genericapiserver.PostStartHookConfigEntry{}
	extServer, err := (&apiextensionsapiserver.Config{
		GenericConfig: &extConfig,
		ExtraConfig: apiextensionsapiserver.ExtraConfig{
			CRDRESTOptionsGetter: s.shared.Shared(apiextensionsoptions.NewCRDRESTOptionsGetter(genericoptions.EtcdOptions{
				StorageConfig: *etcdConfig, EnableWatchCache: true, DeleteCollectionWorkers: 1, EnableGarbageCollection: true,
			}, nil, nil), true),
			MasterCount: 1,
		},
	}).Complete().New(coreServer)
	if err != nil {
		return nil, err
	}
	shareOpenAPI(extServer.GenericAPIServer, coreServer)
	if err := addPostStartHooks(extServer.GenericAPIServer, coreServer, extServer.Informers.Apiextensions().V1().CustomResourceDefinitions(), s, ips); err != nil {
		return nil, err
	}
	if err := extServer.GenericAPIServer.AddPostStartHook("skiff-service-allocation-repair", func(hook genericapiserver.PostStartHookContext) error {
		client, err := kubernetes.NewForConfig(hook.LoopbackClientConfig)
		if err != nil {
			return err
		}
		go core.NewRepair(client, serviceIPs, nodePorts).Run(hook.Context, repairInterval)
		return nil
	}); err != nil {
		return nil, err
	}
	s.server = extServer.GenericAPIServer
	return s, nil
}

// Run serves until ctx is done, then shuts down cleanly.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	prepared := s.server.PrepareRun()
	return prepared.RunWithContext(ctx)
}

func (s *Server) close() {
	if s.shared != nil {
		s.shared.Close()
	}
	if s.etcd != nil {
		s.etcd.Close()
	}
}

// startEtcd starts the embedded member (or connects to the external cluster) and returns the storage
// configuration of the API.
func (s *Server) startEtcd(ctx context.Context) (*storagebackend.Config, error) {
	cfg := storagebackend.NewDefaultConfig("/registry", nil)
	servers := s.opts.EtcdServers
	if len(servers) == 0 {
		e, err := etcd.StartEmbedded(ctx, filepath.Join(s.opts.DataDir, "etcd"),
			s.opts.Logger.Named("etcd").WithOptions(zap.IncreaseLevel(zapcore.ErrorLevel)))
		if err != nil {
			return nil, err
		}
		s.etcd = e
		servers = []string{e.ClientURL}
	}
	cfg.Transport.ServerList = servers
	cfg.Transport.TrustedCAFile = s.opts.EtcdCAFile
	cfg.Transport.CertFile = s.opts.EtcdCertFile
	cfg.Transport.KeyFile = s.opts.EtcdKeyFile
	shared, err := registry.DialEtcd(*cfg)
	if err != nil {
		return nil, err
	}
	s.shared = shared
	return cfg, nil
}

func addEtcdChecks(c *genericapiserver.Config, cfg *storagebackend.Config, stop <-chan struct{}) error {
	health, err := factory.CreateHealthCheck(*cfg, stop)
	if err != nil {
		return err
	}
	ready, err := factory.CreateReadyCheck(*cfg, stop)
	if err != nil {
		return err
	}
	c.AddHealthChecks(healthz.NamedCheck("etcd", func(*http.Request) error { return health() }))
	c.AddReadyzChecks(healthz.NamedCheck("etcd-readiness", func(*http.Request) error { return ready() }))
	return nil
}

// applyAdmission turns on the admission plugins skiff has, in upstream's order: NamespaceLifecycle
// refuses objects in namespaces that do not exist or are terminating, and keeps the system namespaces
// from deletion; DefaultStorageClass gives new claims without a class the default one; ResourceQuota
// refuses what would exceed a namespace's quotas and charges what it admits.
func applyAdmission(config *genericapiserver.RecommendedConfig, clientset kubernetes.Interface) error {
	plugins := admission.NewPlugins()
	lifecycle.Register(plugins)
	defaultstorageclass.Register(plugins)
	resourcequota.Register(plugins)
	opts := genericoptions.NewAdmissionOptions()
	opts.Plugins = plugins
	opts.RecommendedPluginOrder = []string{lifecycle.PluginName, defaultstorageclass.PluginName, resourcequota.PluginName}
	opts.DefaultOffPlugins = nil
	opts.EnablePlugins = opts.RecommendedPluginOrder
	dyn, err := dynamic.NewForConfig(config.LoopbackClientConfig)
	if err != nil {
		return err
	}
	return opts.ApplyTo(&config.Config, config.SharedInformerFactory, clientset, dyn, feature.DefaultFeatureGate, config.EffectiveVersion,
		resourcequota.NewInitializer())
}

// openapiDefinitions are the OpenAPI definitions of the built-in types and of apiextensions' types.
func openapiDefinitions() common.GetOpenAPIDefinitions {
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		defs := openapi.GetOpenAPIDefinitions(ref)
		for k, v := range apiextensionsOpenAPI(ref) {
			defs[k] = v
		}
		return defs
	}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// repairInterval is how often allocations are checked against the Services stored, as upstream's
// repair controllers do.
const repairInterval = 3 * time.Minute

var apiextensionsv1GV = schema.GroupVersion{Group: "apiextensions.k8s.io", Version: "v1"}

// WaitReady returns once the server answers /readyz with ok, or with ctx's error.
func (s *Server) WaitReady(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(s.Loopback)
	if err != nil {
		return err
	}
	for {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("API server not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
