package device

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/mailgate/enforcer/l7/eas"
)

const benchRecords = 100_000

// benchStore loads 100,000 device records, as the decision latency
// figure asks, under a policy that uses every kind of check.
func benchStore(b *testing.B) (*Store, []Identity) {
	b.Helper()
	recs := make([]Record, benchRecords)
	ids := make([]Identity, benchRecords)
	platforms := []struct{ platform, model, dtype, ua, os string }{
		{"Apple", "iPhone 15 Pro", "iPhone", "Apple-iPhone16C1/2104.1", "17.4.1"},
		{"Android", "Pixel 8", "Android", "Android-Mail/2024.01.01.123", "14"},
		{"Apple", "iPad Air", "iPad", "Outlook-iOS-Android/1.0", "16.7.2"},
	}
	for i := range recs {
		pl := platforms[i%len(platforms)]
		user := fmt.Sprintf(`CONTOSO\user%06d`, i)
		recs[i] = Record{
			DeviceID: fmt.Sprintf("DEV%08dX", i), User: user, Managed: i%10 != 0,
			Compromised: FactOf(i%97 == 0), Encrypted: FactOf(i%89 != 0),
			Platform: pl.platform, Model: pl.model, OSVersion: pl.os,
			LastCheckIn: time.Date(2025, 5, 20, 0, 0, 0, 0, time.UTC), EASProfile: true,
		}
		ids[i] = Identity{
			User: fmt.Sprintf("user%06d@contoso.com", i), DeviceID: fmt.Sprintf("dev%08dx", i),
			DeviceType: pl.dtype, UserAgent: pl.ua, Command: eas.Sync, ProtocolVersion: eas.V161,
			SourceIP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}),
		}
	}
	s := NewStore(StoreOptions{})
	if err := s.Replace(recs); err != nil {
		b.Fatal(err)
	}
	s.SetPolicy(mustPolicy(b, Config{
		ManagedOnly:        true,
		AllowedMailClients: []string{"Apple-iPhone*", "Android-Mail", "Outlook-iOS-Android"},
		BlockedMailClients: []string{"Evil-Client"},
		BlockedUsers:       []string{"mallory", "*@evil.example"},
		AllowedDeviceTypes: []string{"iPhone", "iPad", "Android"},
		InactivityDays:     30,
		BlockCompromised:   true,
		BlockUnencrypted:   true,
		AllowedModels:      []ModelRule{{"Apple", "iPhone 1[3-5]*"}, {"Apple", "iPhone 15*"}, {"Apple", "iPad*"}, {"Android", "Pixel*"}},
		AllowedOS:          []OSRule{{Platform: "Apple", Min: "16.5"}, {Platform: "Android", Min: "13"}},
		RequireEASProfile:  true,
		Rules: []ABQRule{
			{Characteristic: DeviceType, Query: "WP8", Access: Block},
			{Characteristic: UserAgent, Query: "*beta*", Access: Quarantine},
			{Characteristic: DeviceModel, Query: "Pixel 8", Access: Allow},
		},
	}))
	return s, ids
}

// BenchmarkDecide measures one decision as the proxy makes it: look up the
// device among 100,000 records, then decide.
func BenchmarkDecide(b *testing.B) {
	s, ids := benchStore(b)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	counts := map[Reason]int{}
	for i := range ids {
		counts[s.Decide(ids[i], now).Reason]++
	}
	b.Logf("decisions over the set: %v", counts)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		s.Decide(ids[i], now)
		i++
		if i == len(ids) {
			i = 0
		}
	}
}

// BenchmarkDecideParallel is BenchmarkDecide from every core at once: the
// snapshot is shared, so decisions do not contend.
func BenchmarkDecideParallel(b *testing.B) {
	s, ids := benchStore(b)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Decide(ids[i], now)
			i = (i + 7919) % len(ids)
		}
	})
}

// BenchmarkUpsert is one real-time compliance update into 100,000 records.
func BenchmarkUpsert(b *testing.B) {
	s, _ := benchStore(b)
	recs := s.Records()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		r := *recs[i%len(recs)]
		r.Compromised = FactOf(i%2 == 0)
		if err := s.Upsert(r); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkObserve is one request of an already discovered device.
func BenchmarkObserve(b *testing.B) {
	s := NewStore(StoreOptions{})
	id := Identity{DeviceID: "unknown1", User: "jane", DeviceType: "iPhone", UserAgent: "Apple-iPhone16C1/2104.1"}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.Observe(id, now)
	}
}

// BenchmarkLookup is the record look-up part of BenchmarkDecide alone.
func BenchmarkLookup(b *testing.B) {
	s, ids := benchStore(b)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		s.Lookup(ids[i].DeviceID)
		i++
		if i == len(ids) {
			i = 0
		}
	}
}

// BenchmarkDecideHot decides for one device over and over: the policy's
// own cost, with the record and request in cache. BenchmarkDecide minus
// this is mostly memory latency of a cold record among 100,000.
func BenchmarkDecideHot(b *testing.B) {
	s, ids := benchStore(b)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	id := ids[1] // managed, compliant, reaches the ABQ rules
	b.Logf("decision: %v", s.Decide(id, now).Reason)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.Decide(id, now)
	}
}
