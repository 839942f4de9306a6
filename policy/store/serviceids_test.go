package store

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
)

func TestSetServiceIDs(t *testing.T) {
	tests := []struct {
		name    string
		before  map[string]uint8
		set     map[string]uint8
		want    map[string]uint8
		wantRev uint64
	}{
		{name: "fresh", set: map[string]uint8{"imap": 1, "smtp": 63}, want: map[string]uint8{"imap": 1, "smtp": 63}, wantRev: 1},
		{name: "replaces", before: map[string]uint8{"imap": 1, "pop3": 2}, set: map[string]uint8{"imap": 3}, want: map[string]uint8{"imap": 3}, wantRev: 2},
		{name: "same again", before: map[string]uint8{"imap": 1}, set: map[string]uint8{"imap": 1}, want: map[string]uint8{"imap": 1}, wantRev: 1},
		{name: "cleared", before: map[string]uint8{"imap": 1}, set: map[string]uint8{}, want: map[string]uint8{}, wantRev: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, t.TempDir())
			if tc.before != nil {
				if err := s.SetServiceIDs(tc.before); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.SetServiceIDs(tc.set); err != nil {
				t.Fatal(err)
			}
			got, err := s.ServiceIDs()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ServiceIDs (-want +got):\n%s", diff)
			}
			if rev := mustRevision(t, s); rev != tc.wantRev {
				t.Errorf("revision = %d, want %d", rev, tc.wantRev)
			}
		})
	}
}

func TestSetServiceIDsInvalid(t *testing.T) {
	tests := []struct {
		name string
		ids  map[string]uint8
		want []string
	}{
		{"zero", map[string]uint8{"imap": 0}, []string{`"imap"`, "out of range 1..63"}},
		{"too high", map[string]uint8{"imap": policy.MaxServiceID + 1}, []string{`"64"`, "out of range 1..63"}},
		{"duplicate", map[string]uint8{"imap": 5, "pop3": 5}, []string{`"5"`, `given to both "imap" and "pop3"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, t.TempDir())
			if err := s.SetServiceIDs(map[string]uint8{"smtp": 9}); err != nil {
				t.Fatal(err)
			}
			wantInputError(t, s.SetServiceIDs(tc.ids), ErrInvalidServiceID, tc.want...)
			got, _ := s.ServiceIDs()
			if diff := cmp.Diff(map[string]uint8{"smtp": 9}, got); diff != "" {
				t.Errorf("ids after a rejected set (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAssignServiceIDs(t *testing.T) {
	full := map[string]uint8{}
	var fullNames []string
	for id := uint8(1); id <= policy.MaxServiceID; id++ {
		name := fmt.Sprintf("s%02d", id)
		full[name] = id
		fullNames = append(fullNames, name)
	}
	tests := []struct {
		name      string
		stored    map[string]uint8
		names     []string
		want      map[string]uint8 // returned
		wantStore map[string]uint8 // stored afterwards
		wantRev   uint64           // revision afterwards, counting the setup
	}{
		{
			name:      "fresh, in the given order",
			names:     []string{"smtp", "imap", "pop3"},
			want:      map[string]uint8{"smtp": 1, "imap": 2, "pop3": 3},
			wantStore: map[string]uint8{"smtp": 1, "imap": 2, "pop3": 3},
			wantRev:   1,
		},
		{
			name:      "existing keep their ids",
			stored:    map[string]uint8{"imap": 7, "smtp": 2},
			names:     []string{"smtp", "imap"},
			want:      map[string]uint8{"smtp": 2, "imap": 7},
			wantStore: map[string]uint8{"imap": 7, "smtp": 2},
			wantRev:   1,
		},
		{
			name:      "new name takes the lowest free id",
			stored:    map[string]uint8{"imap": 1, "smtp": 3},
			names:     []string{"imap", "smtp", "webmail"},
			want:      map[string]uint8{"imap": 1, "smtp": 3, "webmail": 2},
			wantStore: map[string]uint8{"imap": 1, "smtp": 3, "webmail": 2},
			wantRev:   2,
		},
		{
			name:      "retired names keep their ids reserved",
			stored:    map[string]uint8{"old": 1, "imap": 2},
			names:     []string{"imap", "new"},
			want:      map[string]uint8{"imap": 2, "new": 3},
			wantStore: map[string]uint8{"old": 1, "imap": 2, "new": 3},
			wantRev:   2,
		},
		{
			name:      "a retired id is reused only when none is free",
			stored:    full,
			names:     append(append([]string{}, fullNames[:4]...), append(fullNames[5:], "new")...),
			want:      func() map[string]uint8 { m := clone(full); delete(m, "s05"); m["new"] = 5; return m }(),
			wantStore: func() map[string]uint8 { m := clone(full); delete(m, "s05"); m["new"] = 5; return m }(),
			wantRev:   2,
		},
		{
			name:      "duplicate names",
			names:     []string{"imap", "imap"},
			want:      map[string]uint8{"imap": 1},
			wantStore: map[string]uint8{"imap": 1},
			wantRev:   1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, t.TempDir())
			if tc.stored != nil {
				if err := s.SetServiceIDs(tc.stored); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.AssignServiceIDs(tc.names)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AssignServiceIDs (-want +got):\n%s", diff)
			}
			stored, _ := s.ServiceIDs()
			if diff := cmp.Diff(tc.wantStore, stored); diff != "" {
				t.Errorf("stored ids (-want +got):\n%s", diff)
			}
			if rev := mustRevision(t, s); rev != tc.wantRev {
				t.Errorf("revision = %d, want %d", rev, tc.wantRev)
			}
			// Assigning again is stable and changes nothing.
			again, err := s.AssignServiceIDs(tc.names)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("second AssignServiceIDs (-first +second):\n%s", diff)
			}
			if rev := mustRevision(t, s); rev != tc.wantRev {
				t.Errorf("revision after a no-op assignment = %d, want %d", rev, tc.wantRev)
			}
		})
	}
}

func TestAssignServiceIDsTooMany(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	var names []string
	for i := range policy.MaxServiceID + 1 {
		names = append(names, fmt.Sprintf("s%d", i))
	}
	_, err := s.AssignServiceIDs(names)
	wantInputError(t, err, ErrInvalidServiceID, "services: 64 are more than the datapath's 63 service ids")
}

func clone(m map[string]uint8) map[string]uint8 {
	out := map[string]uint8{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
