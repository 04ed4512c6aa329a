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

import (
	"errors"
	"net/http"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/easyservice/easyservice/pkg/admission/conflicts"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
)

// addAdmissionPlugins registers the server's own admission plugins with the generic ones and
// enables them by default. EasyServiceConflicts comes right after NamespaceLifecycle (the order
// of validating plugins matters only among them: all run after every mutating one).
func addAdmissionPlugins(o *genericoptions.AdmissionOptions) {
	conflicts.Register(o.Plugins)
	i := slices.Index(o.RecommendedPluginOrder, lifecycle.PluginName)
	o.RecommendedPluginOrder = slices.Insert(o.RecommendedPluginOrder, i+1, conflicts.PluginName)
}

// conflictsInitializer gives EasyServiceConflicts its informers. They are made, started (a
// post-start hook) and checked by /readyz only when the plugin is enabled, so that a server that
// turns it off neither watches every Service and Deployment nor waits for them.
type conflictsInitializer struct {
	config *genericapiserver.RecommendedConfig
	once   sync.Once
	err    error
}

// Initialize gives a plugin that wants them the informers.
func (i *conflictsInitializer) Initialize(plugin admission.Interface) {
	wants, ok := plugin.(conflicts.WantsInformers)
	if !ok {
		return
	}
	var informers conflicts.Informers
	i.once.Do(func() { informers, i.err = i.newInformers() })
	if i.err != nil {
		// The plugin's ValidateInitialization then fails the start.
		klog.ErrorS(i.err, "Making the informers of an admission plugin", "plugin", conflicts.PluginName)
		return
	}
	wants.SetInformers(informers)
}

func (i *conflictsInitializer) newInformers() (conflicts.Informers, error) {
	c := i.config
	if c.ClientConfig == nil {
		return conflicts.Informers{}, errors.New("EasyServiceConflicts needs the cluster (--kubeconfig, or in-cluster)")
	}
	loopback := rest.CopyConfig(c.LoopbackClientConfig)
	loopback.ContentType = runtime.ContentTypeProtobuf
	loopback.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	esClient, err := clientset.NewForConfig(rest.AddUserAgent(loopback, "easyservice-admission"))
	if err != nil {
		return conflicts.Informers{}, err
	}
	kube := rest.CopyConfig(c.ClientConfig)
	kube.ContentType = runtime.ContentTypeProtobuf
	kubeClient, err := kubernetes.NewForConfig(rest.AddUserAgent(kube, "easyservice-admission"))
	if err != nil {
		return conflicts.Informers{}, err
	}
	informers, start, err := conflicts.NewInformers(esClient, kubeClient)
	if err != nil {
		return conflicts.Informers{}, err
	}
	if err := c.AddPostStartHook("start-easyservice-admission-informers", func(ctx genericapiserver.PostStartHookContext) error {
		start(ctx.Done())
		return nil
	}); err != nil {
		return conflicts.Informers{}, err
	}
	c.AddReadyzChecks(healthz.NamedCheck("easyservice-admission-informers", func(*http.Request) error {
		if !informers.HasSynced() {
			return errors.New("the caches of EasyServiceConflicts have not synced")
		}
		return nil
	}))
	return informers, nil
}
