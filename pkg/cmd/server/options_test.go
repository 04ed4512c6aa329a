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
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"k8s.io/client-go/rest"
)

func parseControllerFlags(t *testing.T, args ...string) *ControllerOptions {
	t.Helper()
	o := NewControllerOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestControllerOptionsDefaults(t *testing.T) {
	o := parseControllerFlags(t)
	le := o.LeaderElection
	if !o.Enabled || o.Workers != 5 || o.KubeAPIQPS != 100 || o.KubeAPIBurst != 200 || o.StatusBatchPeriod != time.Second || !le.LeaderElect ||
		le.ResourceName != "easyservice-controller" || le.ResourceNamespace != "easyservice-system" || le.ResourceLock != "leases" ||
		le.LeaseDuration.Duration != 15*time.Second || le.RenewDeadline.Duration != 10*time.Second || le.RetryPeriod.Duration != 2*time.Second {
		t.Errorf("defaults = %+v", o)
	}
	if errs := o.Validate(); len(errs) != 0 {
		t.Errorf("Validate(defaults) = %v", errs)
	}
}

func TestControllerOptionsValidate(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--controller-workers=0"}, "--controller-workers must be at least 1"},
		{[]string{"--controller-kube-api-qps=0"}, "--controller-kube-api-qps must be positive"},
		{[]string{"--controller-kube-api-burst=0"}, "--controller-kube-api-burst must be at least 1"},
		{[]string{"--leader-elect-resource-lock=endpoints"}, `--leader-elect-resource-lock must be "leases"`},
		{[]string{"--leader-elect-resource-name="}, "leaderElection.resourceName: Required value"},
		{[]string{"--leader-elect-resource-namespace="}, "leaderElection.resourceNamespace: Required value"},
		{[]string{"--leader-elect-lease-duration=10s"}, "leaderElection.leaseDuration: Invalid value: \"10s\": must be greater than `RenewDeadline`"},
		{[]string{"--leader-elect-renew-deadline=2s"}, "--leader-elect-renew-deadline (2s) must be greater than 1.2 times --leader-elect-retry-period (2s)"},
		{[]string{"--leader-elect-retry-period=0s"}, "leaderElection.retryPeriod: Invalid value: \"0s\": must be greater than zero"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			errs := parseControllerFlags(t, tc.args...).Validate()
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
				t.Errorf("Validate = %v, want one error with %q", errs, tc.want)
			}
		})
	}

	// Options of what does not run are not checked.
	if errs := parseControllerFlags(t, "--enable-controller=false", "--controller-workers=0").Validate(); len(errs) != 0 {
		t.Errorf("Validate with the controller off = %v", errs)
	}
	if errs := parseControllerFlags(t, "--leader-elect=false", "--leader-elect-resource-name=").Validate(); len(errs) != 0 {
		t.Errorf("Validate without leader election = %v", errs)
	}
}

func TestStandaloneRunsNoController(t *testing.T) {
	o := NewOptions()
	o.Standalone = true
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	if o.Controller.Enabled {
		t.Error("--standalone left the controller enabled")
	}
}

func TestControllerConfig(t *testing.T) {
	o := parseControllerFlags(t, "--controller-kube-api-qps=7", "--controller-kube-api-burst=9", "--controller-workers=3")
	core := &rest.Config{Host: "https://cluster", QPS: 50, Burst: 100, UserAgent: "generic"}
	cfg, err := o.Config(core)
	if err != nil {
		t.Fatal(err)
	}
	kube := cfg.KubeClientConfig
	if kube.Host != "https://cluster" || kube.QPS != 7 || kube.Burst != 9 || kube.ContentType != "application/vnd.kubernetes.protobuf" ||
		!strings.HasSuffix(kube.UserAgent, "easyservice-controller") {
		t.Errorf("the controller's client config = %+v", kube)
	}
	if core.QPS != 50 || core.UserAgent != "generic" {
		t.Errorf("the generic server's client config changed: %+v", core)
	}
	if cfg.Workers != 3 || cfg.Identity == "" {
		t.Errorf("config = %+v", cfg)
	}
	if other, _ := o.Config(core); other.Identity == cfg.Identity {
		t.Errorf("two processes on one host share the identity %q", cfg.Identity)
	}
	if _, err := o.Config(nil); err == nil {
		t.Error("Config without a cluster succeeded")
	}
}

// TestAdmissionPlugins: EasyServiceConflicts is registered, on by default after NamespaceLifecycle,
// listed by --help, and --enable/--disable-admission-plugins take its name.
func TestAdmissionPlugins(t *testing.T) {
	o := NewOptions()
	want := "NamespaceLifecycle,EasyServiceConflicts,MutatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook,ResourceQuota"
	if got := strings.Join(o.RecommendedOptions.Admission.RecommendedPluginOrder, ","); got != want {
		t.Errorf("admission plugins in order: %s, want %s", got, want)
	}
	if o.RecommendedOptions.Admission.DefaultOffPlugins.Has("EasyServiceConflicts") {
		t.Error("EasyServiceConflicts is off by default")
	}
	fss := o.Flags()
	usage := fss.FlagSet("admission").FlagUsages()
	if !strings.Contains(usage, "EasyServiceConflicts") {
		t.Errorf("--help of admission does not list EasyServiceConflicts:\n%s", usage)
	}
	for _, flag := range []string{"--enable-admission-plugins", "--disable-admission-plugins"} {
		o := NewOptions()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		o.RecommendedOptions.Admission.AddFlags(fs)
		if err := fs.Parse([]string{flag + "=EasyServiceConflicts"}); err != nil {
			t.Fatal(err)
		}
		if errs := o.RecommendedOptions.Admission.Validate(); len(errs) != 0 {
			t.Errorf("%s=EasyServiceConflicts: %v", flag, errs)
		}
		fs = pflag.NewFlagSet("test", pflag.ContinueOnError)
		o = NewOptions()
		o.RecommendedOptions.Admission.AddFlags(fs)
		if err := fs.Parse([]string{flag + "=EasyServiceConflict"}); err != nil {
			t.Fatal(err)
		}
		if errs := o.RecommendedOptions.Admission.Validate(); len(errs) == 0 {
			t.Errorf("%s=EasyServiceConflict (a typo) accepted", flag)
		}
	}
}
