package devicesync

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/device"
)

// source simulates device management: a history of changes at increasing
// times, and the state it ends in.
type source struct {
	recs    map[string]device.Record // folded ID → record
	policy  *PolicyDoc
	changes []Change
}

// genHistory makes n changes: upserts, deletions, policies and full
// snapshots, over a small set of devices so that they collide. With
// ties, some records share their device's previous time but differ.
func genHistory(rng *rand.Rand, n int, ties bool) *source {
	s := &source{recs: map[string]device.Record{}}
	ids := []string{"A", "b", "C", "d", "E", "f", "G", "h"}
	tick := 0
	next := func() time.Time { tick++; return at(-10_000 + tick) }
	silent := false // a deletion only a later snapshot tells of
	for i := range n {
		k := rng.IntN(11)
		if i == n-1 && (silent || k == 9) {
			k = 10
		}
		switch {
		case k == 9:
			// Device management forgets a device without a change of its
			// own: only a later snapshot tells the gateways.
			id := ids[rng.IntN(len(ids))]
			next()
			delete(s.recs, device.Fold(id))
			silent = true
		case k < 5: // a few upserts and deletions in one change
			var ch Change
			for range 1 + rng.IntN(3) {
				id := ids[rng.IntN(len(ids))]
				if rng.IntN(3) == 0 {
					t := next()
					ch.Delete = append(ch.Delete, Deletion{DeviceID: id, Deleted: t})
					delete(s.recs, device.Fold(id))
					continue
				}
				t := next()
				if prev, ok := s.recs[device.Fold(id)]; ties && ok && rng.IntN(3) == 0 {
					t = prev.Updated
				}
				r := rec(id, t, func(r *device.Record) {
					r.Model = fmt.Sprintf("m%d", rng.IntN(4))
					r.Compromised = device.Fact(rng.IntN(3))
					r.Override = device.Override(rng.IntN(4))
				})
				ch.Upsert = append(ch.Upsert, r)
				s.recs[device.Fold(id)] = r
			}
			s.changes = append(s.changes, ch)
		case k < 7:
			p := &PolicyDoc{Revision: fmt.Sprint(tick), Updated: next(), policyConfig: device.Config{InactivityDays: rng.IntN(5)}}
			s.policy = p
			s.changes = append(s.changes, Change{Policy: p})
		default:
			silent = false
			t := next()
			ch := Change{Replace: true, Time: t}
			for _, k := range slices.Sorted(maps.Keys(s.recs)) {
				ch.Upsert = append(ch.Upsert, s.recs[k])
			}
			s.changes = append(s.changes, ch)
		}
	}
	return s
}

func (s *source) state() storeState {
	st := storeState{Loaded: s.policy != nil}
	for _, k := range slices.Sorted(maps.Keys(s.recs)) {
		st.Records = append(st.Records, s.recs[k])
	}
	if s.policy != nil {
		st.Policy = s.policy.Config()
	}
	return st
}

// TestConvergence is the property: gateways fed the same changes in any
// order, some more than once, end in the same state, and without ties
// that state is the source's.
func TestConvergence(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	dir := t.TempDir()
	for i := range 60 {
		ties := i%3 == 2
		src := genHistory(rng, 4+rng.IntN(20), ties)
		var got [2]storeState
		for g := range got {
			order := rng.Perm(len(src.changes))
			for range rng.IntN(3) { // redeliveries
				order = append(order, rng.IntN(len(src.changes)))
			}
			db := mustOpen(t, filepath.Join(dir, fmt.Sprintf("%d-%d.db", i, g)), Options{noSync: true})
			st := device.NewStore(device.StoreOptions{})
			for _, j := range order {
				if _, err := db.Apply(st, src.changes[j], nil); err != nil {
					t.Fatalf("case %d (seed %d): change %d: %v", i, seed, j, err)
				}
			}
			assertInStep(t, db, st)
			got[g] = stateOf(st)
			db.Close()
		}
		if diff := cmp.Diff(got[0], got[1]); diff != "" {
			t.Fatalf("case %d (seed %d, ties %v): two orders end differently (-first +second):\n%s", i, seed, ties, diff)
		}
		if !ties {
			if diff := cmp.Diff(src.state(), got[0]); diff != "" {
				t.Fatalf("case %d (seed %d): gateway differs from the source (-source +gateway):\n%s", i, seed, diff)
			}
		}
	}
}
