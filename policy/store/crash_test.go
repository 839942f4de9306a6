package store

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/test/crashtest"
)

// crashChildEnv carries the state directory to TestStoreChild.
const crashChildEnv = "ENFORCER_STORE_CRASH_CHILD_DIR"

const (
	crashRounds   = 30
	crashMaxDelay = 200 * time.Millisecond
	// crashWindow is how many batches the child adds before it starts
	// removing the oldest batch every other change. Removals keep the file
	// small however fast the disk, and make bbolt reuse freed pages, the
	// part of its commit a crash is likeliest to hurt.
	crashWindow = 100
)

// crashChange is change r of the crash test (r from 1): which batch it
// adds or removes. Every change is one call, so one transaction and one
// revision: after change r the revision is r.
func crashChange(r uint64) (add bool, batch uint64) {
	if r <= crashWindow {
		return true, r
	}
	n := r - crashWindow
	if n%2 == 1 {
		return true, crashWindow + (n+1)/2
	}
	return false, n / 2
}

// crashLive is the batches in the store at revision r: lo..hi.
func crashLive(r uint64) (lo, hi uint64) {
	if r <= crashWindow {
		return 1, r
	}
	n := r - crashWindow
	return n/2 + 1, crashWindow + (n+1)/2
}

// crashBatch is batch k of the crash test. Sizes vary, and every 32nd
// batch is big enough to split pages, so that kills land in commits of
// every shape.
func crashBatch(k uint64) (kind string, entries []Entry) {
	n := 1 + int(k*7919%23)
	if k%32 == 0 {
		n = 200
	}
	kind = [...]string{"deny", "imap", "smtp"}[k%3]
	for i := range n {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k), byte(i >> 8), byte(i)})
		entries = append(entries, Entry{
			Prefix:  netip.PrefixFrom(netip.AddrFrom16(a), 128),
			Comment: fmt.Sprintf("batch %d entry %d %s", k, i, strings.Repeat("x", int(k%40))),
			AddedAt: time.Unix(1_700_000_000+int64(k), 0).UTC(),
			AddedBy: "crash-test",
		})
	}
	return kind, entries
}

// applyCrashChange makes change r and checks it did all it should.
func applyCrashChange(s *Store, r uint64) error {
	add, k := crashChange(r)
	kind, entries := crashBatch(k)
	var n int
	var err error
	switch {
	case add && kind == "deny":
		n, err = s.AddDeny(entries)
	case add:
		n, err = s.AddAllow(kind, entries)
	default:
		prefixes := make([]netip.Prefix, len(entries))
		for i, e := range entries {
			prefixes[i] = e.Prefix
		}
		if kind == "deny" {
			n, err = s.RemoveDeny(prefixes)
		} else {
			n, err = s.RemoveAllow(kind, prefixes)
		}
	}
	if err != nil {
		return fmt.Errorf("change %d: %w", r, err)
	}
	if n != len(entries) {
		return fmt.Errorf("change %d (add %v, batch %d): %d of %d entries changed", r, add, k, n, len(entries))
	}
	return nil
}

// TestStoreChild is the process TestCrashSafety kills: it makes changes
// as fast as it can and reports each one on stdout once its commit has
// returned.
func TestStoreChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	// Never outlive a parent that failed to kill us.
	time.AfterFunc(30*time.Second, func() { os.Exit(3) })
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := Open(dir, WithLockTimeout(10*time.Second))
	if err != nil {
		fail(err)
	}
	rev, err := s.Revision()
	if err != nil {
		fail(err)
	}
	crashtest.Opened(os.Stdout, rev)
	for r := rev + 1; ; r++ {
		if err := applyCrashChange(s, r); err != nil {
			fail(err)
		}
		crashtest.Committed(os.Stdout, r)
	}
}

// TestCrashSafety is issue 4's Done-when 3: the store is killed mid-write
// again and again and must always reopen consistent. A SIGKILL leaves the
// page cache to the kernel, so this exercises bbolt's commit protocol
// against a process dying at any instruction, not power loss.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (rerun with CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	var reported, unreported, beforeOpen uint64
	for round := range crashRounds {
		// Every fourth round kills soon after the start, so that some
		// kills land in Open (file creation included); the others time
		// the kill from the moment the store is open, to land in commits.
		fromOpen := round%4 != 0
		delay := time.Duration(rng.Int64N(int64(crashMaxDelay)))
		if !fromOpen {
			delay = time.Duration(rng.Int64N(int64(5 * time.Millisecond))) // the child takes about 3ms to open
		}
		last, opened := crashtest.Kill(t, "TestStoreChild", crashChildEnv, dir, fromOpen, delay)
		if !opened {
			beforeOpen++
		}
		if last > reported {
			reported = last
		}
		rev := verifyCrashState(t, dir, reported)
		if rev > reported {
			unreported++
		}
		reported = rev
	}
	t.Logf("%d rounds, %d changes committed, %d kills before the store was open, %d between a commit and its report",
		crashRounds, reported, beforeOpen, unreported)
	if reported == 0 {
		t.Error("no change was ever committed: the kills came too early to test anything")
	}
}

// verifyCrashState reopens the store and checks it against the changes:
// bbolt's consistency check passes; the revision is the last reported
// change or, if the kill fell between a commit and its report, the one
// after; and the lists hold exactly the entries of the batches live at
// that revision, so no change is partly there.
func verifyCrashState(t *testing.T, dir string, reported uint64) uint64 {
	t.Helper()
	s, err := Open(dir, WithLockTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("after kill: %v", err)
	}
	st, err := s.Snapshot()
	if err != nil {
		t.Fatalf("after kill: %v", err)
	}
	rev := st.Revision
	if rev != reported && rev != reported+1 {
		t.Fatalf("revision %d after kill, but the child reported %d changes committed", rev, reported)
	}

	got := map[string]map[netip.Prefix]Entry{"deny": {}, "imap": {}, "smtp": {}}
	for _, e := range st.Deny {
		got["deny"][e.Prefix] = e
	}
	for svc, list := range st.Allow {
		if got[svc] == nil {
			t.Fatalf("allowlist for unexpected service %q", svc)
		}
		for _, e := range list {
			got[svc][e.Prefix] = e
		}
	}
	want := map[string]int{}
	lo, hi := crashLive(rev)
	for k := lo; k <= hi; k++ {
		kind, entries := crashBatch(k)
		missing := 0
		for _, e := range entries {
			g, ok := got[kind][e.Prefix]
			if !ok {
				missing++
				continue
			}
			if g.Comment != e.Comment || !g.AddedAt.Equal(e.AddedAt) || g.AddedBy != e.AddedBy {
				t.Fatalf("batch %d: entry %v reads back as %+v, want %+v", k, e.Prefix, g, e)
			}
		}
		if missing > 0 {
			t.Fatalf("revision %d (%d reported): batch %d should be there, but %d of its %d entries are missing", rev, reported, k, missing, len(entries))
		}
		want[kind] += len(entries)
	}
	for kind, m := range got {
		if len(m) != want[kind] {
			// Entries of batches not live at rev: a change visible
			// without its revision bump, or part of one.
			t.Fatalf("revision %d (%d reported): %s holds %d entries, live batches %d..%d have %d", rev, reported, kind, len(m), lo, hi, want[kind])
		}
	}
	return rev
}
