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

// Command pause is the pod sandbox's process (the "infra container") of the real-node plane,
// doing what Kubernetes' pause does: it holds the pod's namespaces open and does nothing else. It
// waits for SIGINT or SIGTERM and then exits 0; as PID 1 of a pod that shares its PID namespace it
// also reaps every orphan that is re-parented to it, so that none lingers as a zombie.
//
// hack/images.sh builds it (CGO_ENABLED=0, a static binary) into an image FROM scratch.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		if os.Args[1] == "-v" || os.Args[1] == "--version" {
			fmt.Println("pause (easyservice)")
			return
		}
		fmt.Fprintf(os.Stderr, "usage: %s [-v]\n", os.Args[0])
		os.Exit(2)
	}
	// Registered before anything can happen: a signal that arrives earlier is not lost, and
	// SIGCHLD is only watched where there can be orphans to reap.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	if os.Getpid() == 1 {
		signal.Notify(signals, syscall.SIGCHLD)
	}
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down, got %s\n", sig)
		os.Exit(0)
	}
}

// reap waits for every child that has exited. One SIGCHLD may stand for several exits (signals of
// one kind are not queued), so it loops until none is left.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
