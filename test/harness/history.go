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
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The history of the fault harness: every request the writers and the reader made, with when it
// was sent, when it returned and what it returned, and every event the watcher got. The checks
// below judge it; linearizability of the single-key create/get/update/delete register is checked
// with porcupine.

type opKind string

const (
	opCreate opKind = "create"
	opUpdate opKind = "update"
	opDelete opKind = "delete"
	opGet    opKind = "get"
)

// outcome is what a request's answer proves. Only the definite ones constrain the model; an
// unknown outcome (a timeout, a broken connection, a 5xx, a 503 of the aggregator) may or may not
// have taken effect, now or later.
type outcome string

const (
	outOK       outcome = "ok"
	outNotFound outcome = "notfound" // 404: the object does not exist
	outExists   outcome = "exists"   // 409 AlreadyExists on create: it exists
	outConflict outcome = "conflict" // 409 Conflict on update: nothing written
	outUnknown  outcome = "unknown"
)

// op is one request of the history. Values are unique per write attempt, so a value names the
// write that produced it.
type op struct {
	client  int
	key     string
	kind    opKind
	value   int64 // create/update: the value written; get: the value read
	precond int64 // update: the value of the version whose resourceVersion was the precondition
	call    time.Duration
	ret     time.Duration // math.MaxInt64 for an unknown outcome: it may take effect any time later
	end     time.Duration // when the answer (or the error) came, for every outcome
	out     outcome
	rv      uint64 // the resourceVersion of a definite ok answer (0 for delete)
	detail  string // the status code or error, for messages
	// aborted: the harness stopped waiting for the answer (it was stopping), so an unknown outcome
	// says nothing about the server.
	aborted bool
}

func (o op) String() string {
	ret := "∞"
	if o.ret != math.MaxInt64 {
		ret = o.ret.Round(time.Millisecond).String()
	}
	s := fmt.Sprintf("c%d %s %s", o.client, o.kind, o.key)
	switch o.kind {
	case opUpdate:
		s += fmt.Sprintf(" %d→%d", o.precond, o.value)
	case opCreate, opGet:
		s += fmt.Sprintf(" %d", o.value)
	}
	return s + fmt.Sprintf(" = %s rv=%d [%v, %s] %s", o.out, o.rv, o.call.Round(time.Millisecond), ret, o.detail)
}

// watchEvent is one event the watcher got.
type watchEvent struct {
	typ   string
	key   string
	value int64
	rv    uint64
	at    time.Duration
}

// relist is a 410 Gone the watcher answered by listing again: the changes between lastRV and
// listRV may have been missed by the watch (the list shows their result).
type relist struct {
	at             time.Duration
	lastRV, listRV uint64
}

// registerState is the state of one key for porcupine.
type registerState struct {
	exists bool
	value  int64
}

// registerModel: the sequential specification of one EasyService under create, update with a
// resourceVersion precondition, delete and get. An update may fail with a conflict in any state:
// the controller writes /status, which changes the resourceVersion without changing the value.
var registerModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range history {
			k := o.Input.(op).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		sort.Strings(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{registerState{}} },
	Step: func(state, input, _ interface{}) []interface{} {
		s, o := state.(registerState), input.(op)
		same := []interface{}{s}
		switch o.kind {
		case opCreate:
			switch o.out {
			case outOK:
				if !s.exists {
					return []interface{}{registerState{true, o.value}}
				}
			case outExists:
				if s.exists {
					return same
				}
			case outUnknown:
				if !s.exists {
					return []interface{}{s, registerState{true, o.value}}
				}
				return same
			}
		case opUpdate:
			switch o.out {
			case outOK:
				if s.exists && s.value == o.precond {
					return []interface{}{registerState{true, o.value}}
				}
			case outConflict:
				return same
			case outNotFound:
				if !s.exists {
					return same
				}
			case outUnknown:
				if s.exists && s.value == o.precond {
					return []interface{}{s, registerState{true, o.value}}
				}
				return same
			}
		case opDelete:
			switch o.out {
			case outOK:
				if s.exists {
					return []interface{}{registerState{}}
				}
			case outNotFound:
				if !s.exists {
					return same
				}
			case outUnknown:
				if s.exists {
					return []interface{}{s, registerState{}}
				}
				return same
			}
		case opGet:
			switch o.out {
			case outOK:
				if s.exists && s.value == o.value {
					return same
				}
			case outNotFound:
				if !s.exists {
					return same
				}
			case outUnknown:
				return same
			}
		}
		return nil
	},
	Equal: func(a, b interface{}) bool { return a.(registerState) == b.(registerState) },
	DescribeOperation: func(input, _ interface{}) string {
		return input.(op).String()
	},
}

// checkLinearizable checks the history with porcupine, key by key.
func checkLinearizable(ops []op, timeout time.Duration) (porcupine.CheckResult, string) {
	var history []porcupine.Operation
	for _, o := range ops {
		if o.kind == opGet && o.out == outUnknown {
			continue // a get that failed says nothing
		}
		history = append(history, porcupine.Operation{
			ClientId: o.client, Input: o, Call: int64(o.call), Output: nil, Return: int64(o.ret),
		})
	}
	result := porcupine.CheckOperationsTimeout(registerModel.ToModel(), history, timeout)
	if result != porcupine.Illegal {
		return result, ""
	}
	// Name the keys whose histories are not linearizable, with their operations.
	var b strings.Builder
	byKey := map[string][]op{}
	for _, o := range ops {
		byKey[o.key] = append(byKey[o.key], o)
	}
	for k, kops := range byKey {
		var h []porcupine.Operation
		for _, o := range kops {
			if o.kind == opGet && o.out == outUnknown {
				continue
			}
			h = append(h, porcupine.Operation{ClientId: o.client, Input: o, Call: int64(o.call), Return: int64(o.ret)})
		}
		if porcupine.CheckOperationsTimeout(registerModel.ToModel(), h, timeout) == porcupine.Illegal {
			fmt.Fprintf(&b, "key %s:\n", k)
			for _, o := range kops {
				fmt.Fprintf(&b, "  %s\n", o)
			}
		}
	}
	return result, b.String()
}

// checkResourceVersions: for one key, an answer that came after another returned never carries a
// smaller resourceVersion, and an acknowledged write carries a larger one than anything returned
// before it was sent.
func checkResourceVersions(ops []op) []string {
	var problems []string
	byKey := map[string][]op{}
	for _, o := range ops {
		if o.out == outOK && o.rv != 0 {
			byKey[o.key] = append(byKey[o.key], o)
		}
	}
	for k, kops := range byKey {
		for _, a := range kops {
			for _, b := range kops {
				if a.ret >= b.call {
					continue
				}
				write := b.kind == opCreate || b.kind == opUpdate
				if b.rv < a.rv || (write && b.rv == a.rv) {
					problems = append(problems, fmt.Sprintf("key %s: %s returned before %s was sent, but resourceVersion went from %d to %d", k, a, b, a.rv, b.rv))
				}
			}
		}
	}
	return problems
}

// checkWatch: the watcher's events came in strictly growing resourceVersions, none twice; every
// acknowledged create and update appears as an event with its resourceVersion and value, and every
// acknowledged delete as a DELETED event, unless the watcher had to relist (410) over it; no event
// carries a value nobody wrote.
func checkWatch(ops []op, events []watchEvent, relists []relist) []string {
	var problems []string
	seen := map[uint64]watchEvent{}
	var last uint64
	ri := 0
	for _, e := range events {
		for ri < len(relists) && relists[ri].at <= e.at {
			last = max(last, relists[ri].listRV)
			ri++
		}
		if prev, dup := seen[e.rv]; dup {
			problems = append(problems, fmt.Sprintf("event %s %s rv=%d seen twice (first %s %s)", e.typ, e.key, e.rv, prev.typ, prev.key))
		}
		if e.rv <= last {
			problems = append(problems, fmt.Sprintf("event %s %s rv=%d after rv %d", e.typ, e.key, e.rv, last))
		}
		seen[e.rv] = e
		last = max(last, e.rv)
	}
	inGap := func(rv uint64) bool {
		for _, r := range relists {
			if rv > r.lastRV && rv <= r.listRV {
				return true
			}
		}
		return false
	}
	written := map[string]map[int64]bool{}
	deleted := map[string]bool{}
	for _, e := range events {
		if e.typ == "DELETED" {
			deleted[e.key] = true
		}
	}
	for _, o := range ops {
		if o.kind == opCreate || o.kind == opUpdate {
			if written[o.key] == nil {
				written[o.key] = map[int64]bool{}
			}
			written[o.key][o.value] = true
		}
		if o.out != outOK {
			continue
		}
		switch o.kind {
		case opCreate, opUpdate:
			e, ok := seen[o.rv]
			switch {
			case !ok && !inGap(o.rv):
				problems = append(problems, fmt.Sprintf("no event for the acknowledged %s", o))
			case ok && (e.key != o.key || e.value != o.value):
				problems = append(problems, fmt.Sprintf("the event at rv %d is %s %s=%d, but the acknowledged %s", o.rv, e.typ, e.key, e.value, o))
			}
		case opDelete:
			relisted := false
			for _, r := range relists {
				relisted = relisted || r.at >= o.call
			}
			if !deleted[o.key] && !relisted {
				problems = append(problems, fmt.Sprintf("no DELETED event for the acknowledged %s", o))
			}
		}
	}
	for _, e := range events {
		if e.typ != "DELETED" && !written[e.key][e.value] {
			problems = append(problems, fmt.Sprintf("event %s %s rv=%d with value %d that nobody wrote", e.typ, e.key, e.rv, e.value))
		}
	}
	return problems
}

// checkFinal judges what the final reads (the gets of client reader, one per key, after the
// writers stopped) found, and what the watcher saw of deleted keys. For each key:
//
//   - kept (no delete was ever sent for it): if a create or update of it was acknowledged, the final
//     read finds it, with the value of the last acknowledged write or of a write sent after that
//     one whose answer was lost;
//   - deleted: it counts as deleted from the first answer that proves the delete took effect: a
//     delete answered 200 (or 404: already gone), or a 404 to a read sent after a delete was sent
//     (it existed before: a writer deletes only a key it has seen). From that answer on it stays
//     deleted: every read sent after it (the final read included) is answered 404, and the watcher
//     gets no event of the key after its DELETED event (no key is ever created again).
//
// Porcupine alone would let a create whose answer was lost take effect after the delete and bring
// the key back; no writer sends such a create after a delete, so this check allows none.
func checkFinal(ops []op, events []watchEvent, reader int) []string {
	var problems []string
	byKey := map[string][]op{}
	var keys []string
	for _, o := range ops {
		if _, ok := byKey[o.key]; !ok && o.client != reader {
			keys = append(keys, o.key) // a key of the writers (the reader's own are sentinels)
		}
		byKey[o.key] = append(byKey[o.key], o)
	}
	sort.Strings(keys)
	for _, key := range keys {
		kops := byKey[key]
		var final *op
		var lastWrite *op
		deleteSent := time.Duration(math.MaxInt64)
		for i := range kops {
			o := &kops[i]
			switch {
			case o.client == reader && o.kind == opGet:
				final = o
			case o.kind == opDelete:
				deleteSent = min(deleteSent, o.call)
			case (o.kind == opCreate || o.kind == opUpdate) && o.out == outOK:
				if lastWrite == nil || o.call > lastWrite.call {
					lastWrite = o
				}
			}
		}
		if final == nil {
			problems = append(problems, fmt.Sprintf("key %s: never read back at the end", key))
			continue
		}
		if deleteSent == math.MaxInt64 {
			switch {
			case lastWrite == nil:
			case final.out != outOK:
				problems = append(problems, fmt.Sprintf("key %s: the acknowledged %s, but at the end the object is gone (%s)", key, lastWrite, final.detail))
			case final.value != lastWrite.value:
				later := false
				for _, o := range kops {
					later = later || (o.value == final.value && o.out == outUnknown && o.kind != opGet && o.call > lastWrite.call)
				}
				if !later {
					problems = append(problems, fmt.Sprintf("key %s: the acknowledged %s, but at the end the object has value %d", key, lastWrite, final.value))
				}
			}
			continue
		}
		// When the delete is proven, and by which answer.
		gone := time.Duration(math.MaxInt64)
		var proof op
		for _, o := range kops {
			deleted := o.kind == opDelete && (o.out == outOK || o.out == outNotFound)
			absent := o.kind == opGet && o.out == outNotFound && o.call > deleteSent
			if (deleted || absent) && o.end < gone {
				gone, proof = o.end, o
			}
		}
		if gone == math.MaxInt64 {
			continue // every delete's outcome is unknown and no read proved it: porcupine judges the key
		}
		for _, o := range kops {
			if o.kind == opGet && o.client != reader && o.call > gone && o.out == outOK {
				problems = append(problems, fmt.Sprintf("key %s: deleted (%s), then read back: %s", key, proof, o))
			}
		}
		if final.out != outNotFound {
			problems = append(problems, fmt.Sprintf("key %s: deleted (%s), but the final read is %s", key, proof, final))
		}
	}
	deletedAt := map[string]watchEvent{}
	for _, e := range events {
		if d, ok := deletedAt[e.key]; ok && e.rv > d.rv {
			problems = append(problems, fmt.Sprintf("key %s: event %s rv=%d value %d after its DELETED event (rv=%d)", e.key, e.typ, e.rv, e.value, d.rv))
		}
		if _, ok := deletedAt[e.key]; !ok && e.typ == "DELETED" {
			deletedAt[e.key] = e
		}
	}
	return problems
}
