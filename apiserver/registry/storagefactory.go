package registry

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"

	"github.com/skiffhq/skiff/apiserver/scheme"
)

// StorageFactory gives each resource its etcd storage: objects are kept as protobuf of their group's
// external version under <prefix>/<group>/<resource>, and served through a watch cache.
type StorageFactory struct {
	// Config is the etcd connection and the key prefix shared by all resources.
	Config storagebackend.Config
	// WatchCache puts a watch cache in front of each resource's storage.
	WatchCache bool
	// Etcd is the connection every resource's storage shares.
	Etcd *Etcd
}

// RESTOptions returns the options of the store of resource, whose objects are encoded as storageVersion
// and handled in memory as the internal version of memoryGroup.
func (f *StorageFactory) RESTOptions(resource schema.GroupResource, storageVersion schema.GroupVersion, memoryGroup string) (generic.RESTOptions, error) {
	cfg := f.Config
	codec, versioner, err := serverstorage.NewStorageCodec(serverstorage.StorageCodecConfig{
		StorageMediaType:  runtime.ContentTypeProtobuf,
		StorageSerializer: scheme.Codecs,
		StorageVersion:    storageVersion,
		MemoryVersion:     schema.GroupVersion{Group: memoryGroup, Version: runtime.APIVersionInternal},
		Config:            cfg,
	})
	if err != nil {
		return generic.RESTOptions{}, fmt.Errorf("storage codec of %s: %w", resource, err)
	}
	cfg.Codec, cfg.EncodeVersioner = codec, versioner
	return generic.RESTOptions{
		StorageConfig:           cfg.ForResource(resource),
		Decorator:               f.Etcd.decorator(f.WatchCache),
		DeleteCollectionWorkers: 1,
		EnableGarbageCollection: true,
		ResourcePrefix:          prefix(resource),
	}, nil
}

// prefix is the key of a resource's objects below the shared prefix; core resources keep the short,
// upstream-like form (/registry/pods).
func prefix(gr schema.GroupResource) string {
	if gr.Group == "" {
		return gr.Resource
	}
	return gr.Group + "/" + gr.Resource
}
