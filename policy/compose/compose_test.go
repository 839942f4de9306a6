package compose

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/store"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// testInput is a configuration of three services: geofenced imap, admin
// by allowlist only, and a disabled pop3.
func testInput(st store.State) Input {
	return Input{
		Deny: []netip.Prefix{pfx("192.0.2.66/32")},
		Services: []Service{
			{Name: "imap", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{143, 993}, Countries: []string{"DE"}, Geofenced: true, Allow: []netip.Prefix{pfx("198.51.100.128/25")}},
			{Name: "admin", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{9443}, Allow: []netip.Prefix{pfx("198.51.100.200/32")}},
			{Name: "pop3", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{110, 995}, Disabled: true},
		},
		State: st,
		Networks: []policy.Network{
			{Prefix: pfx("198.51.100.0/25"), Country: "DE"},
			{Prefix: pfx("203.0.113.0/24"), Country: "AT"},
		},
	}
}

func mustCompose(t *testing.T, in Input) Result {
	t.Helper()
	r, err := Compose(in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCompose(t *testing.T) {
	in := testInput(store.State{ServiceIDs: map[string]uint8{"admin": 4, "gone": 1}})
	r := mustCompose(t, in)
	// Ids: admin keeps its, gone's stays reserved, the new ones take the
	// lowest free ones in config order; the disabled pop3 gets one too.
	if diff := cmp.Diff(map[string]uint8{"admin": 4, "gone": 1, "imap": 2, "pop3": 3}, r.IDs); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	want := &policy.Policy{
		Deny: []netip.Prefix{pfx("192.0.2.66/32")},
		Services: []policy.Service{
			{ID: 2, Name: "imap", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{143, 993}, Countries: []string{"DE"}, Geofenced: true, Allow: []netip.Prefix{pfx("198.51.100.128/25")}},
			{ID: 4, Name: "admin", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{9443}, Allow: []netip.Prefix{pfx("198.51.100.200/32")}},
		},
		Networks: in.Networks,
	}
	if diff := cmp.Diff(want, r.Policy, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
	// The policy owns its slices.
	r.Policy.Services[0].Ports[0] = 1
	r.Policy.Deny[0] = pfx("10.0.0.0/8")
	if in.Services[0].Ports[0] != 143 || in.Deny[0] != pfx("192.0.2.66/32") {
		t.Error("the policy shares slices with the input")
	}
	// The disabled service's ports are untouched.
	if v := r.Model.JudgeFlow(netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("192.0.2.1"), policy.TCP, 995); v.Reason != policy.ReasonUntouched {
		t.Errorf("disabled pop3: %v, want untouched", v)
	}
}

// TestComposeAppliesState: the runtime changes are laid over the
// configuration, and the model judges with them.
func TestComposeAppliesState(t *testing.T) {
	st := store.State{
		Allow:     map[string][]store.Entry{"imap": {{Prefix: pfx("10.0.0.0/8")}}},
		Deny:      []store.Entry{{Prefix: pfx("198.51.100.7/32")}},
		Countries: map[string]store.CountryOverride{"imap": {Added: []string{"AT"}, Removed: []string{"DE"}}},
	}
	r := mustCompose(t, testInput(st))
	p, m := r.Policy, r.Model
	var imap *policy.Service
	for i := range p.Services {
		if p.Services[i].Name == "imap" {
			imap = &p.Services[i]
		}
	}
	if imap == nil || !slices.Equal(imap.Countries, []string{"AT"}) || len(imap.Allow) != 2 {
		t.Fatalf("imap after state: %+v", imap)
	}
	if len(p.Deny) != 2 {
		t.Fatalf("deny after state: %v", p.Deny)
	}
	dst := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		src    string
		reason policy.Reason
	}{
		{"10.1.2.3", policy.ReasonAllowlist},    // added allow entry
		{"203.0.113.9", policy.ReasonCountry},   // added country
		{"198.51.100.9", policy.ReasonNotInSet}, // removed country
		{"198.51.100.7", policy.ReasonDeny},     // added deny entry
	} {
		if v := m.JudgeFlow(netip.MustParseAddr(tc.src), dst, policy.TCP, 993); v.Reason != tc.reason {
			t.Errorf("%s: %v, want %v", tc.src, v, tc.reason)
		}
	}
}

func TestComposeErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Input)
		want   string
	}{
		{"stored ids broken", func(in *Input) { in.State.ServiceIDs = map[string]uint8{"x": 3, "y": 3} }, `services "x" and "y": both stored with id 3`},
		{"too many services", func(in *Input) {
			for i := range policy.MaxServiceID {
				in.Services = append(in.Services, Service{Name: "s" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Disabled: true})
			}
		}, "66 services are more than the datapath's 63 service ids"},
		{"invalid configuration", func(in *Input) { in.Services[1].Ports = []uint16{993} }, `config to policy: service "admin": tcp port 993 already belongs to service "imap"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(store.State{})
			tc.change(&in)
			if _, err := Compose(in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compose: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestComposeLeavesOutExpired: a stored entry is in force until its
// expiry and not from then on.
func TestComposeLeavesOutExpired(t *testing.T) {
	exp := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	st := store.State{
		Allow: map[string][]store.Entry{"imap": {{Prefix: pfx("10.0.0.0/8"), ExpiresAt: exp}}},
		Deny:  []store.Entry{{Prefix: pfx("198.51.100.7/32"), ExpiresAt: exp}},
	}
	dst := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		now           time.Time
		allow, denied policy.Reason
	}{
		{exp.Add(-time.Second), policy.ReasonAllowlist, policy.ReasonDeny},
		{exp, policy.ReasonNoCountry, policy.ReasonCountry},
	} {
		in := testInput(st)
		in.Now = tc.now
		m := mustCompose(t, in).Model
		if v := m.JudgeFlow(netip.MustParseAddr("10.1.2.3"), dst, policy.TCP, 993); v.Reason != tc.allow {
			t.Errorf("at %v: allow entry: %v, want %v", tc.now, v, tc.allow)
		}
		if v := m.JudgeFlow(netip.MustParseAddr("198.51.100.7"), dst, policy.TCP, 993); v.Reason != tc.denied {
			t.Errorf("at %v: deny entry: %v, want %v", tc.now, v, tc.denied)
		}
	}
}
