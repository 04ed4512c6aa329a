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
	"os"
	"time"

	"github.com/spf13/pflag"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	basecompatibility "k8s.io/component-base/compatibility"
	componentbaseconfig "k8s.io/component-base/config"
	componentbaseoptions "k8s.io/component-base/config/options"
	componentbasevalidation "k8s.io/component-base/config/validation"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/utils/clock"
	netutils "k8s.io/utils/net"

	"github.com/easyservice/easyservice/internal/frontproxy"
	"github.com/easyservice/easyservice/pkg/apis/easyservice"
	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	"github.com/easyservice/easyservice/pkg/apis/easyservice/validation"
	"github.com/easyservice/easyservice/pkg/apiserver"
	controller "github.com/easyservice/easyservice/pkg/controller/easyservice"
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
	// EtcdStartupTimeout is how long the server waits at start for its etcd to answer (0: not at
	// all, k8s.io/apiserver's 20 s only).
	EtcdStartupTimeout time.Duration

	// Controller configures the embedded controller that makes the Deployments and Services.
	Controller *ControllerOptions
}

// ControllerOptions are the options of the embedded controller.
type ControllerOptions struct {
	// Enabled runs the controller. Replicas that only serve the API may turn it off; --standalone
	// does, having no cluster to make children in.
	Enabled bool
	// Workers is the number of EasyServices synced in parallel.
	Workers int
	// KubeAPIQPS and KubeAPIBurst limit the controller's requests to the workload cluster; its
	// Events have limits of the same size of their own.
	KubeAPIQPS   float32
	KubeAPIBurst int
	// StatusBatchPeriod delays the syncs that changes of the children cause.
	StatusBatchPeriod time.Duration
	// LeaderElection configures the Lease that makes one replica the controller's leader.
	LeaderElection componentbaseconfig.LeaderElectionConfiguration
}

// NewControllerOptions returns the default options of the controller.
func NewControllerOptions() *ControllerOptions {
	return &ControllerOptions{
		Enabled: true,
		Workers: 5,
		// Two applies per new EasyService: 100 QPS make 50 a second. kube-apiserver's API Priority
		// and Fairness is what protects it; this only caps a controller gone wrong.
		KubeAPIQPS:        100,
		KubeAPIBurst:      200,
		StatusBatchPeriod: time.Second,
		LeaderElection: componentbaseconfig.LeaderElectionConfiguration{
			LeaderElect:       true,
			LeaseDuration:     metav1.Duration{Duration: 15 * time.Second},
			RenewDeadline:     metav1.Duration{Duration: 10 * time.Second},
			RetryPeriod:       metav1.Duration{Duration: 2 * time.Second},
			ResourceLock:      resourcelock.LeasesResourceLock,
			ResourceName:      controller.ControllerName,
			ResourceNamespace: "easyservice-system",
		},
	}
}

// AddFlags adds the controller's flags to fs.
func (o *ControllerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Enabled, "enable-controller", o.Enabled,
		"Run the controller that makes a Deployment and a Service for every EasyService in the cluster of --kubeconfig "+
			"(in-cluster when empty). Set it to false on replicas that only serve the API. --standalone turns it off.")
	fs.IntVar(&o.Workers, "controller-workers", o.Workers, "The number of EasyServices the controller syncs in parallel.")
	fs.Float32Var(&o.KubeAPIQPS, "controller-kube-api-qps", o.KubeAPIQPS, "The queries per second of the controller's requests to the cluster.")
	fs.IntVar(&o.KubeAPIBurst, "controller-kube-api-burst", o.KubeAPIBurst, "The burst of the controller's requests to the cluster.")
	fs.DurationVar(&o.StatusBatchPeriod, "controller-status-batch-period", o.StatusBatchPeriod,
		"How long the controller waits after a change of a Deployment or Service before it updates the EasyService's status, "+
			"so that one status write reports a burst of changes (a rollout). A Deployment that has rolled out is reported at once. 0 updates it at once.")
	componentbaseoptions.BindLeaderElectionFlags(&o.LeaderElection, fs)
}

// Validate checks the controller's options.
func (o *ControllerOptions) Validate() []error {
	if !o.Enabled {
		return nil
	}
	var errs []error
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("--controller-workers must be at least 1, got %d", o.Workers))
	}
	if o.KubeAPIQPS <= 0 {
		errs = append(errs, fmt.Errorf("--controller-kube-api-qps must be positive, got %v", o.KubeAPIQPS))
	}
	if o.StatusBatchPeriod < 0 {
		errs = append(errs, fmt.Errorf("--controller-status-batch-period must not be negative, got %v", o.StatusBatchPeriod))
	}
	if o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--controller-kube-api-burst must be at least 1, got %d", o.KubeAPIBurst))
	}
	le := o.LeaderElection
	if !le.LeaderElect {
		return errs
	}
	// component-base checks what every component's leader election needs (durations positive and
	// ordered, the lock named); the rest is what this one's needs.
	if err := componentbasevalidation.ValidateLeaderElectionConfiguration(&le, field.NewPath("leaderElection")).ToAggregate(); err != nil {
		errs = append(errs, err.Errors()...)
	}
	if le.ResourceLock != resourcelock.LeasesResourceLock {
		errs = append(errs, fmt.Errorf("--leader-elect-resource-lock must be %q, got %q", resourcelock.LeasesResourceLock, le.ResourceLock))
	}
	// client-go's leader election needs the renew deadline above 1.2 retry periods.
	if le.RetryPeriod.Duration > 0 && float64(le.RenewDeadline.Duration) <= leaderelection.JitterFactor*float64(le.RetryPeriod.Duration) {
		errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline (%v) must be greater than %v times --leader-elect-retry-period (%v)",
			le.RenewDeadline.Duration, leaderelection.JitterFactor, le.RetryPeriod.Duration))
	}
	return errs
}

// Config returns the controller's configuration: its client of the workload cluster derives from
// kubeConfig, the core API client configuration of the generic server (--kubeconfig, or in-cluster).
func (o *ControllerOptions) Config(kubeConfig *rest.Config) (*apiserver.ControllerConfig, error) {
	if kubeConfig == nil {
		return nil, errors.New("the controller needs a cluster: --kubeconfig, or run in a cluster")
	}
	cfg := rest.CopyConfig(kubeConfig)
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cfg = rest.AddUserAgent(cfg, controller.ControllerName)
	// The same limits again, of their own, as kube-controller-manager and kube-scheduler do.
	eventCfg := rest.CopyConfig(cfg)

	hostname, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("naming this process for leader election: %w", err)
	}
	return &apiserver.ControllerConfig{
		KubeClientConfig:  cfg,
		EventClientConfig: eventCfg,
		Workers:           o.Workers,
		StatusBatchPeriod: o.StatusBatchPeriod,
		LeaderElection:    o.LeaderElection,
		// Unique even for two processes on one host.
		Identity: hostname + "_" + string(uuid.NewUUID()),
	}, nil
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
		EtcdStartupTimeout:       DefaultEtcdStartupTimeout,
		Controller:               NewControllerOptions(),
	}
	// Store every version as v1, in protobuf (--storage-media-type).
	o.RecommendedOptions.Etcd.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(v1.SchemeGroupVersion, schema.GroupKind{Group: v1.GroupName})
	o.RecommendedOptions.Etcd.DefaultStorageMediaType = runtime.ContentTypeProtobuf
	// The admission chain (admission.go, quota.go): EasyServiceConflicts right after
	// NamespaceLifecycle, and ResourceQuota last, as in kube-apiserver, so a request a plugin
	// refuses is never charged to a quota.
	addAdmissionPlugins(o.RecommendedOptions.Admission)
	addQuotaAdmission(o.RecommendedOptions.Admission)
	o.RecommendedOptions.ExtraAdmissionInitializers = func(c *genericapiserver.RecommendedConfig) ([]admission.PluginInitializer, error) {
		quota, err := quotaAdmissionInitializers(c)
		if err != nil {
			return nil, err
		}
		return append(quota, &conflictsInitializer{config: c}), nil
	}
	return o
}

// storageCodec is the codec of the objects in etcd: it writes v1 in mediaType and reads v1 in any
// media type the server knows (JSON, YAML, protobuf), so values written in another media type (JSON,
// before protobuf was the default) stay readable and are rewritten in mediaType on their next update.
// The generic server's SimpleStorageFactory uses the StorageConfig's codec as it is: it does not apply
// --storage-media-type itself.
func storageCodec(mediaType string) (runtime.Codec, error) {
	codec, _, err := serverstorage.NewStorageCodec(serverstorage.StorageCodecConfig{
		StorageMediaType:  mediaType,
		StorageSerializer: apiserver.Codecs,
		StorageVersion:    v1.SchemeGroupVersion,
		MemoryVersion:     easyservice.SchemeGroupVersion,
	})
	return codec, err
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
	o.Controller.AddFlags(fss.FlagSet("controller"))
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
	fs.DurationVar(&o.EtcdStartupTimeout, "etcd-startup-timeout", o.EtcdStartupTimeout,
		"How long the server waits at start for its etcd (--etcd-servers) to answer before it gives up and exits, "+
			"logging every failed try; an etcd that is still forming then delays the start instead of failing it. 0 waits only "+
			"the 20 s k8s.io/apiserver allows a first connection.")
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
		// No cluster to make children in.
		o.Controller.Enabled = false
	}
	return nil
}

// Validate checks the options and returns every problem at once.
func (o *Options) Validate() error {
	var errs []error
	errs = append(errs, o.ServerRun.Validate()...)
	errs = append(errs, o.RecommendedOptions.Validate()...)
	errs = append(errs, o.ComponentGlobalsRegistry.Validate()...)
	errs = append(errs, o.Controller.Validate()...)
	if o.ServiceNodePortRange.Size <= 0 {
		errs = append(errs, errors.New("--service-node-port-range must not be empty"))
	}
	if o.EtcdStartupTimeout < 0 {
		errs = append(errs, errors.New("--etcd-startup-timeout must not be negative"))
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
	codec, err := storageCodec(o.RecommendedOptions.Etcd.DefaultStorageMediaType)
	if err != nil {
		return nil, fmt.Errorf("--storage-media-type: %w", err)
	}
	o.RecommendedOptions.Etcd.StorageConfig.Codec = codec
	if err := o.RecommendedOptions.ApplyTo(serverConfig); err != nil {
		return nil, err
	}
	if auth := serverConfig.Authentication.Authenticator; auth != nil {
		if rh := serverConfig.Authentication.RequestHeaderConfig; rh != nil {
			// The front proxy first, as delegated authentication orders it, with the verification of
			// kube-apiserver's proxy client certificate remembered (internal/frontproxy). Anything it
			// does not authenticate goes on to delegated authentication, unchanged.
			auth = union.New(group.NewAuthenticatedGroupAdder(frontproxy.New(rh, clock.RealClock{})), auth)
		}
		serverConfig.Authentication.Authenticator = anonymousOnlyForProbes(auth)
	}
	// Not ready before requests through kube-apiserver can be authenticated.
	if rh := serverConfig.Authentication.RequestHeaderConfig; rh != nil && rh.CAContentProvider != nil {
		serverConfig.AddReadyzChecks(requestHeaderCAReady(rh.CAContentProvider))
	}
	var controllerConfig *apiserver.ControllerConfig
	if o.Controller.Enabled {
		if controllerConfig, err = o.Controller.Config(serverConfig.ClientConfig); err != nil {
			return nil, err
		}
	}
	return &apiserver.Config{
		GenericConfig: serverConfig,
		ExtraConfig: apiserver.ExtraConfig{
			Validation: validation.Options{NodePortRange: o.ServiceNodePortRange},
			Controller: controllerConfig,
		},
	}, nil
}
