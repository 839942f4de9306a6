package store

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// list is the allowlist of one service or the deny list: the table tests
// run against both.
type list struct {
	add    func(s *Store, entries []Entry) (int, error)
	remove func(s *Store, prefixes []netip.Prefix) (int, error)
	list   func(s *Store) ([]Entry, error)
}

var lists = map[string]list{
	"allow": {
		add:    func(s *Store, e []Entry) (int, error) { return s.AddAllow("imap", e) },
		remove: func(s *Store, p []netip.Prefix) (int, error) { return s.RemoveAllow("imap", p) },
		list:   func(s *Store) ([]Entry, error) { return s.ListAllow("imap") },
	},
	"deny": {
		add:    func(s *Store, e []Entry) (int, error) { return s.AddDeny(e) },
		remove: func(s *Store, p []netip.Prefix) (int, error) { return s.RemoveDeny(p) },
		list:   func(s *Store) ([]Entry, error) { return s.ListDeny() },
	},
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)

func entry(tb testing.TB, prefix, comment string) Entry {
	tb.Helper()
	return Entry{Prefix: mustPrefix(tb, prefix), Comment: comment, AddedAt: t0, AddedBy: "tester"}
}

func TestAddEntries(t *testing.T) {
	tests := []struct {
		name      string
		existing  []Entry
		add       []Entry
		wantAdded int
		wantList  []Entry
		wantRev   uint64
	}{
		{
			name:      "new entries, listed in key order",
			add:       []Entry{entry(t, "2001:db8::/32", "v6"), entry(t, "198.51.100.7/32", "host"), entry(t, "192.0.2.0/24", "net")},
			wantAdded: 3,
			wantList:  []Entry{entry(t, "192.0.2.0/24", "net"), entry(t, "198.51.100.7/32", "host"), entry(t, "2001:db8::/32", "v6")},
			wantRev:   1,
		},
		{
			name:      "same address, shorter prefix first",
			add:       []Entry{entry(t, "192.0.2.0/25", "b"), entry(t, "192.0.2.0/24", "a")},
			wantAdded: 2,
			wantList:  []Entry{entry(t, "192.0.2.0/24", "a"), entry(t, "192.0.2.0/25", "b")},
			wantRev:   1,
		},
		{
			name:      "existing entry keeps its comment",
			existing:  []Entry{entry(t, "192.0.2.0/24", "old")},
			add:       []Entry{entry(t, "192.0.2.0/24", "new"), entry(t, "203.0.113.0/24", "other")},
			wantAdded: 1,
			wantList:  []Entry{entry(t, "192.0.2.0/24", "old"), entry(t, "203.0.113.0/24", "other")},
			wantRev:   2,
		},
		{
			name:      "duplicate within one call counts once",
			add:       []Entry{entry(t, "192.0.2.0/24", "first"), entry(t, "192.0.2.0/24", "second")},
			wantAdded: 1,
			wantList:  []Entry{entry(t, "192.0.2.0/24", "first")},
			wantRev:   1,
		},
		{
			name:      "nothing new leaves the revision",
			existing:  []Entry{entry(t, "192.0.2.0/24", "old")},
			add:       []Entry{entry(t, "192.0.2.0/24", "again")},
			wantAdded: 0,
			wantList:  []Entry{entry(t, "192.0.2.0/24", "old")},
			wantRev:   1,
		},
		{
			name:    "empty call",
			wantRev: 0,
		},
		{
			name:      "whole address space",
			add:       []Entry{entry(t, "0.0.0.0/0", ""), entry(t, "::/0", "")},
			wantAdded: 2,
			wantList:  []Entry{entry(t, "0.0.0.0/0", ""), entry(t, "::/0", "")},
			wantRev:   1,
		},
	}
	for kind, l := range lists {
		for _, tc := range tests {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				s := mustOpen(t, t.TempDir())
				if len(tc.existing) > 0 {
					if _, err := l.add(s, tc.existing); err != nil {
						t.Fatal(err)
					}
				}
				added, err := l.add(s, tc.add)
				if err != nil {
					t.Fatal(err)
				}
				if added != tc.wantAdded {
					t.Errorf("added = %d, want %d", added, tc.wantAdded)
				}
				got, err := l.list(s)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.wantList, got, cmpPrefix); diff != "" {
					t.Errorf("list (-want +got):\n%s", diff)
				}
				if rev := mustRevision(t, s); rev != tc.wantRev {
					t.Errorf("revision = %d, want %d", rev, tc.wantRev)
				}
			})
		}
	}
}

func TestAddEntriesDefaultsTime(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	before := time.Now()
	local := time.Date(2025, 6, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	if _, err := s.AddDeny([]Entry{{Prefix: mustPrefix(t, "192.0.2.0/24")}, {Prefix: mustPrefix(t, "198.51.100.0/24"), AddedAt: local}}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got, err := s.ListDeny()
	if err != nil {
		t.Fatal(err)
	}
	if at := got[0].AddedAt; at.Before(before.Truncate(time.Second)) || at.After(after) || at.Location() != time.UTC {
		t.Errorf("unset AddedAt stored as %v, want now in UTC (between %v and %v)", at, before, after)
	}
	if at := got[1].AddedAt; !at.Equal(local) || at.Location() != time.UTC {
		t.Errorf("AddedAt %v stored as %v, want the same instant in UTC", local, at)
	}
}

func TestAddEntriesInvalid(t *testing.T) {
	valid := Entry{Prefix: netip.MustParsePrefix("203.0.113.0/24")}
	tests := []struct {
		name     string
		entry    Entry
		sentinel error
		want     []string
	}{
		{"zero prefix", Entry{}, ErrInvalidPrefix, []string{"not a valid CIDR", "192.0.2.0/24"}},
		{"host bits set", Entry{Prefix: netip.MustParsePrefix("192.0.2.1/24")}, ErrInvalidPrefix, []string{`"192.0.2.1/24"`, "host bits set", "192.0.2.0/24 for the network", "192.0.2.1/32 for the single address"}},
		{"ipv6 host bits set", Entry{Prefix: netip.MustParsePrefix("2001:db8::1/64")}, ErrInvalidPrefix, []string{"host bits set", "2001:db8::/64", "2001:db8::1/128"}},
		{"ipv4-mapped", Entry{Prefix: netip.MustParsePrefix("::ffff:192.0.2.0/120")}, ErrInvalidPrefix, []string{"IPv4-mapped", "write it as 192.0.2.0/24"}},
		{"ipv4-mapped with host bits", Entry{Prefix: netip.MustParsePrefix("::ffff:192.0.2.9/120")}, ErrInvalidPrefix, []string{"IPv4-mapped", "write it as 192.0.2.0/24"}},
		{"across the mapped range", Entry{Prefix: netip.MustParsePrefix("::ffff:0.0.0.0/90")}, ErrInvalidPrefix, []string{"reaches beyond ::ffff:0:0/96"}},
		{"comment too long", Entry{Prefix: valid.Prefix, Comment: strings.Repeat("x", MaxCommentLen+1)}, ErrInvalidText, []string{"comment", "longer than 256 bytes"}},
		{"comment with newline", Entry{Prefix: valid.Prefix, Comment: "two\nlines"}, ErrInvalidText, []string{"comment", "control character"}},
		{"comment not utf-8", Entry{Prefix: valid.Prefix, Comment: "\xff"}, ErrInvalidText, []string{"comment", "UTF-8"}},
		{"added-by too long", Entry{Prefix: valid.Prefix, AddedBy: strings.Repeat("u", MaxAddedByLen+1)}, ErrInvalidText, []string{"added-by", "longer than 64 bytes"}},
		{"added-by with escape", Entry{Prefix: valid.Prefix, AddedBy: "root\x1b[31m"}, ErrInvalidText, []string{"added-by", "control character"}},
	}
	for kind, l := range lists {
		for _, tc := range tests {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				s := mustOpen(t, t.TempDir())
				// The valid entry first: a bad one anywhere rejects the
				// whole call.
				added, err := l.add(s, []Entry{valid, tc.entry})
				wantInputError(t, err, tc.sentinel, tc.want...)
				if added != 0 {
					t.Errorf("added = %d on error", added)
				}
				if got, _ := l.list(s); len(got) != 0 {
					t.Errorf("list after a rejected add = %v, want empty", got)
				}
				if rev := mustRevision(t, s); rev != 0 {
					t.Errorf("revision after a rejected add = %d, want 0", rev)
				}
			})
		}
	}
}

func TestRemoveEntries(t *testing.T) {
	existing := []Entry{entry(t, "192.0.2.0/24", "a"), entry(t, "198.51.100.0/24", "b"), entry(t, "2001:db8::/32", "c")}
	tests := []struct {
		name        string
		remove      []string
		wantRemoved int
		wantList    []Entry
		wantRev     uint64
	}{
		{"one", []string{"198.51.100.0/24"}, 1, []Entry{existing[0], existing[2]}, 2},
		{"listed and unlisted", []string{"2001:db8::/32", "203.0.113.0/24"}, 1, existing[:2], 2},
		{"same prefix twice", []string{"192.0.2.0/24", "192.0.2.0/24"}, 1, existing[1:], 2},
		{"a shorter prefix is another entry", []string{"192.0.2.0/23"}, 0, existing, 1},
		{"none listed", []string{"203.0.113.0/24"}, 0, existing, 1},
		{"all", []string{"192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"}, 3, nil, 2},
	}
	for kind, l := range lists {
		for _, tc := range tests {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				s := mustOpen(t, t.TempDir())
				if _, err := l.add(s, existing); err != nil {
					t.Fatal(err)
				}
				removed, err := l.remove(s, mustPrefixes(t, tc.remove...))
				if err != nil {
					t.Fatal(err)
				}
				if removed != tc.wantRemoved {
					t.Errorf("removed = %d, want %d", removed, tc.wantRemoved)
				}
				got, err := l.list(s)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.wantList, got, cmpPrefix); diff != "" {
					t.Errorf("list (-want +got):\n%s", diff)
				}
				if rev := mustRevision(t, s); rev != tc.wantRev {
					t.Errorf("revision = %d, want %d", rev, tc.wantRev)
				}
			})
		}
	}
}

func TestRemoveEntriesInvalid(t *testing.T) {
	for kind, l := range lists {
		t.Run(kind, func(t *testing.T) {
			s := mustOpen(t, t.TempDir())
			if _, err := l.add(s, []Entry{entry(t, "192.0.2.0/24", "")}); err != nil {
				t.Fatal(err)
			}
			// A valid prefix before the bad one: nothing is removed.
			removed, err := l.remove(s, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("192.0.2.1/24")})
			wantInputError(t, err, ErrInvalidPrefix, "host bits set", "192.0.2.0/24 for the network")
			if removed != 0 {
				t.Errorf("removed = %d on error", removed)
			}
			if got, _ := l.list(s); len(got) != 1 {
				t.Errorf("list after a rejected remove = %v, want the entry kept", got)
			}
		})
	}
}

func TestAllowlistsPerService(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	if _, err := s.AddAllow("imap", []Entry{entry(t, "192.0.2.0/24", "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddAllow("pop3", []Entry{entry(t, "198.51.100.0/24", "")}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RemoveAllow("pop3", mustPrefixes(t, "192.0.2.0/24")); err != nil || n != 0 {
		t.Errorf("removing imap's entry from pop3 = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.RemoveAllow("smtp", mustPrefixes(t, "192.0.2.0/24")); err != nil || n != 0 {
		t.Errorf("removing from a service without entries = %d, %v; want 0, nil", n, err)
	}
	got, err := s.ListAllow("smtp")
	if err != nil || len(got) != 0 {
		t.Errorf("ListAllow(smtp) = %v, %v; want empty", got, err)
	}
	if n, err := s.RemoveAllow("imap", mustPrefixes(t, "192.0.2.0/24")); err != nil || n != 1 {
		t.Fatalf("RemoveAllow(imap) = %d, %v; want 1, nil", n, err)
	}
	// The emptied service's bucket is gone, the other one stays.
	st := mustSnapshot(t, s)
	if _, ok := st.Allow["imap"]; ok {
		t.Error("an emptied allowlist is still in the snapshot")
	}
	if len(st.Allow["pop3"]) != 1 {
		t.Errorf("pop3 allowlist = %v, want one entry", st.Allow["pop3"])
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestServiceNameInvalid(t *testing.T) {
	tests := []struct {
		name    string
		service string
		want    string
	}{
		{"empty", "", "is empty"},
		{"space", "web mail", "white space"},
		{"control", "imap\x00", "control character"},
		{"too long", strings.Repeat("s", MaxServiceLen+1), "longer than 64 bytes"},
		{"not utf-8", "imap\xff", "UTF-8"},
	}
	p := mustPrefixes(t, "192.0.2.0/24")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, t.TempDir())
			calls := map[string]func() error{
				"AddAllow":         func() error { _, err := s.AddAllow(tc.service, []Entry{{Prefix: p[0]}}); return err },
				"RemoveAllow":      func() error { _, err := s.RemoveAllow(tc.service, p); return err },
				"ListAllow":        func() error { _, err := s.ListAllow(tc.service); return err },
				"AddCountries":     func() error { _, err := s.AddCountries(tc.service, []string{"DE"}); return err },
				"RemoveCountries":  func() error { _, err := s.RemoveCountries(tc.service, []string{"DE"}); return err },
				"CountryOverrides": func() error { _, _, err := s.CountryOverrides(tc.service); return err },
				"SetServiceIDs":    func() error { return s.SetServiceIDs(map[string]uint8{tc.service: 1}) },
			}
			for name, call := range calls {
				t.Run(name, func(t *testing.T) {
					wantInputError(t, call(), ErrInvalidService, "service", tc.want)
				})
			}
			if rev := mustRevision(t, s); rev != 0 {
				t.Errorf("revision = %d after rejected calls", rev)
			}
		})
	}
}

func TestPrefixKeyRoundTrip(t *testing.T) {
	for _, s := range []string{"0.0.0.0/0", "192.0.2.0/24", "255.255.255.255/32", "::/0", "2001:db8::/32", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"} {
		p := mustPrefix(t, s)
		got, ok := parsePrefixKey(prefixKey(p))
		if !ok || got != p {
			t.Errorf("parsePrefixKey(prefixKey(%v)) = %v, %v", p, got, ok)
		}
	}
	for _, k := range [][]byte{nil, {4}, {4, 1, 2, 3, 4}, {5, 1, 2, 3, 4, 8}, {4, 192, 0, 2, 1, 24}, {4, 192, 0, 2, 0, 33}} {
		if p, ok := parsePrefixKey(k); ok {
			t.Errorf("parsePrefixKey(%v) = %v, want a refusal", k, p)
		}
	}
}
