package store

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A country's override for one service is one key, so it is either added
// or removed, never both.
var (
	countryAdded   = []byte("+")
	countryRemoved = []byte("-")
)

// CountryOverride is the CLI's changes to one service's country list. The
// service admits (config ∪ Added) \ Removed; see ApplyCountries.
type CountryOverride struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// AddCountries records codes as added to service's country list, clearing
// any removal of them, in one transaction; it returns how many overrides
// changed. A code the config already lists is recorded too: the operator
// asked for it, so it stays admitted even if the config file later drops it.
func (s *Store) AddCountries(service string, codes []string) (changed int, err error) {
	changed, err = s.setCountries(service, codes, countryAdded)
	if err != nil {
		return 0, fmt.Errorf("add countries to %s: %w", service, err)
	}
	return changed, nil
}

// RemoveCountries records codes as removed from service's country list,
// clearing any addition of them, in one transaction; it returns how many
// overrides changed. Such a removal overrides the config file until it is
// cleared, whatever later edits of the file say, so the daemon no longer
// records removals (it refuses to remove a country of the file, as with
// allowlists, and takes back additions with ClearCountries). Removals
// recorded by older versions stay in force and are shown; ClearCountries
// and ResetCountries drop them.
func (s *Store) RemoveCountries(service string, codes []string) (changed int, err error) {
	changed, err = s.setCountries(service, codes, countryRemoved)
	if err != nil {
		return 0, fmt.Errorf("remove countries from %s: %w", service, err)
	}
	return changed, nil
}

func (s *Store) setCountries(service string, codes []string, mark []byte) (changed int, err error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	for _, cc := range codes {
		if err := ValidateCountry(cc); err != nil {
			return 0, err
		}
	}
	err = s.update(func(tx *bolt.Tx) (bool, error) {
		b, err := tx.Bucket(bucketCountries).CreateBucketIfNotExists([]byte(service))
		if err != nil {
			return false, err
		}
		for _, cc := range codes {
			if string(b.Get([]byte(cc))) == string(mark) {
				continue
			}
			if err := b.Put([]byte(cc), mark); err != nil {
				return false, err
			}
			changed++
		}
		return changed > 0, nil
	})
	return changed, err
}

// ClearCountries drops service's overrides (added or removed) of codes in
// one transaction, so the service follows the config file for them again;
// it returns how many overrides it dropped.
func (s *Store) ClearCountries(service string, codes []string) (cleared int, err error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	for _, cc := range codes {
		if err := ValidateCountry(cc); err != nil {
			return 0, err
		}
	}
	err = s.update(func(tx *bolt.Tx) (bool, error) {
		b := tx.Bucket(bucketCountries).Bucket([]byte(service))
		if b == nil {
			return false, nil
		}
		for _, cc := range codes {
			if b.Get([]byte(cc)) == nil {
				continue
			}
			if err := b.Delete([]byte(cc)); err != nil {
				return false, err
			}
			cleared++
		}
		return cleared > 0, nil
	})
	if err != nil {
		return 0, fmt.Errorf("clear country overrides of %s: %w", service, err)
	}
	return cleared, nil
}

// ResetCountries drops every country override of service in one
// transaction: its country list is the config file's again. It returns how
// many overrides it dropped.
func (s *Store) ResetCountries(service string) (cleared int, err error) {
	if err := ValidateService(service); err != nil {
		return 0, err
	}
	err = s.update(func(tx *bolt.Tx) (bool, error) {
		countries := tx.Bucket(bucketCountries)
		b := countries.Bucket([]byte(service))
		if b == nil {
			return false, nil
		}
		b.ForEach(func(_, _ []byte) error { cleared++; return nil })
		return cleared > 0, countries.DeleteBucket([]byte(service))
	})
	if err != nil {
		return 0, fmt.Errorf("reset countries of %s: %w", service, err)
	}
	return cleared, nil
}

// CountryOverrides returns service's added and removed countries, sorted.
func (s *Store) CountryOverrides(service string) (added, removed []string, err error) {
	if err := ValidateService(service); err != nil {
		return nil, nil, err
	}
	var o CountryOverride
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCountries).Bucket([]byte(service))
		if b == nil {
			return nil
		}
		o, err = readCountries(b, service)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("country overrides of %s: %w", service, err)
	}
	return o.Added, o.Removed, nil
}

func readCountries(b *bolt.Bucket, service string) (CountryOverride, error) {
	var o CountryOverride
	err := b.ForEach(func(k, v []byte) error {
		cc := string(k)
		if ValidateCountry(cc) != nil {
			return fmt.Errorf("%w: countries/%s: bad country code %q", ErrCorrupt, service, k)
		}
		switch string(v) {
		case string(countryAdded):
			o.Added = append(o.Added, cc)
		case string(countryRemoved):
			o.Removed = append(o.Removed, cc)
		default:
			return fmt.Errorf("%w: countries/%s/%s: bad mark %q", ErrCorrupt, service, cc, v)
		}
		return nil
	})
	return o, err // ForEach goes in key order, so both lists are sorted
}

// ApplyCountries returns the country list a service admits: the config's
// list plus o.Added minus o.Removed, sorted and without duplicates.
func ApplyCountries(config []string, o CountryOverride) []string {
	set := make(map[string]bool, len(config)+len(o.Added))
	for _, cc := range config {
		set[cc] = true
	}
	for _, cc := range o.Added {
		set[cc] = true
	}
	for _, cc := range o.Removed {
		delete(set, cc)
	}
	out := make([]string, 0, len(set))
	for cc := range set {
		out = append(out, cc)
	}
	slices.Sort(out)
	return out
}
