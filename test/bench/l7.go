package main

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/eas"
)

// l7Scale sizes the l7 suite; -short shrinks it for CI's smoke run.
type l7Scale struct {
	records   int           // device records loaded in the store
	decisions int           // decisions per timed repetition
	clients   int           // concurrent keep-alive clients of the load runs
	run       time.Duration // measured part of one load run
	warm      time.Duration // unmeasured start of each load run
	runMax    int           // requests per load run at most
	pings     int           // Ping long-polls held at once
}

func l7ScaleFor(short bool) l7Scale {
	if short {
		return l7Scale{records: 10_000, decisions: 100_000, clients: 64, run: time.Second, warm: 200 * time.Millisecond, runMax: 200_000, pings: 1_000}
	}
	return l7Scale{records: 100_000, decisions: 1_000_000, clients: 64, run: 5 * time.Second, warm: 500 * time.Millisecond, runMax: 1_000_000, pings: 10_000}
}

// l7Rows measures the ActiveSync proxy: the compliance decision alone,
// request throughput and added latency beside nginx, and the memory an
// idle Ping long-poll holds.
func l7Rows(short bool) ([]Row, error) {
	sc := l7ScaleFor(short)
	rows := []Row{{Name: "l7.device_records", Value: float64(sc.records), Unit: "records"}}

	r, err := decideRows(sc)
	if err != nil {
		return nil, fmt.Errorf("decide: %w", err)
	}
	rows = append(rows, r...)

	r, err = throughputRows(sc)
	if err != nil {
		return nil, fmt.Errorf("throughput: %w", err)
	}
	rows = append(rows, r...)

	r, err = idlePingRows(sc)
	if err != nil {
		return nil, fmt.Errorf("idle pings: %w", err)
	}
	return append(rows, r...), nil
}

// benchDevice is device i of the synthetic population, as its record
// names it and as its requests present it (upper/lower case and
// DOMAIN\user against user@domain differ on purpose: the store folds case
// and matches both forms of a user).
type benchDevice struct {
	platform, model, osVersion string
	deviceType, userAgent      string
}

var benchPlatforms = []benchDevice{
	{"Apple", "iPhone 15 Pro", "17.4.1", "iPhone", "Apple-iPhone16C1/2104.1"},
	{"Android", "Pixel 8", "14", "Android", "Android-Mail/2024.01.01.123"},
	{"Apple", "iPad Air", "16.7.2", "iPad", "Outlook-iOS-Android/1.0"},
}

func benchDeviceOf(i int) benchDevice { return benchPlatforms[i%len(benchPlatforms)] }

// recordID and requestID name device i in its record and in its requests.
func recordID(i int) string  { return fmt.Sprintf("EAS%08dZ", i) }
func requestID(i int) string { return fmt.Sprintf("eas%08dz", i) }

// recordUser and requestUser name device i's user the two ways Exchange
// clients and device management spell it.
func recordUser(i int) string  { return fmt.Sprintf(`CORP\mbx%06d`, i) }
func requestUser(i int) string { return fmt.Sprintf("mbx%06d@corp.example", i) }

// basicAuth is the Authorization header value of device i's user.
func basicAuth(i int) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(requestUser(i)+":Passw0rd!"))
}

// benchRecords returns n managed devices that pass benchPolicy: every
// request of the load is decided against the whole policy and allowed.
func benchRecords(n int, now time.Time) []device.Record {
	recs := make([]device.Record, n)
	for i := range recs {
		d := benchDeviceOf(i)
		recs[i] = device.Record{
			DeviceID: recordID(i), User: recordUser(i), Managed: true,
			Compromised: device.No, Encrypted: device.Yes,
			Platform: d.platform, Model: d.model, OSVersion: d.osVersion,
			// Spread over the last day, well inside InactivityDays.
			LastCheckIn: now.Add(-time.Duration(i%1440) * time.Minute), EASProfile: true,
		}
	}
	return recs
}

// benchPolicy uses every kind of check, so an allowed request runs them
// all: an operator's policy, not the empty one.
func benchPolicy() (*device.Policy, error) {
	return device.NewPolicy(device.Config{
		ManagedOnly:        true,
		AllowedMailClients: []string{"Apple-iPhone*", "Android-Mail", "Outlook-iOS-Android"},
		BlockedMailClients: []string{"BadSync*", "Legacy-Client/1.*"},
		BlockedUsers:       []string{"intruder", "*@untrusted.example"},
		AllowedDeviceTypes: []string{"iPhone", "iPad", "Android"},
		BlockedDeviceTypes: []string{"WindowsMail"},
		InactivityDays:     14,
		BlockCompromised:   true,
		BlockUnencrypted:   true,
		AllowedModels: []device.ModelRule{
			{Platform: "Apple", Model: "iPhone 14*"}, {Platform: "Apple", Model: "iPhone 15*"},
			{Platform: "Apple", Model: "iPhone 16*"}, {Platform: "Apple", Model: "iPad*"},
			{Platform: "Android", Model: "Pixel ?"}, {Platform: "Android", Model: "Pixel ? Pro"},
		},
		AllowedOS: []device.OSRule{
			{Platform: "Apple", Min: "16.0"}, {Platform: "Android", Min: "13"},
		},
		RequireEASProfile: true,
		Rules: []device.ABQRule{
			{Characteristic: device.DeviceType, Query: "SmartPhone", Access: device.Block},
			{Characteristic: device.UserAgent, Query: "*preview*", Access: device.Quarantine},
			{Characteristic: device.DeviceModel, Query: "Pixel 8", Access: device.Allow},
		},
	})
}

// newBenchStore loads n records under benchPolicy.
func newBenchStore(n int, now time.Time) (*device.Store, error) {
	pol, err := benchPolicy()
	if err != nil {
		return nil, err
	}
	s := device.NewStore(device.StoreOptions{})
	if err := s.Replace(benchRecords(n, now)); err != nil {
		return nil, err
	}
	s.SetPolicy(pol)
	return s, nil
}

// decideRows times Store.Decide as the proxy calls it for a Sync: the
// identity parsed from a request, the record looked up among all of them,
// the policy evaluated. Devices are taken in a stride across the store so
// that records are mostly cold in cache, as under real traffic.
func decideRows(sc l7Scale) ([]Row, error) {
	now := time.Now()
	s, err := newBenchStore(sc.records, now)
	if err != nil {
		return nil, err
	}
	ids := make([]device.Identity, sc.records)
	for i := range ids {
		d := benchDeviceOf(i)
		ids[i] = device.NewIdentity(&eas.Request{
			Command: eas.Sync, DeviceID: requestID(i), DeviceType: d.deviceType,
			User: requestUser(i), AuthUser: requestUser(i), AuthScheme: "Basic",
			ProtocolVersion: eas.V161, UserAgent: d.userAgent,
		}, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	for i, id := range ids {
		if d := s.Decide(id, now); !d.Allowed() {
			return nil, fmt.Errorf("device %d: %v %s, want every device allowed", i, d.Action, d.Reason)
		}
	}
	// A stride coprime with the count visits every record once per pass.
	stride := 7919
	for gcd(stride, len(ids)) != 1 {
		stride += 2
	}
	var perDecision, allocs []float64
	var ms0, ms1 runtime.MemStats
	j := 0
	for range 5 {
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		t0 := time.Now()
		for range sc.decisions {
			s.Decide(ids[j], now)
			j += stride
			if j >= len(ids) {
				j -= len(ids)
			}
		}
		el := time.Since(t0)
		runtime.ReadMemStats(&ms1)
		perDecision = append(perDecision, float64(el.Nanoseconds())/float64(sc.decisions))
		allocs = append(allocs, float64(ms1.Mallocs-ms0.Mallocs)/float64(sc.decisions))
	}
	return []Row{
		{Name: "l7.decide", Value: medianF(perDecision), Unit: "ns/decision"},
		{Name: "l7.decide.allocs", Value: medianF(allocs), Unit: "allocs/decision"},
	}, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func medianF(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
