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
	"context"
	"fmt"

	"github.com/spf13/cobra"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/cli/globalflag"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/component-base/term"
	baseversion "k8s.io/component-base/version"
	"k8s.io/klog/v2"

	"github.com/easyservice/easyservice/pkg/version"
)

func init() {
	utilruntime.Must(logsapi.AddFeatureGates(utilfeature.DefaultMutableFeatureGate))
}

// NewCommand returns the easyservice-apiserver command. It runs until ctx is cancelled (SIGTERM or
// SIGINT in main), then shuts down gracefully.
func NewCommand(ctx context.Context, o *Options) *cobra.Command {
	var printVersion bool
	cmd := &cobra.Command{
		Use:   "easyservice-apiserver",
		Short: "Serve the app.easyservice.io API from its own etcd, for kube-apiserver's aggregation layer",
		Long: `easyservice-apiserver serves the EasyService kind (app.easyservice.io, versions v1 and v1beta1)
from its own etcd. Registered in a cluster by an APIService, it makes "kubectl get easyservices"
work like a built-in kind.`,
		SilenceUsage: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return o.ComponentGlobalsRegistry.Set()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if printVersion {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), versionString())
				return err
			}
			if len(args) != 0 {
				return fmt.Errorf("%q takes no arguments, got %q", cmd.CommandPath(), args)
			}
			if err := logsapi.ValidateAndApply(o.Logs, utilfeature.DefaultFeatureGate); err != nil {
				return err
			}
			cliflag.PrintFlags(cmd.Flags())
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return Run(cmd.Context(), o)
		},
	}
	cmd.SetContext(ctx)

	// Register the kube component's version and feature gates, unless a caller (a test starting
	// several servers in one process) already did.
	_, _ = o.ComponentGlobalsRegistry.ComponentGlobalsOrRegister(basecompatibility.DefaultKubeComponent,
		basecompatibility.NewEffectiveVersionFromString(baseversion.DefaultKubeBinaryVersion, "", ""),
		utilfeature.DefaultMutableFeatureGate)

	fss := o.Flags()
	// component-base's --version (verflag) prints the Kubernetes libraries' version as "Kubernetes
	// vX.Y.Z": this binary's own comes first.
	fss.FlagSet("global").BoolVar(&printVersion, "version", false,
		"Print the version of easyservice-apiserver and of the Kubernetes libraries it is built with, and exit.")
	globalflag.AddGlobalFlags(fss.FlagSet("global"), cmd.Name(), logs.SkipLoggingConfigurationFlags())
	for _, f := range fss.FlagSets {
		cmd.Flags().AddFlagSet(f)
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, fss, cols)
	return cmd
}

// versionString is what --version prints: this binary's version (pkg/version, set by hack/build.sh)
// and that of the Kubernetes libraries it is built with (what /version reports).
func versionString() string {
	return fmt.Sprintf("easyservice-apiserver %s (Kubernetes libraries %s)", version.Version, baseversion.Get().GitVersion)
}

// Run builds the server from completed and validated options and serves until ctx is done.
func Run(ctx context.Context, o *Options) error {
	config, err := o.Config()
	if err != nil {
		return err
	}
	// The storage is built in New, and k8s.io/apiserver gives its etcd 20 s there. The wait dials
	// etcd directly: with an egress selector configuration, which may route etcd elsewhere, it
	// leaves the waiting to k8s.io/apiserver.
	if es := o.RecommendedOptions.EgressSelector; es == nil || es.ConfigFile == "" {
		if err := waitForEtcd(ctx, o.RecommendedOptions.Etcd.StorageConfig.Transport, o.EtcdStartupTimeout); err != nil {
			return err
		}
	}
	server, err := config.Complete().New()
	if err != nil {
		return err
	}
	klog.FromContext(ctx).Info("Starting easyservice-apiserver", "version", version.Version, "kubernetesLibraries", baseversion.Get().GitVersion)
	return server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}
