package device

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/l7/eas"
)

var addrComparer = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestObserve(t *testing.T) {
	s := mustStore(t, StoreOptions{}, Record{DeviceID: "known"})
	id := janeID()
	t0 := testNow
	if !s.Observe(id, t0) {
		t.Fatal("Observe of an unknown device = false")
	}
	id.Command = eas.Ping
	id.SourceIP = netip.MustParseAddr("203.0.113.9")
	id.UserAgent = "Apple-iPhone15C2/2104.2"
	s.Observe(id, t0.Add(time.Minute))
	s.Observe(id, t0.Add(30*time.Second)) // out of order: LastSeen stays

	got, ok := s.LookupDiscovered(strings.ToUpper(id.DeviceID))
	if !ok {
		t.Fatal("LookupDiscovered: not found")
	}
	want := Discovered{
		DeviceID: id.DeviceID, User: id.User, DeviceType: "iPhone", UserAgent: "Apple-iPhone15C2/2104.2",
		LastCommand: eas.Ping, ProtocolVersion: eas.V161, SourceIP: id.SourceIP,
		FirstSeen: t0, LastSeen: t0.Add(time.Minute), Requests: 3,
	}
	if diff := cmp.Diff(want, got, addrComparer); diff != "" {
		t.Errorf("discovered (-want +got):\n%s", diff)
	}

	if s.Observe(Identity{DeviceID: "KNOWN"}, t0) {
		t.Error("Observe of a device with a record = true")
	}
	if s.Observe(Identity{DeviceID: " "}, t0) {
		t.Error("Observe without device ID = true")
	}
	if n := len(s.DiscoveredDevices()); n != 1 {
		t.Errorf("%d discovered devices, want 1", n)
	}

	// A record for the device ends its discovery.
	if err := s.Upsert(Record{DeviceID: id.DeviceID}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.LookupDiscovered(id.DeviceID); ok {
		t.Error("device still discovered after it got a record")
	}
}

func TestObserveEvictsLeastRecentlySeen(t *testing.T) {
	s := NewStore(StoreOptions{MaxDiscovered: 3})
	for i := range 3 {
		s.Observe(Identity{DeviceID: fmt.Sprint("d", i)}, testNow.Add(time.Duration(i)*time.Second))
	}
	s.Observe(Identity{DeviceID: "d0"}, testNow.Add(10*time.Second)) // d1 is now the oldest
	s.Observe(Identity{DeviceID: "d3"}, testNow.Add(11*time.Second))
	var got []string
	for _, d := range s.DiscoveredDevices() {
		got = append(got, d.DeviceID)
	}
	if diff := cmp.Diff([]string{"d3", "d0", "d2"}, got); diff != "" {
		t.Errorf("discovered, most recent first (-want +got):\n%s", diff)
	}
	if !s.ForgetDiscovered("D3") || s.ForgetDiscovered("d3") {
		t.Error("ForgetDiscovered")
	}
}

func TestObserveBounded(t *testing.T) {
	const max = 5000 // several shards
	s := NewStore(StoreOptions{MaxDiscovered: max})
	if len(s.disc.shards) < 2 {
		t.Fatalf("%d shards, want several", len(s.disc.shards))
	}
	for i := range 3 * max {
		s.Observe(Identity{DeviceID: fmt.Sprint("flood", i), UserAgent: strings.Repeat("x", 10_000)}, testNow)
	}
	all := s.DiscoveredDevices()
	if len(all) > max || len(all) < max-len(s.disc.shards) {
		t.Errorf("%d discovered devices, want about %d", len(all), max)
	}
	if ua := all[0].UserAgent; len(ua) != maxDiscoveredField {
		t.Errorf("kept a User-Agent of %d bytes, want it cut to %d", len(ua), maxDiscoveredField)
	}
}

func TestObserveDisabled(t *testing.T) {
	s := NewStore(StoreOptions{MaxDiscovered: -1})
	if s.Observe(janeID(), testNow) {
		t.Error("Observe with discovery off = true")
	}
	if _, ok := s.LookupDiscovered(janeID().DeviceID); ok || len(s.DiscoveredDevices()) != 0 || s.ForgetDiscovered("x") {
		t.Error("discovery off still remembers")
	}
}

// Observing a device already discovered, with nothing changed, allocates
// nothing: it runs on every request of an unknown device.
func TestObserveAllocatesNothing(t *testing.T) {
	s := NewStore(StoreOptions{})
	id := janeID()
	s.Observe(id, testNow)
	if allocs := testing.AllocsPerRun(100, func() { s.Observe(id, testNow) }); allocs != 0 {
		t.Errorf("Observe allocated %v times", allocs)
	}
}
