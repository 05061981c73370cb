package registry

import (
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	cacherstorage "k8s.io/apiserver/pkg/storage/cacher"
	"k8s.io/apiserver/pkg/storage/etcd3"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
	"k8s.io/client-go/tools/cache"
)

// Etcd is one etcd connection shared by the storage of every resource. k8s.io/apiserver would dial a
// client per resource; with some fifty resources that is fifty gRPC connections, each with its
// goroutines and buffers, for a server that talks to one etcd.
type Etcd struct {
	Client    *kubernetes.Client
	compactor interface {
		etcd3.Compactor
		Stop()
	}
	once sync.Once
}

// DialEtcd connects to the etcd of cfg and starts the compaction of its history.
func DialEtcd(cfg storagebackend.Config) (*Etcd, error) {
	c := clientv3.Config{
		Endpoints:            cfg.Transport.ServerList,
		DialTimeout:          20 * time.Second,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		// Objects may be as large as etcd accepts; responses (lists) larger.
		MaxCallSendMsgSize: 2 << 20,
		MaxCallRecvMsgSize: 0,
	}
	t := cfg.Transport
	if t.CertFile != "" || t.KeyFile != "" || t.TrustedCAFile != "" {
		tlsConfig, err := (transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.TrustedCAFile}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
		c.TLS = tlsConfig
	}
	client, err := kubernetes.New(c)
	if err != nil {
		return nil, fmt.Errorf("connect to etcd: %w", err)
	}
	e := &Etcd{Client: client}
	if cfg.CompactionInterval > 0 {
		e.compactor = etcd3.StartCompactorPerEndpoint(client.Client, cfg.CompactionInterval)
	}
	return e, nil
}

// Close stops compaction and closes the connection.
func (e *Etcd) Close() {
	e.once.Do(func() {
		if e.compactor != nil {
			e.compactor.Stop()
		}
		e.Client.Close()
	})
}

// decorator builds a resource's storage on the shared connection, behind a watch cache if asked.
func (e *Etcd) decorator(watchCache bool) generic.StorageDecorator {
	return func(config *storagebackend.ConfigForResource, resourcePrefix string, keyFunc func(obj runtime.Object) (string, error),
		newFunc, newListFunc func() runtime.Object, getAttrs storage.AttrFunc, triggers storage.IndexerFuncs,
		indexers *cache.Indexers) (storage.Interface, factory.DestroyFunc, error) {
		versioner := storage.APIObjectVersioner{}
		var compactor etcd3.Compactor
		if e.compactor != nil {
			compactor = e.compactor
		}
		raw, err := etcd3.New(e.Client, compactor, config.Codec, newFunc, newListFunc, config.Prefix, resourcePrefix,
			config.GroupResource, identity.NewEncryptCheckTransformer(), config.LeaseManagerConfig,
			etcd3.NewDefaultDecoder(config.Codec, versioner), versioner)
		if err != nil {
			return nil, nil, err
		}
		if !watchCache {
			return raw, raw.Close, nil
		}
		cacher, err := cacherstorage.NewCacherFromConfig(cacherstorage.Config{
			Storage:             raw,
			Versioner:           versioner,
			GroupResource:       config.GroupResource,
			EventsHistoryWindow: config.EventsHistoryWindow,
			ResourcePrefix:      resourcePrefix,
			KeyFunc:             keyFunc,
			NewFunc:             newFunc,
			NewListFunc:         newListFunc,
			GetAttrsFunc:        getAttrs,
			IndexerFuncs:        triggers,
			Indexers:            indexers,
			Codec:               config.Codec,
		})
		if err != nil {
			raw.Close()
			return nil, nil, err
		}
		delegator := cacherstorage.NewCacheDelegator(cacher, raw)
		var once sync.Once
		return delegator, func() {
			once.Do(func() {
				delegator.Stop()
				cacher.Stop()
				raw.Close()
			})
		}, nil
	}
}

// Shared makes the storage that getter configures use the shared connection too (for the storage
// k8s.io/apiextensions-apiserver builds: CRDs and custom resources).
func (e *Etcd) Shared(getter generic.RESTOptionsGetter, watchCache bool) generic.RESTOptionsGetter {
	return sharedGetter{getter: getter, decorator: e.decorator(watchCache)}
}

type sharedGetter struct {
	getter    generic.RESTOptionsGetter
	decorator generic.StorageDecorator
}

func (g sharedGetter) GetRESTOptions(resource schema.GroupResource, example runtime.Object) (generic.RESTOptions, error) {
	opts, err := g.getter.GetRESTOptions(resource, example)
	opts.Decorator = g.decorator
	return opts, err
}
