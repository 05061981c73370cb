package apiserver

import (
	"fmt"
	"strings"

	apiextensionsopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/storage/storagebackend"

	"github.com/skiffhq/skiff/apiserver/registry/groups"
	"github.com/skiffhq/skiff/apiserver/scheme"
)

// installAPIs installs the core group under /api and the named groups under /apis.
func installAPIs(s *genericapiserver.GenericAPIServer, coreStorage map[string]rest.Storage, named []groups.Group) error {
	legacy := genericapiserver.NewDefaultAPIGroupInfo("", scheme.Scheme, scheme.ParameterCodec, scheme.Codecs)
	legacy.PrioritizedVersions = []schema.GroupVersion{{Version: "v1"}}
	legacy.VersionedResourcesStorageMap["v1"] = coreStorage
	if err := s.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, &legacy); err != nil {
		return fmt.Errorf("install core API: %w", err)
	}
	var infos []*genericapiserver.APIGroupInfo
	for _, g := range named {
		info := genericapiserver.NewDefaultAPIGroupInfo(g.Name, scheme.Scheme, scheme.ParameterCodec, scheme.Codecs)
		info.PrioritizedVersions = nil
		for _, v := range g.Order {
			info.PrioritizedVersions = append(info.PrioritizedVersions, schema.GroupVersion{Group: g.Name, Version: v})
		}
		info.VersionedResourcesStorageMap = g.Versions
		infos = append(infos, &info)
	}
	if err := s.InstallAPIGroups(infos...); err != nil {
		return fmt.Errorf("install API groups: %w", err)
	}
	return nil
}

// shareOpenAPI lets the front server describe the core server's APIs too: it serves their routes
// itself (the handlers are the same), so the OpenAPI it builds at PrepareRun covers everything and
// apiextensions merges the CRDs' schemas into that one spec.
func shareOpenAPI(front, core *genericapiserver.GenericAPIServer) {
	for _, ws := range core.Handler.GoRestfulContainer.RegisteredWebServices() {
		if strings.HasPrefix(ws.RootPath(), "/api") {
			front.Handler.GoRestfulContainer.Add(ws)
		}
	}
}

// apiextensionsRESTOptions is the storage of CustomResourceDefinitions themselves.
func apiextensionsRESTOptions(cfg *storagebackend.Config, codec runtime.Codec) generic.RESTOptionsGetter {
	c := *cfg
	c.Codec = codec
	opts := genericoptions.EtcdOptions{StorageConfig: c, EnableWatchCache: true, DeleteCollectionWorkers: 1, EnableGarbageCollection: true}
	return opts.CreateRESTOptionsGetter(&genericoptions.SimpleStorageFactory{StorageConfig: c}, nil)
}

var apiextensionsOpenAPI = apiextensionsopenapi.GetOpenAPIDefinitions
