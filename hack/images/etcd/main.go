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

// Command etcd is the etcd server of the real-node plane's etcd image, a stand-in for
// registry.k8s.io/etcd (the image the install's StatefulSet names): upstream's server entrypoint,
// etcdmain, at the version go.mod pins, as upstream's own main calls it.
//
// It lives in its own Go module because go.etcd.io/etcd/v3, which holds upstream's main, replaces
// its own modules with local paths and so cannot be built from the module proxy. etcdctl needs no
// wrapper: hack/images.sh builds upstream's go.etcd.io/etcd/etcdctl/v3 from this module (tools.go
// keeps it required).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
