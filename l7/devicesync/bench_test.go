package devicesync

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/device"
)

// mustBigDB returns a database of n records, committed in one change,
// and a store loaded from it.
func mustBigDB(b *testing.B, n int) (*DB, *device.Store) {
	b.Helper()
	db := mustOpen(b, filepath.Join(b.TempDir(), FileName), Options{})
	st := device.NewStore(device.StoreOptions{})
	recs := make([]device.Record, n)
	for i := range recs {
		recs[i] = device.Record{
			DeviceID: fmt.Sprintf("ApplDev%08d", i), User: fmt.Sprintf("user%d@contoso.com", i), Managed: true,
			Compromised: device.No, Encrypted: device.Yes, Platform: "Apple", Model: "iPhone 15 Pro", OSVersion: "17.4.1",
			LastCheckIn: at(-60), EASProfile: true, Updated: at(-60),
		}
	}
	if _, err := db.Apply(st, Change{Upsert: recs, Policy: &PolicyDoc{Revision: "1", policyConfig: device.Config{ManagedOnly: true}}}, nil); err != nil {
		b.Fatal(err)
	}
	return db, st
}

// BenchmarkApplyUpsert is one pushed record into a database of 100,000:
// validation, one bbolt commit with its fsync, and the store update.
func BenchmarkApplyUpsert(b *testing.B) {
	db, st := mustBigDB(b, 100_000)
	i := 0
	for b.Loop() {
		r := rec(fmt.Sprintf("ApplDev%08d", i%100_000), at(-59).Add(time.Duration(i)*time.Millisecond))
		if _, err := db.Apply(st, Change{Upsert: []device.Record{r}}, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLoad100k is the start-up cost: 100,000 records and the policy
// read, decoded and loaded into a fresh store.
func BenchmarkLoad100k(b *testing.B) {
	db, _ := mustBigDB(b, 100_000)
	for b.Loop() {
		st := device.NewStore(device.StoreOptions{})
		if err := db.Load(st); err != nil {
			b.Fatal(err)
		}
		if st.Len() != 100_000 {
			b.Fatalf("%d records loaded", st.Len())
		}
	}
}
