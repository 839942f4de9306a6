package store

import (
	"fmt"
	"maps"

	bolt "go.etcd.io/bbolt"

	"github.com/mailgate/enforcer/policy"
)

// ServiceIDs returns the stored datapath id of every service name, including
// services the config no longer has (their ids stay reserved). The store
// only keeps the map: policy/compose.AssignIDs allocates the ids.
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
