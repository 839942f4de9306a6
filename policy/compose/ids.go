package compose

import (
	"fmt"
	"maps"

	"github.com/mailgate/enforcer/policy"
)

// AssignIDs returns the datapath service ids to keep after a (re)load:
// the ids of existing (the map persisted last time) with an id for every
// name in names. A name keeps the id it had, so that its counters stay
// with it across restarts and config edits. A new name gets the lowest id
// in 1..policy.MaxServiceID that no existing name holds; only when none
// is left does it take the lowest id of a retired name (in existing, not
// in names), whose entry is dropped: from then on its counters are
// credited to the new name. The result includes the retired names that
// keep their ids; persist it whole.
//
// It is the one allocator of service ids. It fails when existing holds an
// id out of range or one id twice, on an empty name, and when names holds
// more than policy.MaxServiceID names.
func AssignIDs(existing map[string]uint8, names []string) (map[string]uint8, error) {
	holder := map[uint8]string{}
	for name, id := range existing {
		if id == 0 || id > policy.MaxServiceID {
			return nil, fmt.Errorf("service %q: stored id %d out of range 1..%d", name, id, policy.MaxServiceID)
		}
		if other, dup := holder[id]; dup {
			return nil, fmt.Errorf("services %q and %q: both stored with id %d", min(name, other), max(name, other), id)
		}
		holder[id] = name
	}
	want := map[string]bool{}
	for _, name := range names {
		if name == "" {
			return nil, fmt.Errorf("service with an empty name")
		}
		want[name] = true
	}
	if len(want) > policy.MaxServiceID {
		return nil, fmt.Errorf("%d services are more than the datapath's %d service ids", len(want), policy.MaxServiceID)
	}
	out := maps.Clone(existing)
	if out == nil {
		out = map[string]uint8{}
	}
	for _, name := range names {
		if _, ok := out[name]; ok {
			continue
		}
		id := lowestID(holder, func(string) bool { return false })
		if id == 0 {
			// Reuse a retired service's id: its counters will be
			// credited to name from now on.
			id = lowestID(holder, func(n string) bool { return !want[n] })
			delete(out, holder[id])
		}
		out[name], holder[id] = id, name
	}
	return out, nil
}

// lowestID returns the lowest id nobody holds or whose holder is
// reclaimable, 0 if none. len(want) <= MaxServiceID guarantees one.
func lowestID(holder map[uint8]string, reclaimable func(string) bool) uint8 {
	for id := uint8(1); id <= policy.MaxServiceID; id++ {
		if name, held := holder[id]; !held || reclaimable(name) {
			return id
		}
	}
	return 0
}
