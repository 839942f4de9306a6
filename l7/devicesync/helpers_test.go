package devicesync

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/device"
)

// t0 is the tests' "now".
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func mustOpen(tb testing.TB, path string, opts Options) *DB {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	db, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func mustTempDB(tb testing.TB) (*DB, *device.Store) {
	tb.Helper()
	return mustOpen(tb, filepath.Join(tb.TempDir(), FileName), Options{}), device.NewStore(device.StoreOptions{})
}

func mustApply(tb testing.TB, db *DB, st *device.Store, ch Change) Result {
	tb.Helper()
	res, err := db.Apply(st, ch, nil)
	if err != nil {
		tb.Fatalf("Apply: %v", err)
	}
	return res
}

// records returns the store's records as values.
func records(st *device.Store) []device.Record {
	var out []device.Record
	for _, r := range st.Records() {
		out = append(out, *r)
	}
	return out
}

// storeState is what a store holds, for comparisons.
type storeState struct {
	Records []device.Record
	Loaded  bool
	Policy  device.Config
}

func stateOf(st *device.Store) storeState {
	p := st.Policy()
	return storeState{Records: records(st), Loaded: p.Loaded(), Policy: p.Config()}
}

// loaded is what Load makes of db in a fresh store.
func loaded(tb testing.TB, db *DB) storeState {
	tb.Helper()
	st := device.NewStore(device.StoreOptions{})
	if err := db.Load(st); err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return stateOf(st)
}

// assertInStep fails unless st holds what Load makes of db.
func assertInStep(tb testing.TB, db *DB, st *device.Store) {
	tb.Helper()
	if diff := cmp.Diff(loaded(tb, db), stateOf(st)); diff != "" {
		tb.Fatalf("memory differs from what Load reads from the file (-file +memory):\n%s", diff)
	}
}

func rec(id string, updated time.Time, mods ...func(*device.Record)) device.Record {
	r := device.Record{DeviceID: id, User: "jane@contoso.com", Managed: true, Platform: "Apple", Model: "iPhone", OSVersion: "17.4", Updated: updated}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
