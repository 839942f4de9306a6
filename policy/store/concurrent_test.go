package store

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrent has writers add one entry per call from many goroutines
// while readers take snapshots. Every call adds exactly one entry and bumps
// the revision once, so any snapshot whose entry count differs from its
// revision saw a half-applied change.
func TestConcurrent(t *testing.T) {
	const writers, perWriter = 6, 20
	s := mustOpen(t, t.TempDir())

	var wg sync.WaitGroup
	var done atomic.Bool
	errs := make(chan error, writers+2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				a := netip.AddrFrom4([4]byte{10, byte(w), byte(i), 0})
				e := []Entry{{Prefix: netip.PrefixFrom(a, 24), Comment: fmt.Sprintf("w%d i%d", w, i)}}
				var n int
				var err error
				switch w % 3 {
				case 0:
					n, err = s.AddDeny(e)
				default:
					n, err = s.AddAllow(fmt.Sprintf("svc%d", w), e)
				}
				if err == nil && n != 1 {
					err = fmt.Errorf("writer %d: added %d, want 1", w, n)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	var snapshots atomic.Int64
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var last uint64
			for !done.Load() {
				st, err := s.Snapshot()
				if err != nil {
					errs <- err
					return
				}
				n := len(st.Deny)
				for _, l := range st.Allow {
					n += len(l)
				}
				if uint64(n) != st.Revision {
					errs <- fmt.Errorf("snapshot at revision %d holds %d entries", st.Revision, n)
					return
				}
				if st.Revision < last {
					errs <- fmt.Errorf("revision went back from %d to %d", last, st.Revision)
					return
				}
				last = st.Revision
				snapshots.Add(1)
			}
		}()
	}
	wg.Wait()
	done.Store(true)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if rev := mustRevision(t, s); rev != writers*perWriter {
		t.Errorf("revision = %d, want %d", rev, writers*perWriter)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	t.Logf("%d snapshots taken during %d writes", snapshots.Load(), writers*perWriter)
}
