package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
)

// addrPool holds the addresses the seed frames use, so random prefixes
// around them make random policies that actually decide those frames.
var addrPool = []netip.Addr{de4, cn4, us4, none4, allow4, server4, a4("10.0.0.1"), a4("192.0.2.66"),
	de6, cn6, server6, a4("2001:db8:1::1"), a4("2001:db8:a::5"), a4("2001:db8:bad::1")}

// randomPolicy derives a valid policy from seed.
func randomPolicy(seed []byte) *policy.Policy {
	h := sha256.Sum256(seed)
	r := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:]), binary.LittleEndian.Uint64(h[8:])))
	prefix := func() netip.Prefix {
		a := addrPool[r.IntN(len(addrPool))]
		p, _ := a.Prefix(a.BitLen() - r.IntN(a.BitLen()/2+1))
		return p
	}
	countries := []string{"DE", "FR", "US", "CN"}
	ports := []uint16{143, 993, 443, 8443, 25, 40000}
	p := &policy.Policy{}
	used := map[[2]uint16]bool{}
	for id := uint8(1); id <= uint8(1+r.IntN(4)); id++ {
		s := policy.Service{ID: id, Geofenced: r.IntN(3) != 0}
		proto := policy.TCP
		if r.IntN(3) == 0 {
			proto = policy.UDP
		}
		port := ports[r.IntN(len(ports))]
		if r.IntN(3) == 0 {
			s.Destinations = []netip.Prefix{prefix()}
		} else if used[[2]uint16{uint16(proto), port}] {
			continue
		} else {
			used[[2]uint16{uint16(proto), port}] = true
		}
		s.Protocols, s.Ports = []policy.Proto{proto}, []uint16{port}
		for range r.IntN(3) {
			s.Allow = append(s.Allow, prefix())
		}
		for range r.IntN(3) {
			s.Countries = append(s.Countries, countries[r.IntN(len(countries))])
		}
		p.Services = append(p.Services, s)
	}
	for range r.IntN(3) {
		p.Deny = append(p.Deny, prefix())
	}
	for range r.IntN(8) {
		c := ""
		if r.IntN(4) != 0 {
			c = countries[r.IntN(len(countries))]
		}
		p.Networks = append(p.Networks, policy.Network{Prefix: prefix(), Country: c})
	}
	return p
}

// FuzzDatapathMatchesModel feeds random frames and random policies to the
// loaded program and to the reference model; any disagreement in verdict or
// counters fails.
func FuzzDatapathMatchesModel(f *testing.F) {
	for i, tc := range verdictCases() {
		f.Add([]byte{byte(i)}, tc.frame)
		f.Add([]byte("fixed"), tc.frame)
	}
	d := mustLoadSmall(f) // a policy per seed: small tables switch fast
	var applied []byte
	var m *policy.Model
	f.Fuzz(func(t *testing.T, seed, frame []byte) {
		// BPF_PROG_TEST_RUN wants a whole Ethernet header and one page.
		if len(frame) < 14 || len(frame) > 3000 {
			t.Skip()
		}
		if m == nil || !bytes.Equal(seed, applied) {
			p := randomPolicy(seed)
			if policy.Validate(p) != nil {
				t.Skip() // two destination-limited services claimed one prefix
			}
			m = mustApply(t, d, p)
			applied = bytes.Clone(seed)
		}
		checkFrame(t, d, m, seed, frame)
		// The same frame behind one to three more tags, so stacks of three
		// and more (and 0x9100, which no one strips) are covered whatever
		// the fuzzer's frame carries.
		if len(frame)+12 <= 3000 {
			checkFrame(t, d, m, seed, retag(seed, frame))
		}
	})
}

// retag inserts one to three VLAN tags after the MAC addresses, their
// types and TCIs chosen by seed.
func retag(seed, frame []byte) []byte {
	h := sha256.Sum256(append([]byte("retag"), seed...))
	tpids := []uint16{0x8100, 0x88a8, 0x9100}
	out := append([]byte{}, frame[:12]...)
	for i := range 1 + int(h[0])%3 {
		tci := uint16(0) // priority tag: the kernel strips it
		if h[1+i]&1 == 1 {
			tci = binary.BigEndian.Uint16(h[8+2*i:])
		}
		out = binary.BigEndian.AppendUint16(out, tpids[int(h[4+i])%len(tpids)])
		out = binary.BigEndian.AppendUint16(out, tci)
	}
	return append(out, frame[12:]...)
}

// checkFrame runs frame through the program and the model and fails on any
// difference in verdict or counters.
func checkFrame(t *testing.T, d *Datapath, m *policy.Model, seed, frame []byte) {
	t.Helper()
	want := m.Judge(frame)
	before := mustCounters(t, d)
	ret := mustRun(t, d.Program(), frame)
	if (ret == xdpDrop) != (want.Action == policy.Drop) || (ret != xdpDrop && ret != xdpPass) {
		t.Fatalf("program returned %d, model says %v\npolicy %+v\nframe %x", ret, want, randomPolicy(seed), frame)
	}
	gotV, gotC := delta(before, mustCounters(t, d))
	wantV, wantC := map[CounterKey]uint64{}, map[string]uint64{}
	if want.Counted() {
		wantV[CounterKey{want.Service, want.Action, want.Reason}] = 1
	}
	if want.Action == policy.Drop && want.Reason != policy.ReasonMalformed && want.Reason != policy.ReasonFragment {
		wantC[want.Country] = 1
	}
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Fatalf("verdict counters (-model +program):\n%s\nframe %x", diff, frame)
	}
	if diff := cmp.Diff(wantC, gotC); diff != "" {
		t.Fatalf("country counters (-model +program):\n%s\nframe %x", diff, frame)
	}
}
