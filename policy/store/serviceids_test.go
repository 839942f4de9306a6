package store

import (
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
