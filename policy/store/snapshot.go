package store

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mailgate/enforcer/policy"
)

// State is the whole store as of one revision.
type State struct {
	Revision   uint64                     `json:"revision"`
	Allow      map[string][]Entry         `json:"allow"`     // by service name, in key order
	Deny       []Entry                    `json:"deny"`      // in key order
	Countries  map[string]CountryOverride `json:"countries"` // by service name
	ServiceIDs map[string]uint8           `json:"service_ids"`
}

// Snapshot reads the whole store in one read transaction, so what it
// returns is exactly the state at State.Revision.
func (s *Store) Snapshot() (State, error) {
	st := State{
		Allow:      map[string][]Entry{},
		Countries:  map[string]CountryOverride{},
		ServiceIDs: map[string]uint8{},
	}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if st.Revision, err = revision(tx); err != nil {
			return err
		}
		allow := tx.Bucket(bucketAllow)
		err = allow.ForEachBucket(func(k []byte) error {
			list, err := readEntries(allow.Bucket(k), "allow/"+string(k))
			st.Allow[string(k)] = list
			return err
		})
		if err != nil {
			return err
		}
		if st.Deny, err = readEntries(tx.Bucket(bucketDeny), "deny"); err != nil {
			return err
		}
		countries := tx.Bucket(bucketCountries)
		err = countries.ForEachBucket(func(k []byte) error {
			o, err := readCountries(countries.Bucket(k), string(k))
			st.Countries[string(k)] = o
			return err
		})
		if err != nil {
			return err
		}
		st.ServiceIDs, err = readServiceIDs(tx)
		return err
	})
	if err != nil {
		return State{}, fmt.Errorf("read state: %w", err)
	}
	return st, nil
}

// Live returns st without the allow and deny entries expired at now:
// what is in force. st is not modified.
func (st State) Live(now time.Time) State {
	out := st
	out.Allow = make(map[string][]Entry, len(st.Allow))
	for name, es := range st.Allow {
		if live := liveEntries(es, now); len(live) > 0 {
			out.Allow[name] = live
		}
	}
	out.Deny = liveEntries(st.Deny, now)
	return out
}

func liveEntries(es []Entry, now time.Time) []Entry {
	return slices.DeleteFunc(slices.Clone(es), func(e Entry) bool { return e.Expired(now) })
}

// NextExpiry is the earliest expiry after now of an entry of st; zero
// when no entry expires after now.
func (st State) NextExpiry(now time.Time) time.Time {
	var next time.Time
	consider := func(es []Entry) {
		for _, e := range es {
			if !e.ExpiresAt.IsZero() && e.ExpiresAt.After(now) && (next.IsZero() || e.ExpiresAt.Before(next)) {
				next = e.ExpiresAt
			}
		}
	}
	for _, es := range st.Allow {
		consider(es)
	}
	consider(st.Deny)
	return next
}

// Apply returns p with the state laid over it: each service's allowlist
// gains the stored entries for its name, its country list becomes
// ApplyCountries(config, overrides), and the deny list gains the stored
// deny entries. Prefixes already in the config are not repeated. Stored
// entries for names p has no service for are left out (see Orphans).
// Service ids are not touched: policy/compose assigns them. p itself is
// not modified.
func (st State) Apply(p policy.Policy) policy.Policy {
	out := p
	out.Services = slices.Clone(p.Services)
	for i := range out.Services {
		svc := &out.Services[i]
		svc.Allow = mergePrefixes(svc.Allow, st.Allow[svc.Name])
		if o, ok := st.Countries[svc.Name]; ok {
			svc.Countries = ApplyCountries(svc.Countries, o)
		} else {
			svc.Countries = slices.Clone(svc.Countries)
		}
	}
	out.Deny = mergePrefixes(p.Deny, st.Deny)
	return out
}

// Orphans lists service names the state has allow entries or country
// overrides for but p has no service of: left over from a service the
// config file dropped or renamed.
func (st State) Orphans(p policy.Policy) []string {
	have := map[string]bool{}
	for _, svc := range p.Services {
		have[svc.Name] = true
	}
	var out []string
	for name := range st.Allow {
		if !have[name] {
			out = append(out, name)
		}
	}
	for name := range st.Countries {
		if _, dup := st.Allow[name]; !have[name] && !dup {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func mergePrefixes(config []netip.Prefix, entries []Entry) []netip.Prefix {
	out := slices.Clone(config)
	seen := make(map[netip.Prefix]bool, len(config))
	for _, c := range config {
		if c.IsValid() {
			seen[policy.Normalize(c)] = true
		}
	}
	for _, e := range entries {
		if !seen[e.Prefix] {
			seen[e.Prefix] = true
			out = append(out, e.Prefix)
		}
	}
	return out
}
