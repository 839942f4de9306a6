package store

import (
	"net/netip"
	"testing"
	"time"
)

// TestExpiry: an entry's expiry is stored, Live leaves it out once it
// has passed, NextExpiry finds the earliest one to come, DropExpired
// deletes the expired ones (and an allowlist bucket left empty), and
// re-adding a listed prefix changes only its expiry.
func TestExpiry(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	soon, later := now.Add(time.Hour), now.Add(8*time.Hour)
	p1, p2, p3 := netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8::/32")
	if _, err := s.AddAllow("imap", []Entry{{Prefix: p1, Comment: "temp", ExpiresAt: soon}, {Prefix: p3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddAllow("pop3", []Entry{{Prefix: p1, ExpiresAt: soon}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDeny([]Entry{{Prefix: p2, ExpiresAt: later}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Allow["imap"][0]; got.Prefix != p1 || !got.ExpiresAt.Equal(soon) || got.Comment != "temp" {
		t.Errorf("stored entry %+v, want %v expiring at %v", got, p1, soon)
	}
	if got := st.NextExpiry(now); !got.Equal(soon) {
		t.Errorf("NextExpiry(now) = %v, want %v", got, soon)
	}
	if got := st.NextExpiry(soon); !got.Equal(later) {
		t.Errorf("NextExpiry(soon) = %v, want %v", got, later)
	}
	if got := st.NextExpiry(later); !got.IsZero() {
		t.Errorf("NextExpiry(later) = %v, want zero", got)
	}
	if live := st.Live(now.Add(time.Minute)); len(live.Allow["imap"]) != 2 || len(live.Deny) != 1 {
		t.Errorf("Live before expiry: %+v", live)
	}
	live := st.Live(soon)
	if len(live.Allow["imap"]) != 1 || live.Allow["imap"][0].Prefix != p3 || len(live.Allow["pop3"]) != 0 || len(live.Deny) != 1 {
		t.Errorf("Live at expiry: %+v", live)
	}
	if len(st.Allow["imap"]) != 2 {
		t.Errorf("Live modified the state: %+v", st.Allow)
	}

	// Re-adding extends the expiry, keeping comment and time.
	rev := st.Revision
	if n, err := s.AddAllow("imap", []Entry{{Prefix: p1, Comment: "other", ExpiresAt: later}}); err != nil || n != 1 {
		t.Fatalf("re-add with a new expiry: %d, %v; want 1 changed", n, err)
	}
	if n, err := s.AddAllow("imap", []Entry{{Prefix: p1, ExpiresAt: later}}); err != nil || n != 0 {
		t.Fatalf("re-add with the same expiry: %d, %v; want 0 changed", n, err)
	}
	es, err := s.ListAllow("imap")
	if err != nil {
		t.Fatal(err)
	}
	if es[0].Comment != "temp" || !es[0].ExpiresAt.Equal(later) {
		t.Errorf("after re-add: %+v, want comment temp, expiry %v", es[0], later)
	}
	if r, _ := s.Revision(); r != rev+1 {
		t.Errorf("revision %d, want %d", r, rev+1)
	}

	n, err := s.DropExpired(soon)
	if err != nil || n != 1 {
		t.Fatalf("DropExpired(soon) = %d, %v; want 1 (pop3's entry)", n, err)
	}
	if st, _ := s.Snapshot(); len(st.Allow) != 1 || len(st.Allow["imap"]) != 2 {
		t.Errorf("after DropExpired(soon): %+v", st.Allow)
	}
	if n, err := s.DropExpired(later); err != nil || n != 2 {
		t.Fatalf("DropExpired(later) = %d, %v; want 2", n, err)
	}
	st, _ = s.Snapshot()
	if len(st.Allow["imap"]) != 1 || len(st.Deny) != 0 {
		t.Errorf("after DropExpired(later): %+v %+v", st.Allow, st.Deny)
	}
	if n, err := s.DropExpired(later); err != nil || n != 0 {
		t.Errorf("DropExpired again = %d, %v; want 0", n, err)
	}
}
