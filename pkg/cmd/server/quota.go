/*
Copyright The EasyService Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

	http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package server

// ResourceQuota for EasyServices: k8s.io/apiserver's quota admission plugin, run as kube-apiserver
// runs it for its own kinds. The plugin charges a create to the namespace's ResourceQuotas (an
// update of their status in the cluster) and refuses it (403) when that would exceed one;
// kube-controller-manager's resourcequota controller, which finds our resource by discovery and
// lists it through the aggregator, keeps status.used right (after deletes, and from scratch).

import (
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
)

// addQuotaAdmission registers the ResourceQuota plugin and enables it by default, last in the
// order, as kube-apiserver orders it: it charges what the plugins before it let through, and a
// later plugin that refused the request would leave the quota charged for nothing (until
// kube-controller-manager recalculates it).
func addQuotaAdmission(o *genericoptions.AdmissionOptions) {
	resourcequota.Register(o.Plugins)
	o.RecommendedPluginOrder = append(o.RecommendedPluginOrder, resourcequota.PluginName)
}

// quotaAdmissionInitializers is a RecommendedOptions.ExtraAdmissionInitializers: it gives the
// ResourceQuota plugin our quota configuration. Admission runs it after k8s.io/apiserver's own
// initializer, which hands the plugin the drained notification that SetQuotaConfiguration needs.
func quotaAdmissionInitializers(*genericapiserver.RecommendedConfig) ([]admission.PluginInitializer, error) {
	return []admission.PluginInitializer{quotaConfigurationInitializer{newQuotaConfiguration()}}, nil
}

// newQuotaConfiguration is the quota configuration of admission: the object count of EasyServices,
// count/easyservices.app.easyservice.io. (The plugin would count a resource it has no evaluator for
// all the same; ours is declared, as kube-apiserver declares its own.)
//
// The evaluator has no list function: admission only charges the delta of a request to the usage in
// the quota's status, and refuses a request against a quota whose status has none yet; only a
// controller computes usage from the objects (UsageStats), and for EasyServices that is
// kube-controller-manager's, with its own evaluator. kube-apiserver configures its admission
// evaluators without listers for the same reason.
func newQuotaConfiguration() quota.Configuration {
	return generic.NewConfiguration(
		[]quota.Evaluator{generic.NewObjectCountEvaluator(easyservice.Resource("easyservices"), nil, "")},
		nil,
	)
}

// quotaConfigurationInitializer gives the plugins that want one the quota configuration.
type quotaConfigurationInitializer struct {
	configuration quota.Configuration
}

var _ admission.PluginInitializer = quotaConfigurationInitializer{}

// Initialize sets the quota configuration of a plugin that wants one.
func (i quotaConfigurationInitializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(initializer.WantsQuotaConfiguration); ok {
		wants.SetQuotaConfiguration(i.configuration)
	}
}
