package loader

import (
	"net/netip"
	"testing"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/compose"
)

// TestAdmitAll: a service with admit: all, composed into the datapath
// without any BPF support (its allowlist is 0.0.0.0/0 and ::/0), passes
// every source on the real program except those on the deny list, which
// is looked up first.
func TestAdmitAll(t *testing.T) {
	d := mustLoad(t)
	r, err := compose.Compose(compose.Input{
		Deny: []netip.Prefix{pfx("198.51.100.66/32"), pfx("2001:db8:bad::/48")},
		Services: []compose.Service{
			{Name: "imap", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{993}, AdmitAll: true},
			{Name: "pop3", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{995}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := mustApply(t, d, r.Policy)
	dst, dst6 := a4("10.0.0.1"), a4("2001:db8:1::1")
	for _, tc := range []struct {
		name   string
		frame  []byte
		action policy.Action
		reason policy.Reason
	}{
		{"v4 anyone", tcp(a4("203.0.113.9"), dst, 993).Build(), policy.Pass, policy.ReasonAllowlist},
		{"v4 denied", tcp(a4("198.51.100.66"), dst, 993).Build(), policy.Drop, policy.ReasonDeny},
		{"v6 anyone", tcp(a4("2001:db8:c0::1"), dst6, 993).Build(), policy.Pass, policy.ReasonAllowlist},
		{"v6 denied", tcp(a4("2001:db8:bad::1"), dst6, 993).Build(), policy.Drop, policy.ReasonDeny},
		{"listed service still drops", tcp(a4("203.0.113.9"), dst, 995).Build(), policy.Drop, policy.ReasonNotInSet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.Judge(tc.frame); got.Action != tc.action || got.Reason != tc.reason {
				t.Errorf("reference model: %v, want %v %v", got, tc.action, tc.reason)
			}
			want := uint32(xdpPass)
			if tc.action == policy.Drop {
				want = xdpDrop
			}
			if ret := mustRun(t, d.Program(), tc.frame); ret != want {
				t.Errorf("program returned %d, want %d (%v)", ret, want, tc.action)
			}
		})
	}
}
