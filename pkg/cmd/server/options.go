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

// Package server holds the options and the command of easyservice-apiserver.
package server

import (
	"errors"
	"fmt"
	"net"

	"github.com/spf13/pflag"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"
	cliflag "k8s.io/component-base/cli/flag"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	netutils "k8s.io/utils/net"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
	"github.com/easyservice/easyservice/pkg/apiserver"
	generatedopenapi "github.com/easyservice/easyservice/pkg/generated/openapi"
)

// DefaultEtcdPathPrefix is the key prefix of every object in etcd.
const DefaultEtcdPathPrefix = "/registry/app.easyservice.io"

// Options are the options of easyservice-apiserver: the generic server's recommended options and ours.
type Options struct {
	// ServerRun are the generic server's run options: in-flight limits, request timeouts, the
	// shutdown delay, the advertised address.
	ServerRun *genericoptions.ServerRunOptions
	// RecommendedOptions are the generic server's: etcd, serving, delegated authn/authz, audit,
	// features, admission, the core API client.
	RecommendedOptions *genericoptions.RecommendedOptions
	// ComponentGlobalsRegistry holds the effective version and the feature gates.
	ComponentGlobalsRegistry basecompatibility.ComponentGlobalsRegistry
	// Logs configures logging (component-base).
	Logs *logsapi.LoggingConfiguration

	// ServiceNodePortRange is the range a nodePort in a spec must be in; it should match the
	// cluster's --service-node-port-range.
	ServiceNodePortRange utilnet.PortRange
	// Standalone runs without a Kubernetes cluster: no delegated authn/authz lookups, no admission
	// plugins and no priority and fairness, all of which need one. For development and tests.
	Standalone bool
	// AlternateDNS are extra names for the self-signed serving certificate.
	AlternateDNS []string
}

// NewOptions returns the default options.
func NewOptions() *Options {
	o := &Options{
		ServerRun: genericoptions.NewServerRunOptions(),
		RecommendedOptions: genericoptions.NewRecommendedOptions(
			DefaultEtcdPathPrefix,
			apiserver.Codecs.LegacyCodec(v1.SchemeGroupVersion),
		),
		ComponentGlobalsRegistry: compatibility.DefaultComponentGlobalsRegistry,
		Logs:                     logsapi.NewLoggingConfiguration(),
		ServiceNodePortRange:     validation.DefaultNodePortRange,
	}
	// Store every version as v1.
	o.RecommendedOptions.Etcd.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(v1.SchemeGroupVersion, schema.GroupKind{Group: v1.GroupName})
	return o
}

// Flags returns the flags in named sections, for --help.
func (o *Options) Flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	o.ServerRun.AddUniversalFlags(fss.FlagSet("generic"))
	ro := o.RecommendedOptions
	ro.Etcd.AddFlags(fss.FlagSet("etcd"))
	ro.SecureServing.AddFlags(fss.FlagSet("secure serving"))
	ro.Authentication.AddFlags(fss.FlagSet("authentication"))
	ro.Authorization.AddFlags(fss.FlagSet("authorization"))
	ro.Audit.AddFlags(fss.FlagSet("auditing"))
	ro.Features.AddFlags(fss.FlagSet("features"))
	ro.CoreAPI.AddFlags(fss.FlagSet("core API"))
	ro.Admission.AddFlags(fss.FlagSet("admission"))
	ro.EgressSelector.AddFlags(fss.FlagSet("egress selector"))
	ro.Traces.AddFlags(fss.FlagSet("traces"))
	o.ComponentGlobalsRegistry.AddFlags(fss.FlagSet("feature gates"))
	logsapi.AddFlags(o.Logs, fss.FlagSet("logs"))
	o.addFlags(fss.FlagSet("easyservice"))
	return fss
}

func (o *Options) addFlags(fs *pflag.FlagSet) {
	fs.Var(&o.ServiceNodePortRange, "service-node-port-range",
		"The range of nodePorts an EasyService may ask for, inclusive, as the cluster's kube-apiserver sets it. Example: '30000-32767'.")
	fs.BoolVar(&o.Standalone, "standalone", o.Standalone,
		"Run without a Kubernetes cluster, for development and tests: authenticate client certificates (--client-ca-file) only, "+
			"authorize only the always-allowed groups (system:masters), and run no admission plugins and no priority and fairness.")
	fs.StringSliceVar(&o.AlternateDNS, "alternate-dns", o.AlternateDNS,
		"Extra DNS names for the self-signed serving certificate made when no --tls-cert-file is given.")
}

// Complete fills in what the flags leave open.
func (o *Options) Complete() error {
	if err := o.ServerRun.Complete(); err != nil {
		return err
	}
	if err := o.ServerRun.DefaultAdvertiseAddress(o.RecommendedOptions.SecureServing.SecureServingOptions); err != nil {
		return err
	}
	if o.Standalone {
		ro := o.RecommendedOptions
		ro.Authentication.RemoteKubeConfigFileOptional = true
		ro.Authorization.RemoteKubeConfigFileOptional = true
		ro.CoreAPI = nil
		ro.Admission = nil
		ro.Features.EnablePriorityAndFairness = false
	}
	return nil
}

// Validate checks the options and returns every problem at once.
func (o *Options) Validate() error {
	var errs []error
	errs = append(errs, o.ServerRun.Validate()...)
	errs = append(errs, o.RecommendedOptions.Validate()...)
	errs = append(errs, o.ComponentGlobalsRegistry.Validate()...)
	if o.ServiceNodePortRange.Size <= 0 {
		errs = append(errs, errors.New("--service-node-port-range must not be empty"))
	}
	if len(o.RecommendedOptions.Etcd.StorageConfig.Transport.ServerList) == 0 {
		errs = append(errs, errors.New("--etcd-servers must be set: EasyService keeps its objects in its own etcd"))
	}
	return utilerrors.NewAggregate(errs)
}

// Config returns the server's configuration.
func (o *Options) Config() (*apiserver.Config, error) {
	if err := o.RecommendedOptions.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", o.AlternateDNS, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed certificates: %w", err)
	}

	serverConfig := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	namer := openapi.NewDefinitionNamer(apiserver.Scheme)
	serverConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	serverConfig.OpenAPIConfig.Info.Title = "EasyService"
	serverConfig.OpenAPIConfig.Info.Version = "v1"
	serverConfig.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	serverConfig.OpenAPIV3Config.Info.Title = "EasyService"
	serverConfig.OpenAPIV3Config.Info.Version = "v1"

	// The run options also set the effective version and the feature gate of the kube component.
	if err := o.ServerRun.ApplyTo(&serverConfig.Config); err != nil {
		return nil, err
	}
	if err := o.RecommendedOptions.ApplyTo(serverConfig); err != nil {
		return nil, err
	}
	return &apiserver.Config{
		GenericConfig: serverConfig,
		ExtraConfig: apiserver.ExtraConfig{
			Validation: validation.Options{NodePortRange: o.ServiceNodePortRange},
		},
	}, nil
}
