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

// Package apiserver assembles the EasyService API server: Config → Complete → New.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	restclient "k8s.io/client-go/rest"
	componentbaseconfig "k8s.io/component-base/config"
	"k8s.io/klog/v2"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/install"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
	controller "github.com/easyservice/easyservice/pkg/controller/easyservice"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
	"github.com/easyservice/easyservice/pkg/registry/easyservice/storage"
)

var (
	// Scheme holds every type the server serves: the app.easyservice.io group, autoscaling/v1
	// Scale for /scale, and the meta types of the generic server.
	Scheme = runtime.NewScheme()
	// Codecs encodes and decodes the types of Scheme.
	Codecs = serializer.NewCodecFactory(Scheme)
)

func init() {
	install.Install(Scheme)

	// /scale serves autoscaling/v1 Scale. The generic handlers decode a request body to the
	// internal version of its kind, so the same type also stands as autoscaling's internal Scale.
	utilruntime.Must(autoscalingv1.AddToScheme(Scheme))
	Scheme.AddKnownTypes(schema.GroupVersion{Group: autoscalingv1.GroupName, Version: runtime.APIVersionInternal}, &autoscalingv1.Scale{})

	// The generic server needs the option and status types in the empty group.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
}

// ExtraConfig is the configuration of the EasyService API beyond the generic server.
type ExtraConfig struct {
	// Validation holds the options of EasyService validation, such as the node port range.
	Validation validation.Options
	// Controller configures the embedded controller; nil runs none.
	Controller *ControllerConfig
}

// ControllerConfig configures the embedded controller that makes the Deployment and the Service of
// every EasyService in the workload cluster.
type ControllerConfig struct {
	// KubeClientConfig reaches the workload cluster, with the controller's rate limits and user agent.
	KubeClientConfig *restclient.Config
	// EventClientConfig is the same for the controller's Events, with rate limits of their own.
	EventClientConfig *restclient.Config
	// Workers is the number of EasyServices synced in parallel.
	Workers int
	// StatusBatchPeriod delays the syncs that changes of the children cause, so that one status
	// write reports a burst of them.
	StatusBatchPeriod time.Duration
	// LeaderElection configures the Lease in the workload cluster that elects the one replica
	// running the controller.
	LeaderElection componentbaseconfig.LeaderElectionConfiguration
	// Identity names this process in the Lease.
	Identity string
}

// Config is the configuration of the server.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	ExtraConfig   ExtraConfig
}

type completedConfig struct {
	GenericConfig genericapiserver.CompletedConfig
	ExtraConfig   *ExtraConfig
}

// CompletedConfig is a Config that Complete has filled in; only it can build a server.
type CompletedConfig struct {
	*completedConfig
}

// EasyServiceServer is the EasyService API server.
type EasyServiceServer struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// Complete fills in the fields that are not set. It mutates the receiver.
func (cfg *Config) Complete() CompletedConfig {
	return CompletedConfig{&completedConfig{
		GenericConfig: cfg.GenericConfig.Complete(),
		ExtraConfig:   &cfg.ExtraConfig,
	}}
}

// New returns a server that serves app.easyservice.io from the configured etcd.
func (c completedConfig) New() (*EasyServiceServer, error) {
	genericServer, err := c.GenericConfig.New("easyservice-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	s := &EasyServiceServer{GenericAPIServer: genericServer}

	// Every object the group serves has a protobuf encoding (EasyService and its list, autoscaling/v1
	// Scale, the meta types), so protobuf is negotiated like JSON; a Table is JSON only, which the
	// generic handlers' negotiation takes care of.
	apiGroupInfo := genericapiserver.NewDefaultAPIGroupInfo(easyservice.GroupName, Scheme, metav1.ParameterCodec, Codecs)

	// One storage serves both versions: one watch cache of the EasyServices, not one per version.
	st, err := storage.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter, c.ExtraConfig.Validation)
	if err != nil {
		return nil, fmt.Errorf("building the storage of easyservices: %w", err)
	}
	for _, version := range []string{v1.SchemeGroupVersion.Version, v1beta1.SchemeGroupVersion.Version} {
		apiGroupInfo.VersionedResourcesStorageMap[version] = map[string]rest.Storage{
			"easyservices":        st.EasyService,
			"easyservices/status": st.Status,
			"easyservices/scale":  st.Scale,
		}
	}
	if err := s.GenericAPIServer.InstallAPIGroup(&apiGroupInfo); err != nil {
		return nil, fmt.Errorf("installing %s: %w", easyservice.GroupName, err)
	}
	if cc := c.ExtraConfig.Controller; cc != nil {
		if err := s.installController(cc, c.GenericConfig.LoopbackClientConfig, st.EasyService); err != nil {
			return nil, fmt.Errorf("setting up the controller: %w", err)
		}
	}
	return s, nil
}

// installController starts the controller from a post-start hook, once the server serves the
// EasyService informer's requests over the loopback connection. Every replica runs the informers,
// so that /readyz tells when their caches synced and a new leader starts warm; only the Lease
// holder runs the workers.
func (s *EasyServiceServer) installController(cc *ControllerConfig, loopbackConfig *restclient.Config, easyServices rest.Getter) error {
	kubeClient, err := kubernetes.NewForConfig(cc.KubeClientConfig)
	if err != nil {
		return err
	}
	loopback := restclient.CopyConfig(loopbackConfig)
	loopback.ContentType = runtime.ContentTypeProtobuf
	loopback.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	esClient, err := clientset.NewForConfig(restclient.AddUserAgent(loopback, controller.ControllerName))
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(restclient.AddUserAgent(restclient.CopyConfig(loopbackConfig), controller.ControllerName))
	if err != nil {
		return err
	}
	eventClient, err := kubernetes.NewForConfig(cc.EventClientConfig)
	if err != nil {
		return err
	}
	// Every Deployment and Service, trimmed to its metadata unless the controller manages it: see
	// controller.TrimChild.
	kubeInformers := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, 0, kubeinformers.WithTransform(controller.TrimChild))
	// The resync is a safety net: a sync with nothing to do makes no request. The informer watches
	// only the EasyServices' metadata: the controller reads them whole from our own watch cache.
	esInformers := metadatainformer.NewSharedInformerFactoryWithOptions(metadataClient, 10*time.Minute,
		metadatainformer.WithTransform(controller.TrimEasyServiceMetadata))

	var started atomic.Pointer[controller.Controller]
	s.GenericAPIServer.AddPostStartHookOrDie("start-easyservice-controller", func(hookCtx genericapiserver.PostStartHookContext) error {
		ctx := klog.NewContext(hookCtx, klog.FromContext(hookCtx).WithName(controller.ControllerName))
		c, err := controller.NewController(ctx, kubeClient, eventClient, esClient,
			esInformers.ForResource(v1.SchemeGroupVersion.WithResource("easyservices")), easyServiceGetter(easyServices),
			kubeInformers.Apps().V1().Deployments(), kubeInformers.Core().V1().Services(),
			controller.Options{StatusBatchPeriod: cc.StatusBatchPeriod})
		if err != nil {
			return err
		}
		kubeInformers.Start(ctx.Done())
		esInformers.Start(ctx.Done())
		started.Store(c)
		go func() {
			defer utilruntime.HandleCrashWithContext(ctx)
			err := controller.RunLeaderElected(ctx, kubeClient, cc.LeaderElection, cc.Identity, func(ctx context.Context) {
				c.Run(ctx, cc.Workers)
			})
			if err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "The controller stopped")
			}
		}()
		return nil
	})
	return s.GenericAPIServer.AddReadyzChecks(healthz.NamedCheck("easyservice-controller-informers", func(*http.Request) error {
		c := started.Load()
		if c == nil {
			return errors.New("the controller has not started")
		}
		if !c.HasSynced() {
			return errors.New("the controller's informers have not synced")
		}
		return nil
	}))
}

// easyServiceGetter reads EasyServices for the controller from the storage's watch cache
// (resourceVersion "0"), which has seen at least what the controller's informer has, since that
// informer watches through this very cache. The v1 object shares memory with the cached one.
func easyServiceGetter(easyServices rest.Getter) controller.Getter {
	return func(ctx context.Context, namespace, name string) (*v1.EasyService, error) {
		obj, err := easyServices.Get(genericapirequest.WithNamespace(ctx, namespace), name, &metav1.GetOptions{ResourceVersion: "0"})
		if err != nil {
			return nil, err
		}
		es := &v1.EasyService{}
		if err := Scheme.Convert(obj, es, nil); err != nil {
			return nil, fmt.Errorf("converting EasyService %s/%s to v1: %w", namespace, name, err)
		}
		return es, nil
	}
}
