package e2e_test

import (
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
)

// Rounds of traffic from every source, and what the datapath should count
// for them. A round checks what the client and the server see; the caller
// checks the counters, since it knows which datapath handle to read.

// udpRound sends n datagrams from every source to the protected udp/443 of
// f's server address and waits until the allowed sources' datagrams have
// all arrived. Whether the others were dropped is known once the datapath
// has counted them: see checkNoneArrived.
func (l *lab) udpRound(t *testing.T, f family, n int) (before map[netip.Addr]int) {
	t.Helper()
	before = l.udp.received.snapshot()
	dst := netip.AddrPortFrom(f.server, udpProtected)
	for _, s := range sources {
		if err := l.sendUDP(s.addr(f), dst, n); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	waitFor(t, "allowed datagrams arrive", func() error {
		got := l.udp.received.snapshot()
		for _, s := range sources {
			if a := s.addr(f); s.pass() && got[a]-before[a] != n {
				return fmt.Errorf("%d of %d datagrams from %s (%v) arrived", got[a]-before[a], n, s.name, a)
			}
		}
		return nil
	})
	return before
}

// tcpRound makes conns full exchanges with the protected tcp/993 from each
// allowed source and attempts connections from each disallowed source,
// which must time out.
func (l *lab) tcpRound(t *testing.T, f family, conns, attempts int) (before map[netip.Addr]int) {
	t.Helper()
	before = l.tcp.accepted.snapshot()
	dst := netip.AddrPortFrom(f.server, tcpProtected)
	var wg sync.WaitGroup
	for _, s := range sources {
		if s.pass() {
			continue
		}
		// Concurrently: each attempt waits out its timeout.
		wg.Go(func() {
			for i := range attempts {
				err := l.tcpExchange(s.addr(f), dst, dropTimeout)
				if !isTimeout(err) {
					t.Errorf("%s (%v): connection attempt %d: got %v, want a connect timeout (SYN dropped)", s.name, s.addr(f), i, err)
				}
			}
		})
	}
	for _, s := range sources {
		if !s.pass() {
			continue
		}
		for i := range conns {
			if err := l.tcpExchange(s.addr(f), dst, passTimeout); err != nil {
				t.Errorf("%s (%v): exchange %d: %v", s.name, s.addr(f), i, err)
			}
		}
	}
	wg.Wait()
	got := l.tcp.accepted.snapshot()
	for _, s := range sources {
		if a := s.addr(f); s.pass() && got[a]-before[a] != conns {
			t.Errorf("server accepted %d connections from %s (%v), want %d", got[a]-before[a], s.name, a, conns)
		}
	}
	return before
}

// openRound shows that unprotected traffic passes from every source: tcp
// and udp on open ports, and udp/443 to the server address its service is
// not limited to.
func (l *lab) openRound(t *testing.T, f family, n int) {
	t.Helper()
	beforeOpen, beforeAlt := l.udpOpen.received.snapshot(), l.udp.received.snapshot()
	for _, s := range sources {
		if err := l.tcpExchange(s.addr(f), netip.AddrPortFrom(f.server, tcpOpen), passTimeout); err != nil {
			t.Errorf("%s (%v): tcp/%d: %v", s.name, s.addr(f), tcpOpen, err)
		}
		if err := l.sendUDP(s.addr(f), netip.AddrPortFrom(f.server, udpOpen), n); err != nil {
			t.Fatal(err)
		}
		if err := l.sendUDP(s.addr(f), netip.AddrPortFrom(f.serverAlt, udpProtected), n); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "unprotected datagrams arrive", func() error {
		open, alt := l.udpOpen.received.snapshot(), l.udp.received.snapshot()
		for _, s := range sources {
			a := s.addr(f)
			if got := open[a] - beforeOpen[a]; got != n {
				return fmt.Errorf("udp/%d: %d of %d datagrams from %s (%v) arrived", udpOpen, got, n, s.name, a)
			}
			if got := alt[a] - beforeAlt[a]; got != n {
				return fmt.Errorf("udp/%d to %v: %d of %d datagrams from %s (%v) arrived", udpProtected, f.serverAlt, got, n, s.name, a)
			}
		}
		return nil
	})
}

// checkNoneArrived checks that nothing from the disallowed sources reached
// the server since before. Call it once the datapath has counted their
// packets as dropped: from then on they cannot arrive.
func checkNoneArrived(t *testing.T, what string, f family, before, now map[netip.Addr]int) {
	t.Helper()
	for _, s := range sources {
		if a := s.addr(f); !s.pass() && now[a] != before[a] {
			t.Errorf("%s: %d from %s (%v) reached the server, want none", what, now[a]-before[a], s.name, a)
		}
	}
}

// wantUDP is what n datagrams from every source to udp/443 count, for each
// of fams.
func wantUDP(fams []family, n int) loader.Counters {
	want := loader.Counters{Verdicts: map[loader.CounterKey]loader.Count{}, CountryDrops: map[string]loader.Count{}}
	for _, f := range fams {
		c := loader.Count{Packets: uint64(n), Bytes: uint64(n) * f.udpFrame()}
		for _, s := range sources {
			k := loader.CounterKey{Service: udpService, Action: s.action, Reason: s.reason}
			want.Verdicts[k] = addCount(want.Verdicts[k], c)
			if !s.pass() {
				want.CountryDrops[s.country] = addCount(want.CountryDrops[s.country], c)
			}
		}
	}
	return want
}

// wantTCP is the least a tcpRound counts: a dropped SYN per attempt, and
// SYN, ACK and request per allowed connection. Retransmissions and the
// closing handshake add to that.
func wantTCP(fams []family, conns, attempts int) loader.Counters {
	want := loader.Counters{Verdicts: map[loader.CounterKey]loader.Count{}, CountryDrops: map[string]loader.Count{}}
	for range fams {
		for _, s := range sources {
			k := loader.CounterKey{Service: tcpService, Action: s.action, Reason: s.reason}
			if s.pass() {
				want.Verdicts[k] = addCount(want.Verdicts[k], loader.Count{Packets: uint64(3 * conns)})
				continue
			}
			want.Verdicts[k] = addCount(want.Verdicts[k], loader.Count{Packets: uint64(attempts)})
			want.CountryDrops[s.country] = addCount(want.CountryDrops[s.country], loader.Count{Packets: uint64(attempts)})
		}
	}
	return want
}

func addCount(a, b loader.Count) loader.Count {
	return loader.Count{Packets: a.Packets + b.Packets, Bytes: a.Bytes + b.Bytes}
}

func readCounters(tb testing.TB, d *loader.Datapath) loader.Counters {
	tb.Helper()
	c, err := d.Counters()
	if err != nil {
		tb.Fatalf("read counters: %v", err)
	}
	return c
}

// sub is after - before, leaving out entries that did not change.
func sub(after, before loader.Counters) loader.Counters {
	d := loader.Counters{Verdicts: map[loader.CounterKey]loader.Count{}, CountryDrops: map[string]loader.Count{}}
	for k, a := range after.Verdicts {
		if b := before.Verdicts[k]; a != b {
			d.Verdicts[k] = loader.Count{Packets: a.Packets - b.Packets, Bytes: a.Bytes - b.Bytes}
		}
	}
	for k, a := range after.CountryDrops {
		if b := before.CountryDrops[k]; a != b {
			d.CountryDrops[k] = loader.Count{Packets: a.Packets - b.Packets, Bytes: a.Bytes - b.Bytes}
		}
	}
	return d
}

// ofService keeps the verdict counters of service svc and, for a drop
// check, the country drops (which every service shares).
func ofService(c loader.Counters, svc uint8) loader.Counters {
	out := loader.Counters{Verdicts: map[loader.CounterKey]loader.Count{}, CountryDrops: maps.Clone(c.CountryDrops)}
	for k, v := range c.Verdicts {
		if k.Service == svc {
			out.Verdicts[k] = v
		}
	}
	return out
}

// reached reports how got (a delta) falls short of want's packet counts,
// or "" once it does not.
func reached(got, want loader.Counters) string {
	for k, w := range want.Verdicts {
		if g := got.Verdicts[k]; g.Packets < w.Packets {
			return fmt.Sprintf("service %d %s/%s: %d packets counted, want %d", k.Service, k.Action, k.Reason, g.Packets, w.Packets)
		}
	}
	for cc, w := range want.CountryDrops {
		if g := got.CountryDrops[cc]; g.Packets < w.Packets {
			return fmt.Sprintf("drops from country %q: %d packets counted, want %d", cc, g.Packets, w.Packets)
		}
	}
	return ""
}

// waitCounted polls d until the counters moved by at least want since
// before, and returns the delta.
func waitCounted(t *testing.T, d *loader.Datapath, before, want loader.Counters) loader.Counters {
	t.Helper()
	var got loader.Counters
	waitFor(t, "datapath counts the packets", func() error {
		got = sub(readCounters(t, d), before)
		if why := reached(got, want); why != "" {
			return fmt.Errorf("%s", why)
		}
		return nil
	})
	return got
}

// checkExact compares a delta of service svc's counters and the country
// drops with want, packets and bytes.
func checkExact(t *testing.T, got, want loader.Counters, svc uint8) {
	t.Helper()
	if diff := cmp.Diff(want, ofService(got, svc)); diff != "" {
		t.Errorf("counters of service %d and country drops (-want +got):\n%s", svc, diff)
	}
}

// checkVerdicts compares a delta of service svc's verdict counters with
// want's, packets and bytes.
func checkVerdicts(t *testing.T, got, want loader.Counters, svc uint8) {
	t.Helper()
	if diff := cmp.Diff(ofService(want, svc).Verdicts, ofService(got, svc).Verdicts); diff != "" {
		t.Errorf("counters of service %d (-want +got):\n%s", svc, diff)
	}
}

// checkOnly reports service svc counters that moved but are not in want:
// verdicts no source should have had.
func checkOnly(t *testing.T, got, want loader.Counters, svc uint8) {
	t.Helper()
	for k, v := range ofService(got, svc).Verdicts {
		if _, ok := want.Verdicts[k]; !ok {
			t.Errorf("unexpected verdict counted: service %d %s/%s: %+v", k.Service, k.Action, k.Reason, v)
		}
	}
	for cc, v := range got.CountryDrops {
		if _, ok := want.CountryDrops[cc]; !ok {
			t.Errorf("unexpected drops counted for country %q: %+v", cc, v)
		}
	}
}

// TestSources checks the hand-written verdicts of the sources table against
// the reference model, so the end-to-end tests expect what policy says.
func TestSources(t *testing.T) {
	m, err := policy.NewModel(labPolicy())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, s := range sources {
			for _, dst := range []struct {
				proto policy.Proto
				port  uint16
				svc   uint8
			}{{policy.TCP, tcpProtected, tcpService}, {policy.UDP, udpProtected, udpService}} {
				got := m.JudgeFlow(s.addr(f), f.server, dst.proto, dst.port)
				want := policy.Verdict{Action: s.action, Reason: s.reason, Service: dst.svc, Country: s.country}
				if got != want {
					t.Errorf("%s %s to %v/%d: model says %v, table says %v", f.name, s.name, dst.proto, dst.port, got, want)
				}
			}
			for _, dst := range []struct {
				proto policy.Proto
				to    netip.Addr
				port  uint16
			}{{policy.TCP, f.server, tcpOpen}, {policy.UDP, f.server, udpOpen}, {policy.UDP, f.serverAlt, udpProtected}} {
				if got := m.JudgeFlow(s.addr(f), dst.to, dst.proto, dst.port); got.Counted() {
					t.Errorf("%s %s to %v %v/%d: model says %v, want untouched", f.name, s.name, dst.to, dst.proto, dst.port, got)
				}
			}
		}
	}
}
