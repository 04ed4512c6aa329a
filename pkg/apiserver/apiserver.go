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
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/install"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/v1beta1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
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

	apiGroupInfo := genericapiserver.NewDefaultAPIGroupInfo(easyservice.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	// EasyServices have no protobuf encoding: leave protobuf out of content negotiation, so that a
	// client that prefers it (as kube-apiserver's clients do) gets JSON instead of an error.
	apiGroupInfo.NegotiatedSerializer = withoutProtobuf{apiGroupInfo.NegotiatedSerializer}

	for _, version := range []string{v1.SchemeGroupVersion.Version, v1beta1.SchemeGroupVersion.Version} {
		st, err := storage.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter, c.ExtraConfig.Validation)
		if err != nil {
			return nil, fmt.Errorf("building the storage of %s: %w", version, err)
		}
		apiGroupInfo.VersionedResourcesStorageMap[version] = map[string]rest.Storage{
			"easyservices":        st.EasyService,
			"easyservices/status": st.Status,
			"easyservices/scale":  st.Scale,
		}
	}
	if err := s.GenericAPIServer.InstallAPIGroup(&apiGroupInfo); err != nil {
		return nil, fmt.Errorf("installing %s: %w", easyservice.GroupName, err)
	}
	return s, nil
}

// withoutProtobuf is a NegotiatedSerializer that does not offer protobuf.
type withoutProtobuf struct {
	runtime.NegotiatedSerializer
}

// SupportedMediaTypes returns the media types of the wrapped serializer but protobuf.
func (s withoutProtobuf) SupportedMediaTypes() []runtime.SerializerInfo {
	all := s.NegotiatedSerializer.SupportedMediaTypes()
	infos := make([]runtime.SerializerInfo, 0, len(all))
	for _, info := range all {
		if info.MediaType != runtime.ContentTypeProtobuf {
			infos = append(infos, info)
		}
	}
	return infos
}
