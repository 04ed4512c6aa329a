// Command etcd is a thin wrapper around the upstream etcd server entrypoint.
//
// It lives in its own Go module (see go.mod next to this file) because
// `go install go.etcd.io/etcd/server/v3@vX` is refused upstream's replace
// directives. hack/install-tools.sh builds it into the tool cache; it is not
// part of the EasyService root module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
