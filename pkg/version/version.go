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

// Package version holds the release version of easyservice-apiserver, set at build time.
package version

// Version is the release of easyservice-apiserver, set by hack/build.sh with
// -ldflags "-X github.com/easyservice/easyservice/pkg/version.Version=...".
// k8s.io/component-base/version holds the version of the Kubernetes libraries instead: the
// generic server derives feature gates and emulation versions from it.
var Version = "v0.0.0-dev"
