// Package defaultstorageclass is the API server's DefaultStorageClass admission, as upstream's
// plugin of that name: a PersistentVolumeClaim created without a storage class (neither
// spec.storageClassName nor the beta annotation) gets the cluster's default class, the one marked
// storageclass.kubernetes.io/is-default-class: "true". A claim whose storageClassName is "" asks
// for no class and keeps none. Without a default class the claim is left alone; the
// persistentvolume controller assigns one if a default class appears later.
package defaultstorageclass

import (
	"context"
	"errors"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"
	genericinitializer "k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/client-go/informers"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/skiffhq/skiff/internal/storageclass"
)

// PluginName is the plugin's name in admission configuration.
const PluginName = "DefaultStorageClass"

// Register adds the plugin to plugins.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return &Plugin{Handler: admission.NewHandler(admission.Create)}, nil
	})
}

// Plugin defaults the storage class of new claims.
type Plugin struct {
	*admission.Handler
	classes storagelisters.StorageClassLister
}

var (
	_ admission.MutationInterface                         = &Plugin{}
	_ genericinitializer.WantsExternalKubeInformerFactory = &Plugin{}
)

// SetExternalKubeInformerFactory gives the plugin the StorageClasses to choose from.
func (p *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	informer := f.Storage().V1().StorageClasses()
	p.classes = informer.Lister()
	p.SetReadyFunc(informer.Informer().HasSynced)
}

// ValidateInitialization fails a plugin that was given no StorageClasses.
func (p *Plugin) ValidateInitialization() error {
	if p.classes == nil {
		return errors.New("missing storage class lister")
	}
	return nil
}

// Admit sets the default class on a new claim that names none.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != corev1.Resource("persistentvolumeclaims") || a.GetSubresource() != "" {
		return nil
	}
	claim, ok := a.GetObject().(*corev1.PersistentVolumeClaim)
	if !ok || claim == nil || storagehelpers.PersistentVolumeClaimHasClass(claim) {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, errors.New("not yet ready to handle request"))
	}
	classes, err := p.classes.List(labels.Everything())
	if err != nil {
		return admission.NewForbidden(a, err)
	}
	if class := storageclass.Default(classes); class != nil {
		claim.Spec.StorageClassName = &class.Name
	}
	return nil
}
