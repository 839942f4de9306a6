package device

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustStore(tb testing.TB, opts StoreOptions, recs ...Record) *Store {
	tb.Helper()
	s := NewStore(opts)
	if err := s.Replace(recs); err != nil {
		tb.Fatalf("Replace: %v", err)
	}
	return s
}

func TestStoreLookup(t *testing.T) {
	s := mustStore(t, StoreOptions{},
		Record{DeviceID: "ApplF17", User: `CONTOSO\jane`, Managed: true},
		Record{DeviceID: "androidc1", User: `contoso\JANE`},
		Record{DeviceID: "WP8", User: "bob@contoso.com"},
	)
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3", s.Len())
	}
	if r := s.Lookup(" applf17 "); r == nil || r.DeviceID != "ApplF17" || !r.Managed {
		t.Errorf("Lookup(applf17) = %+v", r)
	}
	if r := s.Lookup("nope"); r != nil {
		t.Errorf("Lookup(nope) = %+v, want nil", r)
	}
	if got := ids(s.ByUser(`Contoso\Jane`)); !slices.Equal(got, []string{"ApplF17", "androidc1"}) {
		t.Errorf("ByUser(jane) = %v", got)
	}
	if got := ids(s.Records()); !slices.Equal(got, []string{"androidc1", "ApplF17", "WP8"}) {
		t.Errorf("Records = %v, want sorted by folded id", got)
	}

	var r *Record
	if allocs := testing.AllocsPerRun(100, func() { r = s.Lookup("APPLF17") }); allocs != 0 || r == nil {
		t.Errorf("Lookup allocated %v times (record %v)", allocs, r)
	}
}

func ids(rs []*Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.DeviceID
	}
	return out
}

func TestStoreReplaceRejects(t *testing.T) {
	s := mustStore(t, StoreOptions{}, Record{DeviceID: "keep"})
	err := s.Replace([]Record{{DeviceID: "a"}, {DeviceID: "A"}})
	if !errors.Is(err, ErrDuplicateDevice) {
		t.Errorf("Replace with a duplicate = %v, want ErrDuplicateDevice", err)
	}
	for _, bad := range []Record{{DeviceID: " "}, {DeviceID: "x", Compromised: 7}, {DeviceID: "x", Encrypted: 7}, {DeviceID: "x", Override: 9}} {
		if err := s.Replace([]Record{bad}); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Replace(%+v) = %v, want ErrInvalidRecord", bad, err)
		}
		if err := s.Upsert(bad); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Upsert(%+v) = %v, want ErrInvalidRecord", bad, err)
		}
	}
	if s.Len() != 1 || s.Lookup("keep") == nil {
		t.Errorf("a failed write changed the store: %v", ids(s.Records()))
	}
}

// Upserts and deletes, through many overlay merges, always leave the store
// equal to a plain map given the same operations.
func TestStoreWritesMatchModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewStore(StoreOptions{})
	model := map[string]Record{}
	users := []string{"jane", "bob", "carol", ""}
	for step := range 3000 {
		switch op := rng.IntN(10); {
		case op < 6:
			var batch []Record
			for range 1 + rng.IntN(3) {
				r := Record{DeviceID: fmt.Sprintf("Dev%d", rng.IntN(400)), User: users[rng.IntN(len(users))], Managed: rng.IntN(2) == 0}
				batch = append(batch, r)
			}
			if err := s.Upsert(batch...); err != nil {
				t.Fatal(err)
			}
			for _, r := range batch {
				model[Fold(r.DeviceID)] = r
			}
		case op < 9:
			id := fmt.Sprintf("DEV%d", rng.IntN(400))
			_, had := model[Fold(id)]
			if got := s.Delete(id); got != map[bool]int{true: 1, false: 0}[had] {
				t.Fatalf("step %d: Delete(%s) = %d, model had it: %v", step, id, got, had)
			}
			delete(model, Fold(id))
		default:
			if step%500 == 0 {
				var all []Record
				for _, r := range model {
					all = append(all, r)
				}
				if err := s.Replace(all); err != nil {
					t.Fatal(err)
				}
			}
		}
		if step%50 == 0 || step == 2999 {
			checkStoreEqualsModel(t, s, model, users)
		}
	}
}

func checkStoreEqualsModel(t *testing.T, s *Store, model map[string]Record, users []string) {
	t.Helper()
	if s.Len() != len(model) {
		t.Fatalf("Len = %d, model has %d", s.Len(), len(model))
	}
	for k, want := range model {
		got := s.Lookup(k)
		if got == nil || *got != want {
			t.Fatalf("Lookup(%s) = %+v, want %+v", k, got, want)
		}
	}
	if got := len(s.Records()); got != len(model) {
		t.Fatalf("Records has %d, model %d", got, len(model))
	}
	for _, u := range users {
		var want []string
		for _, r := range model {
			if r.User == u {
				want = append(want, r.DeviceID)
			}
		}
		got := ids(s.ByUser(u))
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("ByUser(%q) = %v, want %v", u, got, want)
		}
	}
}

// Readers see whole snapshots while writers replace and upsert; run with
// -race.
func TestStoreConcurrentReadersAndWriters(t *testing.T) {
	const n = 2000
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{DeviceID: fmt.Sprintf("dev%d", i), User: "u", Managed: true}
	}
	s := mustStore(t, StoreOptions{}, recs...)
	p := mustPolicy(t, Config{ManagedOnly: true})
	s.SetPolicy(p)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i += 7 {
				id := Identity{DeviceID: fmt.Sprintf("DEV%d", i%n), User: "u"}
				// Every device is managed in every version of the set.
				if d := s.Decide(id, testNow); d.Action != Allow {
					bad.Add(1)
				}
			}
		}()
	}
	for round := range 200 {
		if round%50 == 0 {
			if err := s.Replace(recs); err != nil {
				t.Fatal(err)
			}
			continue
		}
		r := recs[round%n]
		r.Model = fmt.Sprint(round)
		if err := s.Upsert(r); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d decisions saw a device missing or unmanaged mid-write", bad.Load())
	}
}

func TestStorePolicy(t *testing.T) {
	id := janeID()
	rec := *janeRec()
	for _, tc := range []struct {
		name string
		opts StoreOptions
		set  *Policy
		want Reason
	}{
		{"no policy fails closed", StoreOptions{}, nil, ReasonNoPolicyFailClosed},
		{"no policy, mail allowed", StoreOptions{AllowMailIfNoPolicy: true}, nil, ReasonNoPolicyAllow},
		{"policy set", StoreOptions{AllowMailIfNoPolicy: true}, mustPolicy(t, Config{BlockCompromised: true}), ReasonDefaultAllow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStore(t, tc.opts, rec)
			s.SetPolicy(tc.set)
			if got := s.Decide(id, testNow); got.Reason != tc.want {
				t.Errorf("Decide = %+v, want reason %v", got, tc.want)
			}
			if got, loaded := s.Policy(), tc.set != nil; got.Loaded() != loaded {
				t.Errorf("Policy().Loaded() = %v, want %v", got.Loaded(), loaded)
			}
		})
	}

	s := mustStore(t, StoreOptions{}, rec)
	s.SetPolicy(mustPolicy(t, Config{BlockCompromised: true}))
	rec.Compromised = Yes
	if err := s.Upsert(rec); err != nil {
		t.Fatal(err)
	}
	if got := s.Decide(id, testNow); got.Reason != ReasonCompromised {
		t.Errorf("after a compliance update, Decide = %v, want %v", got.Reason, ReasonCompromised)
	}
	s.Delete(rec.DeviceID)
	if got := s.Decide(id, testNow); got.Reason != ReasonDefaultAllow || s.Lookup(rec.DeviceID) != nil {
		t.Errorf("after delete, Decide = %v", got.Reason)
	}
}

// A user change moves the record between user lists.
func TestStoreUpsertMovesUser(t *testing.T) {
	s := mustStore(t, StoreOptions{}, Record{DeviceID: "d1", User: "jane"}, Record{DeviceID: "d2", User: "jane"})
	if err := s.Upsert(Record{DeviceID: "D1", User: "bob"}); err != nil {
		t.Fatal(err)
	}
	if got := ids(s.ByUser("jane")); !slices.Equal(got, []string{"d2"}) {
		t.Errorf("ByUser(jane) = %v", got)
	}
	if got := ids(s.ByUser("bob")); !slices.Equal(got, []string{"D1"}) {
		t.Errorf("ByUser(bob) = %v", got)
	}
	if s.Len() != 2 {
		t.Errorf("Len = %d", s.Len())
	}
}

func TestStoreDecideAllocatesNothing(t *testing.T) {
	s := mustStore(t, StoreOptions{}, *janeRec())
	s.SetPolicy(mustPolicy(t, Config{ManagedOnly: true, AllowedOS: []OSRule{{Platform: "Apple", Min: "16"}}}))
	id := janeID()
	now := time.Now()
	var d Decision
	if allocs := testing.AllocsPerRun(100, func() { d = s.Decide(id, now) }); allocs != 0 {
		t.Errorf("Store.Decide allocated %v times", allocs)
	}
	if d.Reason != ReasonDefaultAllow {
		t.Errorf("Decide = %v", d.Reason)
	}
}
