package store

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Entry is one CIDR of an allowlist or of the deny list, with who added it,
// when and why.
type Entry struct {
	Prefix  netip.Prefix `json:"prefix"` // canonical: masked, IPv4 as IPv4
	Comment string       `json:"comment,omitempty"`
	AddedAt time.Time    `json:"added_at"` // UTC; set to now when zero on add
	AddedBy string       `json:"added_by,omitempty"`
	// ExpiresAt is when the entry stops being in force (UTC); zero: never.
	// An expired entry is left out by State.Live and deleted by
	// DropExpired.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Expired reports whether e is no longer in force at now.
func (e Entry) Expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// record is an entry's value in the file; the prefix is the key.
type record struct {
	Comment   string    `json:"comment,omitempty"`
	AddedAt   time.Time `json:"added_at"`
	AddedBy   string    `json:"added_by,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// AddAllow adds entries to service's allowlist in one transaction and
// returns how many were new or changed. An entry whose prefix is already
// listed keeps its original comment and time, but takes the new entry's
// expiry: re-adding with --expires extends (or shortens) it, re-adding
// without makes it permanent. If any entry is invalid nothing is added.
func (s *Store) AddAllow(service string, entries []Entry) (added int, err error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	entries, err = prepareEntries(entries)
	if err != nil {
		return 0, err
	}
	err = s.update(func(tx *bolt.Tx) (bool, error) {
		b, err := tx.Bucket(bucketAllow).CreateBucketIfNotExists([]byte(service))
		if err != nil {
			return false, err
		}
		added, err = putEntries(b, entries)
		return added > 0, err
	})
	if err != nil {
		return 0, fmt.Errorf("add to allowlist of %s: %w", service, err)
	}
	return added, nil
}

// RemoveAllow removes prefixes from service's allowlist in one transaction
// and returns how many were there. Prefixes not listed are not an error.
func (s *Store) RemoveAllow(service string, prefixes []netip.Prefix) (removed int, err error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	if err := validatePrefixes(prefixes); err != nil {
		return 0, err
	}
	err = s.update(func(tx *bolt.Tx) (bool, error) {
		parent := tx.Bucket(bucketAllow)
		b := parent.Bucket([]byte(service))
		if b == nil {
			return false, nil
		}
		removed, err = deleteEntries(b, prefixes)
		if err != nil {
			return false, err
		}
		if empty(b) {
			if err := parent.DeleteBucket([]byte(service)); err != nil {
				return false, err
			}
		}
		return removed > 0, nil
	})
	if err != nil {
		return 0, fmt.Errorf("remove from allowlist of %s: %w", service, err)
	}
	return removed, nil
}

// ListAllow returns service's allowlist in key order: IPv4 before IPv6,
// then by address, then by prefix length.
func (s *Store) ListAllow(service string) ([]Entry, error) {
	if err := ValidateService(service); err != nil {
		return nil, err
	}
	var list []Entry
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAllow).Bucket([]byte(service))
		if b == nil {
			return nil
		}
		var err error
		list, err = readEntries(b, "allow/"+service)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list allowlist of %s: %w", service, err)
	}
	return list, nil
}

// AddDeny adds entries to the deny list in one transaction and returns
// how many were new; see AddAllow.
func (s *Store) AddDeny(entries []Entry) (added int, err error) {
	entries, err = prepareEntries(entries)
	if err != nil {
		return 0, err
	}
	err = s.update(func(tx *bolt.Tx) (bool, error) {
		added, err = putEntries(tx.Bucket(bucketDeny), entries)
		return added > 0, err
	})
	if err != nil {
		return 0, fmt.Errorf("add to deny list: %w", err)
	}
	return added, nil
}

// RemoveDeny removes prefixes from the deny list in one transaction and
// returns how many were there.
func (s *Store) RemoveDeny(prefixes []netip.Prefix) (removed int, err error) {
	if err := validatePrefixes(prefixes); err != nil {
		return 0, err
	}
	err = s.update(func(tx *bolt.Tx) (bool, error) {
		removed, err = deleteEntries(tx.Bucket(bucketDeny), prefixes)
		return removed > 0, err
	})
	if err != nil {
		return 0, fmt.Errorf("remove from deny list: %w", err)
	}
	return removed, nil
}

// ListDeny returns the deny list in key order.
func (s *Store) ListDeny() ([]Entry, error) {
	var list []Entry
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		list, err = readEntries(tx.Bucket(bucketDeny), "deny")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list deny list: %w", err)
	}
	return list, nil
}

// prepareEntries validates every entry before any is written, and fills in
// the time: now when unset, always in UTC so that what is read back
// compares equal field by field.
func prepareEntries(entries []Entry) ([]Entry, error) {
	now := time.Now().UTC().Round(0)
	out := make([]Entry, len(entries))
	for i, e := range entries {
		if err := validateEntry(e); err != nil {
			return nil, err
		}
		if e.AddedAt.IsZero() {
			e.AddedAt = now
		}
		e.AddedAt = e.AddedAt.UTC().Round(0)
		if !e.ExpiresAt.IsZero() {
			e.ExpiresAt = e.ExpiresAt.UTC().Round(0)
		}
		out[i] = e
	}
	return out, nil
}

func validatePrefixes(prefixes []netip.Prefix) error {
	for _, p := range prefixes {
		if err := ValidatePrefix(p); err != nil {
			return err
		}
	}
	return nil
}

func putEntries(b *bolt.Bucket, entries []Entry) (added int, err error) {
	for _, e := range entries {
		k := prefixKey(e.Prefix)
		r := record{Comment: e.Comment, AddedAt: e.AddedAt, AddedBy: e.AddedBy, ExpiresAt: e.ExpiresAt}
		if old := b.Get(k); old != nil {
			// Listed already (also a duplicate within entries): only
			// the expiry changes.
			var o record
			if err := json.Unmarshal(old, &o); err != nil {
				return 0, fmt.Errorf("%w: %s: %w", ErrCorrupt, e.Prefix, err)
			}
			if o.ExpiresAt.Equal(e.ExpiresAt) {
				continue
			}
			o.ExpiresAt = e.ExpiresAt
			r = o
		}
		v, err := json.Marshal(r)
		if err != nil {
			return 0, err
		}
		if err := b.Put(k, v); err != nil {
			return 0, err
		}
		added++
	}
	return added, nil
}

func deleteEntries(b *bolt.Bucket, prefixes []netip.Prefix) (removed int, err error) {
	for _, p := range prefixes {
		k := prefixKey(p)
		if b.Get(k) == nil {
			continue
		}
		if err := b.Delete(k); err != nil {
			return 0, err
		}
		removed++
	}
	return removed, nil
}

func readEntries(b *bolt.Bucket, where string) ([]Entry, error) {
	var list []Entry
	err := b.ForEach(func(k, v []byte) error {
		p, ok := parsePrefixKey(k)
		if !ok {
			return fmt.Errorf("%w: %s: bad prefix key %x", ErrCorrupt, where, k)
		}
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: %s: %s: %w", ErrCorrupt, where, p, err)
		}
		list = append(list, Entry{Prefix: p, Comment: r.Comment, AddedAt: r.AddedAt, AddedBy: r.AddedBy, ExpiresAt: r.ExpiresAt})
		return nil
	})
	return list, err
}

// DropExpired deletes every allow and deny entry expired at now, in one
// transaction, and returns how many it deleted. The daemon calls it on
// start and when the next entry expires; until then State.Live leaves
// expired entries out, so an entry is never in force after its time.
func (s *Store) DropExpired(now time.Time) (dropped int, err error) {
	err = s.update(func(tx *bolt.Tx) (bool, error) {
		drop := func(b *bolt.Bucket, where string) error {
			es, err := readEntries(b, where)
			if err != nil {
				return err
			}
			var gone []netip.Prefix
			for _, e := range es {
				if e.Expired(now) {
					gone = append(gone, e.Prefix)
				}
			}
			n, err := deleteEntries(b, gone)
			dropped += n
			return err
		}
		allow := tx.Bucket(bucketAllow)
		var emptied [][]byte
		err := allow.ForEachBucket(func(k []byte) error {
			b := allow.Bucket(k)
			if err := drop(b, "allow/"+string(k)); err != nil {
				return err
			}
			if empty(b) {
				emptied = append(emptied, k)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		for _, k := range emptied {
			if err := allow.DeleteBucket(k); err != nil {
				return false, err
			}
		}
		if err := drop(tx.Bucket(bucketDeny), "deny"); err != nil {
			return false, err
		}
		return dropped > 0, nil
	})
	if err != nil {
		return 0, fmt.Errorf("drop expired entries: %w", err)
	}
	return dropped, nil
}

func empty(b *bolt.Bucket) bool {
	k, _ := b.Cursor().First()
	return k == nil
}

// prefixKey encodes a canonical prefix so that keys sort by family, then
// address, then length.
func prefixKey(p netip.Prefix) []byte {
	a := p.Addr()
	k := make([]byte, 0, 18)
	if a.Is4() {
		k = append(k, 4)
	} else {
		k = append(k, 6)
	}
	k = append(k, a.AsSlice()...)
	return append(k, byte(p.Bits()))
}

func parsePrefixKey(k []byte) (netip.Prefix, bool) {
	if len(k) < 2 {
		return netip.Prefix{}, false
	}
	var want int
	switch k[0] {
	case 4:
		want = 4
	case 6:
		want = 16
	default:
		return netip.Prefix{}, false
	}
	if len(k) != 1+want+1 {
		return netip.Prefix{}, false
	}
	a, _ := netip.AddrFromSlice(k[1 : 1+want])
	p := netip.PrefixFrom(a, int(k[1+want]))
	if !p.IsValid() || p.Masked() != p {
		return netip.Prefix{}, false
	}
	return p, true
}
