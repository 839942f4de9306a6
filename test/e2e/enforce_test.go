package e2e_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/test/testenv"
)

// Kernel XDP attach modes as netlink reports them (IFLA_XDP_ATTACHED).
const (
	xdpAttachedDrv = 1
	xdpAttachedSkb = 2
)

// TestEnforcement attaches the datapath to the server's interface in each
// mode and sends real traffic from every source, over IPv4 and IPv6: allowed
// sources complete TCP exchanges and their datagrams arrive, the others'
// SYNs and datagrams are dropped, unprotected ports and destinations are
// open to all, and the counters say so by reason and country.
func TestEnforcement(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name       string
		mode       loader.Mode
		want       loader.Mode
		attachedAs uint32
	}{
		{"native", loader.ModeNative, loader.ModeNative, xdpAttachedDrv},
		{"generic", loader.ModeGeneric, loader.ModeGeneric, xdpAttachedSkb},
		// veth has native XDP, so auto picks it.
		{"auto", loader.ModeAuto, loader.ModeNative, xdpAttachedDrv},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each has its own lab; most of the time is waiting out drops
			l := mustLab(t)
			d := mustLoad(t, mustPinDir(t))
			if err := d.Apply(labPolicy()); err != nil {
				t.Fatalf("apply policy: %v", err)
			}
			got, err := l.attach(d, tc.mode)
			if err != nil {
				t.Fatalf("attach in %s mode: %v", tc.mode, err)
			}
			if got != tc.want {
				t.Errorf("Attach(%s) reported %s mode, want %s", tc.mode, got, tc.want)
			}
			x := l.xdp(t)
			if x == nil {
				t.Fatalf("no XDP program on %s after Attach", serverIface)
			}
			if x.AttachMode != tc.attachedAs || x.ProgId != progID(t, d) {
				t.Fatalf("kernel reports program %d attached as %d, want program %d attached as %d", x.ProgId, x.AttachMode, progID(t, d), tc.attachedAs)
			}
			checkEnforcement(t, l, d)
		})
	}
}

// checkEnforcement runs the rounds over both families: the open ones first,
// while no protected traffic can still be in flight, so the counters must
// not move at all.
func checkEnforcement(t *testing.T, l *lab, d *loader.Datapath) {
	const (
		datagrams = 4
		conns     = 2
		attempts  = 2
	)
	t.Run("open", func(t *testing.T) {
		before := readCounters(t, d)
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) { l.openRound(t, f, datagrams) })
		}
		// Every datagram arrived, so each has been through the program.
		if diff := cmp.Diff(before, readCounters(t, d)); diff != "" {
			t.Errorf("unprotected traffic moved the counters (-before +after):\n%s", diff)
		}
	})
	t.Run("udp", func(t *testing.T) {
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				before := readCounters(t, d)
				arrived := l.udpRound(t, f, datagrams)
				want := wantUDP([]family{f}, datagrams)
				got := waitCounted(t, d, before, want)
				checkExact(t, got, want, udpService)
				checkNoneArrived(t, "datagrams", f, arrived, l.udp.received.snapshot())
			})
		}
	})
	t.Run("tcp", func(t *testing.T) {
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				before := readCounters(t, d)
				accepted := l.tcpRound(t, f, conns, attempts)
				want := wantTCP([]family{f}, conns, attempts)
				got := waitCounted(t, d, before, want)
				checkOnly(t, got, want, tcpService)
				checkNoneArrived(t, "connections", f, accepted, l.tcp.accepted.snapshot())
			})
		}
	})
}
