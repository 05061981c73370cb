// Package resourcequota is the API server's ResourceQuota admission. The plugin is upstream's, from
// k8s.io/apiserver: it gathers the requests of a namespace, checks each against every quota that
// matches it, refuses with 403 Forbidden what would exceed one ("exceeded quota: NAME, requested:
// pods=1, used: pods=2, limited: pods=2") or what does not state a resource a quota constrains
// ("failed quota: NAME: must specify limits.cpu for: app"), and writes the quotas' new status.used
// before it admits the rest, so that concurrent creates cannot all pass. What it lacks is the
// evaluators that measure objects, which upstream keeps in k8s.io/kubernetes; the initializer here
// gives it skiff's, from internal/quota.
//
// A quota is enforced once the resourcequota controller has written its status: until status.hard
// and status.used are known the plugin cannot tell what is left.
package resourcequota

import (
	"k8s.io/apiserver/pkg/admission"
	genericinitializer "k8s.io/apiserver/pkg/admission/initializer"
	upstream "k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"

	"github.com/skiffhq/skiff/internal/quota"
)

// PluginName is the plugin's name in admission configuration.
const PluginName = upstream.PluginName

// Register adds the plugin to plugins.
func Register(plugins *admission.Plugins) {
	upstream.Register(plugins)
}

// NewInitializer returns the initializer that gives the plugin skiff's quota configuration. It must
// run after the generic initializer: the plugin builds its evaluator when it gets the configuration,
// from the drain notification the generic initializer gave it before.
func NewInitializer() admission.PluginInitializer {
	return initializer{config: quota.AdmissionConfiguration()}
}

type initializer struct {
	config quotav1.Configuration
}

func (i initializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(genericinitializer.WantsQuotaConfiguration); ok {
		wants.SetQuotaConfiguration(i.config)
	}
}
