package device

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxDiscovered is the default cap on discovered devices.
const DefaultMaxDiscovered = 100_000

// StoreOptions configure a [Store]. The zero value is the default.
type StoreOptions struct {
	// AllowMailIfNoPolicy lets every request through while no policy has
	// been set ([ReasonNoPolicyAllow]). Default false: fail closed.
	AllowMailIfNoPolicy bool
	// MaxDiscovered caps the devices [Store.Observe] remembers; when full,
	// the least recently seen is forgotten. Default (0)
	// DefaultMaxDiscovered; negative turns discovery off.
	MaxDiscovered int
}

// Store is the gateway's in-memory set of device records, the policy in
// force, and the devices seen without a record. Look-ups by device ID and
// by user are O(1) map look-ups on an immutable snapshot behind an
// atomic.Pointer: readers never lock and never see a half-applied change.
// Writers are serialised and copy on write (see [Store.Upsert] for the
// cost). The zero Store is not usable; call [NewStore].
type Store struct {
	mu     sync.Mutex // serialises writers of snap
	snap   atomic.Pointer[snapshot]
	policy atomic.Pointer[Policy]
	none   *Policy
	disc   *discovery
}

// snapshot is an immutable view of the records: a large base index and a
// small overlay of changes since the base was built. A write copies only
// the overlay (O(overlay)); when the overlay outgrows about the square root
// of the record count, it is merged into a new base (O(n)), so a single
// upsert costs O(sqrt n) amortised instead of the O(n) of copying
// everything. Readers check the overlay first, then the base: two map
// look-ups.
type snapshot struct {
	base      *index
	over      map[string]*Record   // folded device ID → record; nil: deleted
	overUsers map[string][]*Record // folded user → complete list; empty: none
	n         int
}

type index struct {
	byID   map[string]*Record
	byUser map[string][]*Record
}

var emptySnapshot = &snapshot{base: &index{byID: map[string]*Record{}, byUser: map[string][]*Record{}}}

// NewStore returns an empty store with no policy set.
func NewStore(opts StoreOptions) *Store {
	s := &Store{none: NoPolicy(opts.AllowMailIfNoPolicy)}
	s.snap.Store(emptySnapshot)
	limit := opts.MaxDiscovered
	if limit == 0 {
		limit = DefaultMaxDiscovered
	}
	s.disc = newDiscovery(limit)
	return s
}

// SetPolicy makes p the policy in force; nil returns to "no policy
// loaded". Whoever loads policies should set one only once the records it
// depends on are loaded too, or every device looks unknown meanwhile.
func (s *Store) SetPolicy(p *Policy) { s.policy.Store(p) }

// Policy returns the policy in force: the one set, else [NoPolicy] with
// the store's AllowMailIfNoPolicy.
func (s *Store) Policy() *Policy {
	if p := s.policy.Load(); p != nil {
		return p
	}
	return s.none
}

// Decide looks up the request's device and decides with the policy in
// force (see [Decide]).
func (s *Store) Decide(id Identity, now time.Time) Decision {
	return Decide(id, s.Lookup(id.DeviceID), s.Policy(), now)
}

// Lookup returns the record of a device ID, compared without regard to
// case, or nil. The record is shared: do not modify it.
func (s *Store) Lookup(deviceID string) *Record {
	var buf [foldBufLen]byte
	return s.snap.Load().lookup(fold(buf[:0], deviceID))
}

// ByUser returns the records whose User folds to the same key as user
// (trimmed, case-insensitive; "CONTOSO\jane" and "jane@contoso.com" are
// different keys). The slice and records are shared: do not modify them.
func (s *Store) ByUser(user string) []*Record {
	var buf [foldBufLen]byte
	return s.snap.Load().byUser(fold(buf[:0], user))
}

// Len returns the number of records.
func (s *Store) Len() int { return s.snap.Load().n }

// Records returns every record, sorted by folded device ID, for export.
// The records are shared: do not modify them.
func (s *Store) Records() []*Record {
	sn := s.snap.Load()
	type keyed struct {
		k string
		r *Record
	}
	all := make([]keyed, 0, sn.n)
	for k, r := range sn.base.byID {
		if _, changed := sn.over[k]; !changed {
			all = append(all, keyed{k, r})
		}
	}
	for k, r := range sn.over {
		if r != nil {
			all = append(all, keyed{k, r})
		}
	}
	slices.SortFunc(all, func(a, b keyed) int { return cmp.Compare(a.k, b.k) })
	out := make([]*Record, len(all))
	for i := range all {
		out[i] = all[i].r
	}
	return out
}

// Replace swaps the whole record set for recs (a bulk load or full sync).
// Two records for one device ID (case-insensitively) or an invalid record
// fail the whole replace, leaving the store as it was. Devices that now
// have a record leave the discovered set.
func (s *Store) Replace(recs []Record) error {
	ix := &index{byID: make(map[string]*Record, len(recs)), byUser: make(map[string][]*Record)}
	store := make([]Record, len(recs)) // one allocation for all records
	for i := range recs {
		if err := recs[i].validate(); err != nil {
			return err
		}
		k := foldString(recs[i].DeviceID)
		if prev, dup := ix.byID[k]; dup {
			return fmt.Errorf("device record %q and %q: %w", prev.DeviceID, recs[i].DeviceID, ErrDuplicateDevice)
		}
		store[i] = recs[i]
		r := &store[i]
		ix.byID[k] = r
		u := foldString(r.User)
		ix.byUser[u] = append(ix.byUser[u], r)
	}
	s.mu.Lock()
	s.snap.Store(&snapshot{base: ix, n: len(ix.byID)})
	s.mu.Unlock()
	for k := range ix.byID {
		s.disc.forget(k)
	}
	return nil
}

// Upsert adds or replaces records by device ID, all in one step; of two
// records for one device ID, the later wins. An
// invalid record fails the whole call. Cost: O(sqrt n) amortised per
// call plus O(1) per record (see snapshot); batch records into one call
// where possible.
func (s *Store) Upsert(recs ...Record) error {
	keys := make([]string, len(recs))
	copies := make([]Record, len(recs))
	for i := range recs {
		if err := recs[i].validate(); err != nil {
			return err
		}
		keys[i] = foldString(recs[i].DeviceID)
		copies[i] = recs[i]
	}
	s.write(func(w *writer) {
		for i := range copies {
			w.put(keys[i], &copies[i])
		}
	})
	for _, k := range keys {
		s.disc.forget(k)
	}
	return nil
}

// Delete removes the records of the given device IDs and returns how many
// existed.
func (s *Store) Delete(deviceIDs ...string) int {
	n := 0
	s.write(func(w *writer) {
		for _, id := range deviceIDs {
			if w.del(foldString(id)) {
				n++
			}
		}
	})
	return n
}

func (s *Store) write(f func(*writer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	w := &writer{
		base:      old.base,
		over:      make(map[string]*Record, len(old.over)+1),
		overUsers: make(map[string][]*Record, len(old.overUsers)+1),
		n:         old.n,
	}
	for k, v := range old.over {
		w.over[k] = v
	}
	for k, v := range old.overUsers {
		w.overUsers[k] = v
	}
	f(w)
	next := &snapshot{base: w.base, over: w.over, overUsers: w.overUsers, n: w.n}
	if len(next.over) > mergeThreshold(next.n) {
		next = next.merged()
	}
	s.snap.Store(next)
}

// mergeThreshold balances the per-write copy of the overlay against the
// O(n) merge: about sqrt(n) minimises their sum.
func mergeThreshold(n int) int {
	return max(64, int(math.Sqrt(float64(n))))
}

func (sn *snapshot) lookup(k []byte) *Record {
	if len(sn.over) > 0 {
		if r, ok := sn.over[string(k)]; ok {
			return r
		}
	}
	return sn.base.byID[string(k)]
}

func (sn *snapshot) byUser(k []byte) []*Record {
	if len(sn.overUsers) > 0 {
		if l, ok := sn.overUsers[string(k)]; ok {
			return l
		}
	}
	return sn.base.byUser[string(k)]
}

// merged folds the overlay into a new base.
func (sn *snapshot) merged() *snapshot {
	ix := &index{
		byID:   make(map[string]*Record, sn.n),
		byUser: make(map[string][]*Record, len(sn.base.byUser)+len(sn.overUsers)),
	}
	for k, r := range sn.base.byID {
		ix.byID[k] = r
	}
	for k, r := range sn.over {
		if r == nil {
			delete(ix.byID, k)
		} else {
			ix.byID[k] = r
		}
	}
	for u, l := range sn.base.byUser {
		ix.byUser[u] = l
	}
	for u, l := range sn.overUsers {
		if len(l) == 0 {
			delete(ix.byUser, u)
		} else {
			ix.byUser[u] = l
		}
	}
	return &snapshot{base: ix, n: len(ix.byID)}
}

// writer builds the next snapshot's overlay.
type writer struct {
	base      *index
	over      map[string]*Record
	overUsers map[string][]*Record
	n         int
}

func (w *writer) get(k string) *Record {
	if r, ok := w.over[k]; ok {
		return r
	}
	return w.base.byID[k]
}

func (w *writer) users(u string) []*Record {
	if l, ok := w.overUsers[u]; ok {
		return l
	}
	return w.base.byUser[u]
}

// setUser rewrites one user's list without prev and with next (either may
// be nil). Lists are never modified in place: readers may hold them.
func (w *writer) setUser(u string, prev, next *Record) {
	cur := w.users(u)
	l := make([]*Record, 0, len(cur)+1)
	for _, r := range cur {
		if r != prev {
			l = append(l, r)
		}
	}
	if next != nil {
		l = append(l, next)
	}
	w.overUsers[u] = l
}

func (w *writer) put(k string, r *Record) {
	prev := w.get(k)
	if prev == nil {
		w.n++
	}
	w.over[k] = r
	nu := foldString(r.User)
	if prev != nil {
		if pu := foldString(prev.User); pu != nu {
			w.setUser(pu, prev, nil)
			prev = nil
		}
	}
	w.setUser(nu, prev, r)
}

func (w *writer) del(k string) bool {
	prev := w.get(k)
	if prev == nil {
		return false
	}
	w.n--
	if _, inBase := w.base.byID[k]; inBase {
		w.over[k] = nil
	} else {
		delete(w.over, k)
	}
	w.setUser(foldString(prev.User), prev, nil)
	return true
}
