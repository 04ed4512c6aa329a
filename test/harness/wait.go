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

package harness

import (
	"context"
	"testing"
	"time"
)

// RecoverTimeout is how long the harness waits for a first list. Generous: the machine is small and
// shared.
const RecoverTimeout = 2 * time.Minute

// WaitFor polls condition every half second until it holds; after timeout the test fails with the
// condition's last word. It has a context of its own, so that it also works in a cleanup (where the
// test's context is done).
func WaitFor(t testing.TB, timeout time.Duration, what string, condition func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for {
		var ok bool
		if ok, last = condition(ctx); ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting %v for %s: last: %s", timeout, what, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
