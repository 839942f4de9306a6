package store

import (
	"fmt"
	"maps"

	bolt "go.etcd.io/bbolt"

	"github.com/mailgate/enforcer/policy"
)

// ServiceIDs returns the stored datapath id of every service name, including
// services the config no longer has (their ids stay reserved; see
// AssignServiceIDs).
func (s *Store) ServiceIDs() (map[string]uint8, error) {
	var ids map[string]uint8
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		ids, err = readServiceIDs(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("service ids: %w", err)
	}
	return ids, nil
}

// SetServiceIDs replaces the stored ids with ids in one transaction. Ids
// must be in 1..policy.MaxServiceID and unique.
func (s *Store) SetServiceIDs(ids map[string]uint8) error {
	byID := map[uint8]string{}
	for name, id := range ids {
		if err := ValidateService(name); err != nil {
			return err
		}
		if err := ValidateServiceID(name, id); err != nil {
			return err
		}
		if other, dup := byID[id]; dup {
			a, b := min(name, other), max(name, other)
			return &InputError{Err: ErrInvalidServiceID, Field: "service id", Value: fmt.Sprint(id), Reason: fmt.Sprintf("is given to both %q and %q", a, b)}
		}
		byID[id] = name
	}
	err := s.update(func(tx *bolt.Tx) (bool, error) {
		old, err := readServiceIDs(tx)
		if err != nil {
			return false, err
		}
		if maps.Equal(old, ids) {
			return false, nil
		}
		return true, writeServiceIDs(tx, ids)
	})
	if err != nil {
		return fmt.Errorf("set service ids: %w", err)
	}
	return nil
}

// AssignServiceIDs gives every name in names a datapath id, in one
// transaction, and returns the ids of names. A name keeps the id it had, so
// that counters stay with their service across restarts and config edits.
// A new name gets the lowest id no stored name holds; only when none is
// left does it take the lowest id of a name not in names, whose mapping is
// dropped. It fails if names has more than policy.MaxServiceID entries.
func (s *Store) AssignServiceIDs(names []string) (map[string]uint8, error) {
	for _, name := range names {
		if err := ValidateService(name); err != nil {
			return nil, err
		}
	}
	want := map[string]bool{}
	for _, name := range names {
		want[name] = true
	}
	if len(want) > policy.MaxServiceID {
		return nil, &InputError{Err: ErrInvalidServiceID, Field: "services", Reason: fmt.Sprintf("%d are more than the datapath's %d service ids", len(want), policy.MaxServiceID), Hint: "merge some services in the config file", noValue: true}
	}
	result := map[string]uint8{}
	err := s.update(func(tx *bolt.Tx) (bool, error) {
		ids, err := readServiceIDs(tx)
		if err != nil {
			return false, err
		}
		holder := map[uint8]string{}
		for name, id := range ids {
			holder[id] = name
		}
		changed := false
		for _, name := range names {
			if _, ok := ids[name]; ok {
				continue
			}
			id := lowestFree(holder, func(string) bool { return false })
			if id == 0 {
				// Reuse a retired service's id: its counters will be
				// credited to name from now on.
				id = lowestFree(holder, func(n string) bool { return !want[n] })
				delete(ids, holder[id])
			}
			ids[name], holder[id] = id, name
			changed = true
		}
		for _, name := range names {
			result[name] = ids[name]
		}
		if !changed {
			return false, nil
		}
		return true, writeServiceIDs(tx, ids)
	})
	if err != nil {
		return nil, fmt.Errorf("assign service ids: %w", err)
	}
	return result, nil
}

// lowestFree returns the lowest id that nobody holds or whose holder is
// reclaimable, 0 if none.
func lowestFree(holder map[uint8]string, reclaimable func(string) bool) uint8 {
	for id := uint8(1); id <= policy.MaxServiceID; id++ {
		name, held := holder[id]
		if !held || reclaimable(name) {
			return id
		}
	}
	return 0
}

func readServiceIDs(tx *bolt.Tx) (map[string]uint8, error) {
	ids := map[string]uint8{}
	err := tx.Bucket(bucketServiceIDs).ForEach(func(k, v []byte) error {
		if len(v) != 1 || v[0] == 0 || v[0] > policy.MaxServiceID {
			return fmt.Errorf("%w: service_ids/%s: bad id %x", ErrCorrupt, k, v)
		}
		ids[string(k)] = v[0]
		return nil
	})
	return ids, err
}

func writeServiceIDs(tx *bolt.Tx, ids map[string]uint8) error {
	if err := tx.DeleteBucket(bucketServiceIDs); err != nil {
		return err
	}
	b, err := tx.CreateBucket(bucketServiceIDs)
	if err != nil {
		return err
	}
	for name, id := range ids {
		if err := b.Put([]byte(name), []byte{id}); err != nil {
			return err
		}
	}
	return nil
}
