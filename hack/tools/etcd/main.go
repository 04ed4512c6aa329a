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

// Command etcd is a thin wrapper around the upstream etcd server entrypoint.
//
// It lives in its own Go module (see go.mod next to this file) because
// `go install go.etcd.io/etcd/server/v3@vX` is refused because of upstream's
// replace directives. hack/install-tools.sh builds it into the tool cache; it
// is not part of the EasyService root module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
