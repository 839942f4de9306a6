package device_test

import (
	"fmt"
	"time"

	"github.com/mailgate/enforcer/l7/device"
)

func ExampleDecide() {
	p, err := device.NewPolicy(device.Config{
		ManagedOnly:      true,
		BlockCompromised: true,
		InactivityDays:   30,
		AllowedOS:        []device.OSRule{{Platform: "Apple", Min: "16"}},
		Rules:            []device.ABQRule{{Characteristic: device.DeviceType, Query: "WP8", Access: device.Quarantine}},
	})
	if err != nil {
		panic(err)
	}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	rec := &device.Record{
		DeviceID: "ApplF17ABC", User: "jane@contoso.com", Managed: true,
		Platform: "Apple", OSVersion: "15.8", LastCheckIn: now.Add(-time.Hour),
	}
	id := device.Identity{User: `CONTOSO\jane`, DeviceID: "ApplF17ABC", DeviceType: "iPhone"}

	d := device.Decide(id, rec, p, now)
	fmt.Println(d.Action, d.Reason, d.Rule)

	rec.OSVersion = "17.4.1"
	d = device.Decide(id, rec, p, now)
	fmt.Println(d.Action, d.Reason)

	d = device.Decide(id, nil, nil, now)
	fmt.Println(d.Action, d.Reason)
	// Output:
	// block managed.os.not_allowed AllowedOS
	// allow default.allow
	// block policy.none.fail_closed
}

func ExampleStore() {
	s := device.NewStore(device.StoreOptions{})
	if err := s.Replace([]device.Record{{DeviceID: "ApplF17ABC", User: "jane", Override: device.OverrideWhitelist}}); err != nil {
		panic(err)
	}
	p, _ := device.NewPolicy(device.Config{ManagedOnly: true})
	s.SetPolicy(p)

	now := time.Now()
	known := device.Identity{User: "jane", DeviceID: "applf17abc"}
	unknown := device.Identity{User: "jane", DeviceID: "androidc99", DeviceType: "Android"}
	fmt.Println(s.Decide(known, now).Reason)
	fmt.Println(s.Decide(unknown, now).Reason, s.Observe(unknown, now))
	d, _ := s.LookupDiscovered("ANDROIDC99")
	fmt.Println(d.DeviceType, d.Requests)
	// Output:
	// override.whitelist
	// general.unmanaged true
	// Android 1
}
