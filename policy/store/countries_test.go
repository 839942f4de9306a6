package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCountries(t *testing.T) {
	type step struct {
		remove      bool
		codes       []string
		wantChanged int
	}
	add := func(n int, codes ...string) step { return step{codes: codes, wantChanged: n} }
	remove := func(n int, codes ...string) step { return step{remove: true, codes: codes, wantChanged: n} }
	tests := []struct {
		name        string
		steps       []step
		wantAdded   []string
		wantRemoved []string
		wantRev     uint64
	}{
		{name: "add", steps: []step{add(2, "FR", "DE")}, wantAdded: []string{"DE", "FR"}, wantRev: 1},
		{name: "remove a config country", steps: []step{remove(1, "US")}, wantRemoved: []string{"US"}, wantRev: 1},
		{name: "adding back clears the removal", steps: []step{remove(1, "US"), add(1, "US")}, wantAdded: []string{"US"}, wantRev: 2},
		{name: "removing an addition", steps: []step{add(1, "DE"), remove(1, "DE")}, wantRemoved: []string{"DE"}, wantRev: 2},
		{name: "add twice", steps: []step{add(1, "DE"), add(0, "DE")}, wantAdded: []string{"DE"}, wantRev: 1},
		{name: "remove twice", steps: []step{remove(1, "US"), remove(0, "US")}, wantRemoved: []string{"US"}, wantRev: 1},
		{name: "duplicate in one call", steps: []step{add(1, "DE", "DE")}, wantAdded: []string{"DE"}, wantRev: 1},
		{name: "mixed", steps: []step{add(2, "DE", "AT"), remove(2, "AT", "US"), add(1, "CH", "DE")}, wantAdded: []string{"CH", "DE"}, wantRemoved: []string{"AT", "US"}, wantRev: 3},
		{name: "empty call", steps: []step{add(0)}, wantRev: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, t.TempDir())
			for i, st := range tc.steps {
				op, f := "AddCountries", s.AddCountries
				if st.remove {
					op, f = "RemoveCountries", s.RemoveCountries
				}
				n, err := f("webmail", st.codes)
				if err != nil {
					t.Fatalf("step %d: %s(%v): %v", i, op, st.codes, err)
				}
				if n != st.wantChanged {
					t.Errorf("step %d: %s(%v) = %d, want %d", i, op, st.codes, n, st.wantChanged)
				}
			}
			added, removed, err := s.CountryOverrides("webmail")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantAdded, added); diff != "" {
				t.Errorf("added (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRemoved, removed); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			if rev := mustRevision(t, s); rev != tc.wantRev {
				t.Errorf("revision = %d, want %d", rev, tc.wantRev)
			}
			// Other services are untouched.
			if a, r, err := s.CountryOverrides("activesync"); err != nil || a != nil || r != nil {
				t.Errorf("CountryOverrides(activesync) = %v, %v, %v; want none", a, r, err)
			}
		})
	}
}

func TestCountriesInvalid(t *testing.T) {
	tests := []struct {
		code string
		want []string
	}{
		{"de", []string{`"de"`, "upper case: DE"}},
		{"De", []string{"upper case: DE"}},
		{"DEU", []string{"not two upper-case letters", "ISO 3166-1 alpha-2"}},
		{"", []string{"not two upper-case letters"}},
		{"D1", []string{"not two upper-case letters", "e.g. DE"}},
		{"ÄÖ", []string{"not two upper-case letters"}},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			s := mustOpen(t, t.TempDir())
			for name, f := range map[string]func(string, []string) (int, error){"add": s.AddCountries, "remove": s.RemoveCountries} {
				n, err := f("webmail", []string{"FR", tc.code})
				wantInputError(t, err, ErrInvalidCountry, tc.want...)
				if n != 0 {
					t.Errorf("%s: changed = %d on error", name, n)
				}
			}
			if a, r, _ := s.CountryOverrides("webmail"); a != nil || r != nil {
				t.Errorf("a rejected call wrote %v, %v", a, r)
			}
		})
	}
}

func TestApplyCountries(t *testing.T) {
	tests := []struct {
		name   string
		config []string
		o      CountryOverride
		want   []string
	}{
		{"no overrides", []string{"US", "DE"}, CountryOverride{}, []string{"DE", "US"}},
		{"added", []string{"DE"}, CountryOverride{Added: []string{"AT"}}, []string{"AT", "DE"}},
		{"added already in config", []string{"DE"}, CountryOverride{Added: []string{"DE"}}, []string{"DE"}},
		{"removed config country", []string{"DE", "US"}, CountryOverride{Removed: []string{"US"}}, []string{"DE"}},
		{"removed unknown country", []string{"DE"}, CountryOverride{Removed: []string{"FR"}}, []string{"DE"}},
		{"all removed", []string{"DE"}, CountryOverride{Removed: []string{"DE"}}, []string{}},
		{"empty config", nil, CountryOverride{Added: []string{"CH"}}, []string{"CH"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ApplyCountries(tc.config, tc.o)); diff != "" {
				t.Errorf("ApplyCountries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClearAndResetCountries(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	if _, err := s.AddCountries("webmail", []string{"AT", "FR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveCountries("webmail", []string{"US"}); err != nil { // a tombstone of an older version
		t.Fatal(err)
	}
	if _, err := s.AddCountries("imap", []string{"CH"}); err != nil {
		t.Fatal(err)
	}
	rev := mustRevision(t, s)

	if n, err := s.ClearCountries("webmail", []string{"FR", "US", "DE"}); err != nil || n != 2 {
		t.Fatalf("ClearCountries(FR, US, DE) = %d, %v; want 2 (DE had no override)", n, err)
	}
	added, removed, err := s.CountryOverrides("webmail")
	if err != nil || !cmp.Equal(added, []string{"AT"}) || removed != nil {
		t.Fatalf("after ClearCountries: added %v, removed %v, %v; want [AT], none", added, removed, err)
	}
	if got := mustRevision(t, s); got != rev+1 {
		t.Errorf("revision %d, want %d: one change", got, rev+1)
	}
	if n, err := s.ClearCountries("webmail", []string{"FR"}); err != nil || n != 0 || mustRevision(t, s) != rev+1 {
		t.Errorf("clearing again: %d, %v; want 0 and no new revision", n, err)
	}
	if n, err := s.ClearCountries("pop3", []string{"FR"}); err != nil || n != 0 {
		t.Errorf("ClearCountries of a service without overrides: %d, %v", n, err)
	}
	if _, err := s.ClearCountries("webmail", []string{"de"}); err == nil {
		t.Error("ClearCountries(de): no error for a bad code")
	}

	if n, err := s.ResetCountries("webmail"); err != nil || n != 1 {
		t.Fatalf("ResetCountries(webmail) = %d, %v; want 1", n, err)
	}
	if a, r, err := s.CountryOverrides("webmail"); err != nil || a != nil || r != nil {
		t.Errorf("after ResetCountries: %v, %v, %v; want none", a, r, err)
	}
	if n, err := s.ResetCountries("webmail"); err != nil || n != 0 {
		t.Errorf("ResetCountries again: %d, %v; want 0", n, err)
	}
	if a, _, err := s.CountryOverrides("imap"); err != nil || !cmp.Equal(a, []string{"CH"}) {
		t.Errorf("imap after resetting webmail: %v, %v; want [CH] untouched", a, err)
	}
}
