package compose

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
)

// TestAssignIDs is the one allocator's contract (it was written twice,
// in the config and the state store, before this package).
func TestAssignIDs(t *testing.T) {
	many := func(n int) []string {
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("s%02d", i+1))
		}
		return names
	}
	full := func() map[string]uint8 {
		m := map[string]uint8{}
		for i, n := range many(policy.MaxServiceID) {
			m[n] = uint8(i + 1)
		}
		return m
	}
	tests := []struct {
		name     string
		existing map[string]uint8
		names    []string
		want     map[string]uint8
		err      string
	}{
		{name: "fresh, in the given order", names: []string{"smtp", "imap", "pop3"},
			want: map[string]uint8{"smtp": 1, "imap": 2, "pop3": 3}},
		{name: "existing keep their ids", existing: map[string]uint8{"imap": 7, "smtp": 2}, names: []string{"smtp", "imap"},
			want: map[string]uint8{"smtp": 2, "imap": 7}},
		{name: "new name takes the lowest free id", existing: map[string]uint8{"imap": 1, "smtp": 3}, names: []string{"imap", "smtp", "webmail"},
			want: map[string]uint8{"imap": 1, "smtp": 3, "webmail": 2}},
		{name: "retired names keep their ids reserved", existing: map[string]uint8{"old": 1, "imap": 2}, names: []string{"imap", "new"},
			want: map[string]uint8{"old": 1, "imap": 2, "new": 3}},
		{name: "kept, new names below retired ones", existing: map[string]uint8{"imap": 2, "old": 1, "pop3": 5},
			names: []string{"new1", "pop3", "imap", "new2", "new3"},
			want:  map[string]uint8{"old": 1, "imap": 2, "pop3": 5, "new1": 3, "new2": 4, "new3": 6}},
		{name: "repeated names", names: []string{"a", "a"}, want: map[string]uint8{"a": 1}},
		{name: "63 fit", names: many(63), want: full()},
		{name: "a retired id is reused only when none is free", existing: full(),
			names: append(slices.Clone(many(63)[:4]), append(slices.Clone(many(63)[5:]), "new")...),
			want:  func() map[string]uint8 { m := full(); delete(m, "s05"); m["new"] = 5; return m }()},
		{name: "retired ids reclaimed lowest first when none is free", existing: full(),
			names: append(slices.Delete(many(63), 4, 6), "x", "y"),
			want: func() map[string]uint8 {
				m := full()
				delete(m, "s05")
				delete(m, "s06")
				m["x"], m["y"] = 5, 6
				return m
			}()},
		{name: "64 do not", names: many(64), err: "64 services are more than the datapath's 63 service ids"},
		{name: "stored id out of range", existing: map[string]uint8{"x": 64}, err: `service "x": stored id 64 out of range 1..63`},
		{name: "stored id zero", existing: map[string]uint8{"x": 0}, err: `service "x": stored id 0 out of range 1..63`},
		{name: "stored id twice", existing: map[string]uint8{"x": 3, "y": 3}, err: `services "x" and "y": both stored with id 3`},
		{name: "empty name", names: []string{""}, err: "service with an empty name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := maps.Clone(tc.existing)
			got, err := AssignIDs(tc.existing, tc.names)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want error %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !maps.Equal(before, tc.existing) {
				t.Errorf("AssignIDs changed its input: %v, was %v", tc.existing, before)
			}
			// Assigning again is stable: a reload changes nothing.
			again, err := AssignIDs(got, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("second AssignIDs (-first +second):\n%s", diff)
			}
		})
	}
}
