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
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// TestFaultHistoryChecks: the checks of the fault harness catch what they are for, on made-up
// histories (no plane needed).
func TestFaultHistoryChecks(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	create := op{client: 0, key: "a", kind: opCreate, value: 1, call: ms(0), ret: ms(10), out: outOK, rv: 10}
	update := op{client: 0, key: "a", kind: opUpdate, value: 2, precond: 1, call: ms(20), ret: ms(30), out: outOK, rv: 11}
	good := []op{create, update, {client: 1, key: "a", kind: opGet, value: 2, call: ms(40), ret: ms(50), out: outOK, rv: 11}}
	if r, why := checkLinearizable(good, time.Minute); r != porcupine.Ok {
		t.Errorf("a good history: %s %s", r, why)
	}
	// An unknown update may or may not have happened.
	unknown := op{client: 0, key: "a", kind: opUpdate, value: 3, precond: 2, call: ms(60), ret: math.MaxInt64, out: outUnknown}
	for _, v := range []int64{2, 3} {
		h := append(append([]op{}, good...), unknown, op{client: 1, key: "a", kind: opGet, value: v, call: ms(70), ret: ms(80), out: outOK})
		if r, why := checkLinearizable(h, time.Minute); r != porcupine.Ok {
			t.Errorf("a read of %d after an unknown update: %s %s", v, r, why)
		}
	}
	bad := map[string][]op{
		"lost update": {create, update, {client: 1, key: "a", kind: opGet, value: 1, call: ms(40), ret: ms(50), out: outOK, rv: 10}},
		"lost create": {create, {client: 1, key: "a", kind: opGet, call: ms(40), ret: ms(50), out: outNotFound}},
		"phantom":     {create, {client: 1, key: "a", kind: opGet, value: 7, call: ms(40), ret: ms(50), out: outOK}},
		"stale precondition": {create, update,
			{client: 1, key: "a", kind: opUpdate, value: 4, precond: 1, call: ms(40), ret: ms(50), out: outOK, rv: 12}},
	}
	for name, h := range bad {
		if r, _ := checkLinearizable(h, time.Minute); r != porcupine.Illegal {
			t.Errorf("%s: %s, want Illegal", name, r)
		}
	}
	if p := checkResourceVersions(good); len(p) != 0 {
		t.Errorf("resourceVersions of a good history: %v", p)
	}
	if p := checkResourceVersions(bad["lost update"]); len(p) != 1 {
		t.Errorf("a resourceVersion going back: %v", p)
	}

	events := []watchEvent{{typ: "ADDED", key: "a", value: 1, rv: 10, at: ms(10)}, {typ: "MODIFIED", key: "a", value: 2, rv: 11, at: ms(30)}}
	if p := checkWatch(good, events, nil); len(p) != 0 {
		t.Errorf("watch of a good history: %v", p)
	}
	if p := checkWatch(good, events[:1], nil); len(p) != 1 {
		t.Errorf("a missed event: %v", p)
	}
	if p := checkWatch(good, events[:1], []relist{{at: ms(35), lastRV: 10, listRV: 11}}); len(p) != 0 {
		t.Errorf("an event missed in a relist: %v", p)
	}
	if p := checkWatch(good, append(events, events[1]), nil); len(p) != 2 {
		t.Errorf("an event twice: %v", p)
	}
	if p := checkWatch(good, []watchEvent{events[0], {typ: "MODIFIED", key: "a", value: 9, rv: 11}}, nil); len(p) != 2 {
		t.Errorf("an event with a value nobody wrote: %v", p)
	}

	// The final state. The final reads are client finalReader's; its sentinel keys are not judged.
	final := func(out outcome, value int64) op {
		return op{client: finalReader, key: "a", kind: opGet, value: value, call: ms(100), ret: ms(110), end: ms(110), out: out}
	}
	sentinel := op{client: finalReader, key: "sentinel-0", kind: opCreate, value: 9, call: ms(120), ret: ms(130), end: ms(130), out: outOK, rv: 20}
	del := op{client: 0, key: "a", kind: opDelete, call: ms(40), ret: ms(50), end: ms(50), out: outOK}
	lostDel := op{client: 0, key: "a", kind: opDelete, call: ms(40), ret: math.MaxInt64, end: ms(45), out: outUnknown}
	readGone := op{client: 1, key: "a", kind: opGet, call: ms(60), ret: ms(70), end: ms(70), out: outNotFound}
	readBack := op{client: 1, key: "a", kind: opGet, value: 2, call: ms(80), ret: ms(90), end: ms(90), out: outOK}
	lostUpdate := op{client: 0, key: "a", kind: opUpdate, value: 3, precond: 2, call: ms(40), ret: math.MaxInt64, end: ms(45), out: outUnknown}
	finals := map[string]struct {
		ops      []op
		events   []watchEvent
		problems int
	}{
		"kept, as written":               {[]op{create, update, final(outOK, 2), sentinel}, nil, 0},
		"kept, lost":                     {[]op{create, update, final(outNotFound, 0)}, nil, 1},
		"kept, an older value":           {[]op{create, update, final(outOK, 1)}, nil, 1},
		"kept, a lost update's value":    {[]op{create, update, lostUpdate, final(outOK, 3)}, nil, 0},
		"never read back":                {[]op{create, update}, nil, 1},
		"deleted, stays deleted":         {[]op{create, update, del, readGone, final(outNotFound, 0)}, nil, 0},
		"deleted, back at the end":       {[]op{create, update, del, final(outOK, 2)}, nil, 1},
		"deleted, read back, gone again": {[]op{create, update, del, readBack, final(outNotFound, 0)}, nil, 1},
		"delete lost, proven by a read":  {[]op{create, update, lostDel, readGone, readBack, final(outOK, 2)}, nil, 2},
		"delete lost, unproven":          {[]op{create, update, lostDel, final(outOK, 2)}, nil, 0},
		"deleted, an event after":        {[]op{create, update, del, final(outNotFound, 0)}, []watchEvent{{typ: "DELETED", key: "a", value: 2, rv: 12}, {typ: "ADDED", key: "a", value: 2, rv: 13}}, 1},
	}
	for name, c := range finals {
		if p := checkFinal(c.ops, c.events, finalReader); len(p) != c.problems {
			t.Errorf("final state, %s: %d problems %v, want %d", name, len(p), p, c.problems)
		}
	}
	// Porcupine lets a create whose answer was lost take effect after an acknowledged delete (here
	// the writer's first create, after which its read found nothing and it created again); the
	// final check does not.
	lostCreate := op{client: 0, key: "a", kind: opCreate, value: 1, call: ms(0), ret: math.MaxInt64, end: ms(5), out: outUnknown}
	again := op{client: 0, key: "a", kind: opCreate, value: 2, call: ms(20), ret: ms(30), end: ms(30), out: outOK, rv: 11}
	comeBack := []op{lostCreate, {client: 0, key: "a", kind: opGet, call: ms(10), ret: ms(15), end: ms(15), out: outNotFound}, again,
		{client: 0, key: "a", kind: opDelete, call: ms(40), ret: ms(50), end: ms(50), out: outOK}, final(outOK, 1)}
	if r, why := checkLinearizable(comeBack, time.Minute); r != porcupine.Ok {
		t.Errorf("a lost create after a delete: porcupine says %s %s", r, why)
	}
	if p := checkFinal(comeBack, nil, finalReader); len(p) != 1 {
		t.Errorf("a lost create after a delete: %v", p)
	}
}
