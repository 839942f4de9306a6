package devicesync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/mailgate/enforcer/l7/device"
)

func TestPersistenceAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db := mustOpen(t, path, Options{})
	st := device.NewStore(device.StoreOptions{})
	pol := &PolicyDoc{Revision: "r7", policyConfig: device.Config{ManagedOnly: true, InactivityDays: 30, BlockCompromised: true,
		AllowedOS:     []device.OSRule{{Platform: "Apple", Min: "16"}},
		Rules:         []device.ABQRule{{Characteristic: device.DeviceType, Query: "Android*", Access: device.Quarantine}},
		DefaultAccess: device.Block}}
	mustApply(t, db, st, Change{
		Upsert: []device.Record{
			rec("A1", at(-5), func(r *device.Record) {
				r.Compromised = device.No
				r.LastCheckIn = at(-60).In(time.FixedZone("x", 3600))
			}),
			rec("b2", at(-4), func(r *device.Record) { r.Encrypted = device.Yes; r.Override = device.OverrideWhitelist }),
			rec("C3", at(-3)),
		},
		Policy: pol,
	})
	mustApply(t, db, st, Change{Delete: []Deletion{{DeviceID: "c3", Deleted: at(-1)}}})
	if err := db.SetOverride(st, "a1", device.OverrideBlacklist); err != nil {
		t.Fatal(err)
	}
	if err := db.SetOverride(st, "Z9", device.OverrideQuarantine); err != nil {
		t.Fatal(err)
	}
	before := stateOf(st)
	if len(before.Records) != 3 || !before.Loaded || before.Policy.Revision != "r7" {
		t.Fatalf("before reopen: %+v", before)
	}
	assertInStep(t, db, st)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db2 := mustOpen(t, path, Options{})
	st2 := device.NewStore(device.StoreOptions{})
	if err := db2.Load(st2); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, stateOf(st2)); diff != "" {
		t.Errorf("after reopen (-before +after):\n%s", diff)
	}
	ov, err := db2.Overrides()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]device.Override{"A1": device.OverrideBlacklist, "Z9": device.OverrideQuarantine}, ov); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
	if err := db2.Check(); err != nil {
		t.Error(err)
	}
	// The policy decides as it did: an unmanaged device is blocked.
	if d := st2.Decide(device.Identity{DeviceID: "nobody", User: "x"}, t0); d.Action != device.Block {
		t.Errorf("decision after reload: %+v, want block", d)
	}
}

func TestLoadWithoutPolicyFailsClosed(t *testing.T) {
	db, st := mustTempDB(t)
	mustApply(t, db, st, Change{Upsert: []device.Record{rec("a", at(0))}})
	fresh := device.NewStore(device.StoreOptions{})
	if err := db.Load(fresh); err != nil {
		t.Fatal(err)
	}
	if fresh.Policy().Loaded() {
		t.Fatal("a policy is loaded though none was ever stored")
	}
	if d := fresh.Decide(device.Identity{DeviceID: "a", User: "jane@contoso.com"}, t0); d.Action != device.Block || d.Reason != device.ReasonNoPolicyFailClosed {
		t.Errorf("decision without policy: %+v", d)
	}
}

func TestApplyConvergenceRules(t *testing.T) {
	type step struct {
		ch   Change
		want Result
	}
	tests := []struct {
		name  string
		steps []step
		want  []string // device IDs left, with their Updated minute
	}{
		{"newer replaces older", []step{
			{Change{Upsert: []device.Record{rec("a", at(1))}}, Result{Upserted: 1}},
			{Change{Upsert: []device.Record{rec("a", at(2), func(r *device.Record) { r.Model = "new" })}}, Result{Upserted: 1}},
		}, []string{"a@2"}},
		{"older is stale", []step{
			{Change{Upsert: []device.Record{rec("a", at(2))}}, Result{Upserted: 1}},
			{Change{Upsert: []device.Record{rec("A", at(1), func(r *device.Record) { r.Model = "old" })}}, Result{Stale: 1}},
		}, []string{"a@2"}},
		{"same record is unchanged", []step{
			{Change{Upsert: []device.Record{rec("a", at(2))}}, Result{Upserted: 1}},
			{Change{Upsert: []device.Record{rec("a", at(2))}}, Result{Unchanged: 1}},
		}, []string{"a@2"}},
		{"tombstone stops an older upsert", []step{
			{Change{Upsert: []device.Record{rec("a", at(1))}}, Result{Upserted: 1}},
			{Change{Delete: []Deletion{{DeviceID: "A", Deleted: at(3)}}}, Result{Deleted: 1}},
			{Change{Upsert: []device.Record{rec("a", at(2))}}, Result{Stale: 1}},
			{Change{Upsert: []device.Record{rec("a", at(3))}}, Result{Stale: 1}},
		}, nil},
		{"newer upsert after a delete", []step{
			{Change{Delete: []Deletion{{DeviceID: "a", Deleted: at(3)}}}, Result{Unchanged: 1}},
			{Change{Upsert: []device.Record{rec("a", at(4))}}, Result{Upserted: 1}},
		}, []string{"a@4"}},
		{"older delete is stale", []step{
			{Change{Upsert: []device.Record{rec("a", at(5))}}, Result{Upserted: 1}},
			{Change{Delete: []Deletion{{DeviceID: "a", Deleted: at(4)}}}, Result{Stale: 1}},
		}, []string{"a@5"}},
		{"zero times take the change's time", []step{
			{Change{Upsert: []device.Record{rec("a", time.Time{})}, Time: at(5)}, Result{Upserted: 1}},
			{Change{Delete: []Deletion{{DeviceID: "a"}}, Time: at(4)}, Result{Stale: 1}},
		}, []string{"a@5"}},
		{"snapshot deletes what it does not list", []step{
			{Change{Upsert: []device.Record{rec("a", at(1)), rec("b", at(1)), rec("c", at(9))}}, Result{Upserted: 3}},
			{Change{Upsert: []device.Record{rec("a", at(1))}, Replace: true, Time: at(5)}, Result{Unchanged: 1, Deleted: 1}},
			// Older than the snapshot, not listed by it: stale.
			{Change{Upsert: []device.Record{rec("d", at(4))}}, Result{Stale: 1}},
			// Newer than the snapshot: fine.
			{Change{Upsert: []device.Record{rec("e", at(6))}}, Result{Upserted: 1}},
		}, []string{"a@1", "c@9", "e@6"}},
		{"policy ordered by updated", []step{
			{Change{Policy: &PolicyDoc{Revision: "2", Updated: at(2)}}, Result{Policy: PolicyUpdated}},
			{Change{Policy: &PolicyDoc{Revision: "1", Updated: at(1)}}, Result{Policy: PolicyStale}},
			{Change{Policy: &PolicyDoc{Revision: "2", Updated: at(2)}}, Result{Policy: PolicyUnchanged}},
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, st := mustTempDB(t)
			for i, s := range tc.steps {
				got := mustApply(t, db, st, s.ch)
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Errorf("step %d (-want +got):\n%s", i, diff)
				}
				assertInStep(t, db, st)
			}
			var left []string
			for _, r := range records(st) {
				left = append(left, r.DeviceID+"@"+itoa(int(r.Updated.Sub(t0)/time.Minute)))
			}
			if diff := cmp.Diff(tc.want, left); diff != "" {
				t.Errorf("records left (-want +got):\n%s", diff)
			}
		})
	}
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestApplyRefusesInvalidChangesWhole(t *testing.T) {
	tests := []struct {
		name string
		ch   Change
		want string // in the error
	}{
		{"empty id", Change{Upsert: []device.Record{rec("ok", at(0)), rec("  ", at(0))}}, `upsert[1] (device "  "): device_id: empty`},
		{"long id", Change{Upsert: []device.Record{rec(strings.Repeat("x", 300), at(0))}}, "device_id: longer than 256 bytes"},
		{"bad fact", Change{Upsert: []device.Record{rec("a", at(0), func(r *device.Record) { r.Encrypted = 9 })}}, `upsert[0] (device "a"): encrypted:`},
		{"bad override", Change{Upsert: []device.Record{rec("a", at(0), func(r *device.Record) { r.Override = 9 })}}, "override: want default"},
		{"future", Change{Upsert: []device.Record{rec("a", at(120))}}, `upsert[0] (device "a"): updated: 2024-05-01T14:00:00Z is more than 1h0m0s in the future`},
		{"year", Change{Upsert: []device.Record{rec("a", at(0), func(r *device.Record) { r.LastCheckIn = time.Date(-3, 1, 1, 0, 0, 0, 0, time.UTC) })}}, "last_check_in: year outside"},
		{"long user", Change{Upsert: []device.Record{rec("a", at(0), func(r *device.Record) { r.User = strings.Repeat("u", 2000) })}}, "user: longer than 1024"},
		{"empty delete", Change{Upsert: []device.Record{rec("a", at(0))}, Delete: []Deletion{{DeviceID: "b"}, {}}}, "delete[1]: device_id: empty"},
		{"policy", Change{Upsert: []device.Record{rec("a", at(0))}, Policy: &PolicyDoc{policyConfig: device.Config{AllowedOS: []device.OSRule{{Platform: "Apple", Min: "x"}}, InactivityDays: -1}}},
			`policy: inactivity_days: "-1": want 1..32767 days, or 0 to turn the policy off (and 1 more: allowed_os[0].min: "x": not a version`},
		{"more without cursor", Change{More: true}, "change: more: only a pull page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, st := mustTempDB(t)
			_, err := db.Apply(st, tc.ch, nil)
			if !errors.Is(err, ErrInvalidChange) {
				t.Fatalf("Apply: %v, want ErrInvalidChange", err)
			}
			var ce *ChangeError
			if !errors.As(err, &ce) {
				t.Fatalf("Apply: %T, want *ChangeError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
			if st.Len() != 0 || len(loaded(t, db).Records) != 0 || loaded(t, db).Loaded {
				t.Error("a refused change left something behind")
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	db, st := mustTempDB(t)
	mustApply(t, db, st, Change{Policy: &PolicyDoc{Revision: "1"}, Upsert: []device.Record{rec("Dev1", at(1), func(r *device.Record) { r.Override = device.OverrideWhitelist })}})
	if err := db.SetOverride(st, "dev1", device.OverrideBlacklist); err != nil {
		t.Fatal(err)
	}
	if got := st.Lookup("DEV1").Override; got != device.OverrideBlacklist {
		t.Fatalf("after SetOverride: %v", got)
	}
	// A push from device management does not undo it.
	mustApply(t, db, st, Change{Upsert: []device.Record{rec("DEV1", at(2), func(r *device.Record) { r.Model = "new"; r.Override = device.OverrideDefault })}})
	if r := st.Lookup("dev1"); r.Override != device.OverrideBlacklist || r.Model != "new" {
		t.Fatalf("after push: %+v", r)
	}
	assertInStep(t, db, st)
	// Nor does a deletion: the administrator's decision stays on a bare record.
	mustApply(t, db, st, Change{Delete: []Deletion{{DeviceID: "dev1", Deleted: at(3)}}})
	if r := st.Lookup("dev1"); r == nil || *r != (device.Record{DeviceID: "Dev1", Override: device.OverrideBlacklist}) {
		t.Fatalf("after delete: %+v", r)
	}
	assertInStep(t, db, st)
	// Default removes the override: no record left.
	if err := db.SetOverride(st, "DEV1", device.OverrideDefault); err != nil {
		t.Fatal(err)
	}
	if r := st.Lookup("dev1"); r != nil {
		t.Fatalf("after default: %+v", r)
	}
	assertInStep(t, db, st)

	// Default with a record returns to device management's override.
	mustApply(t, db, st, Change{Upsert: []device.Record{rec("x", at(4), func(r *device.Record) { r.Override = device.OverrideQuarantine })}})
	if err := db.SetOverride(st, "x", device.OverrideWhitelist); err != nil {
		t.Fatal(err)
	}
	if err := db.SetOverride(st, "x", device.OverrideDefault); err != nil {
		t.Fatal(err)
	}
	if r := st.Lookup("x"); r.Override != device.OverrideQuarantine {
		t.Fatalf("after default: %v, want device management's quarantine", r.Override)
	}
	// An override of an unknown device makes a bare record.
	if err := db.SetOverride(st, "New", device.OverrideQuarantine); err != nil {
		t.Fatal(err)
	}
	if d := st.Decide(device.Identity{DeviceID: "new", User: "u"}, t0); d.Action != device.Quarantine {
		t.Errorf("decision for an overridden unknown device: %+v", d)
	}
	ov, err := db.Overrides()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]device.Override{"New": device.OverrideQuarantine}, ov); diff != "" {
		t.Errorf("Overrides (-want +got):\n%s", diff)
	}
	assertInStep(t, db, st)
	if err := db.SetOverride(st, "", device.OverrideBlacklist); !errors.Is(err, ErrInvalidChange) {
		t.Errorf("empty id: %v", err)
	}
	if err := db.SetOverride(st, "a", 7); !errors.Is(err, ErrInvalidChange) {
		t.Errorf("bad override: %v", err)
	}
}

func TestTombstonesPruned(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	c := &clock{t: t0}
	db := mustOpen(t, path, Options{Now: c.Now, TombstoneTTL: 48 * time.Hour})
	st := device.NewStore(device.StoreOptions{})
	mustApply(t, db, st, Change{Delete: []Deletion{{DeviceID: "old", Deleted: at(0)}}})
	c.t = t0.Add(47 * time.Hour)
	mustApply(t, db, st, Change{Delete: []Deletion{{DeviceID: "young", Deleted: c.t}}})
	c.t = t0.Add(50 * time.Hour)
	mustApply(t, db, st, Change{Upsert: []device.Record{rec("other", c.t)}}) // prunes: an hour has passed
	for id, want := range map[string]bool{"old": false, "young": true} {
		_, ok, err := db.Device(id)
		if err != nil {
			t.Fatal(err)
		}
		if ok != want {
			t.Errorf("tombstone of %s kept %v, want %v", id, ok, want)
		}
	}
}

func TestOpenLockedAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	mustOpen(t, path, Options{})
	start := time.Now()
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v", d)
	}

	newer := filepath.Join(t.TempDir(), FileName)
	bdb, err := bolt.Open(newer, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, []byte("99"))
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(newer, Options{}); !errors.Is(err, ErrSchema) {
		t.Errorf("Open of a newer schema: %v, want ErrSchema", err)
	}

	garbage := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not bbolt", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(garbage, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open of garbage: %v, want ErrCorrupt", err)
	}
}

func TestClosedDB(t *testing.T) {
	db, st := mustTempDB(t)
	db.Close()
	if _, err := db.Apply(st, Change{}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
	if err := db.SetOverride(st, "a", device.OverrideBlacklist); !errors.Is(err, ErrClosed) {
		t.Errorf("SetOverride after Close: %v", err)
	}
}
