package loader

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailgate/enforcer/loader/srctable"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/geodata"
)

// TestSwapUnderLoad switches between two full country tables over and over
// while verdicts for stable sources (networks both tables agree on) run
// through the loaded program: not one verdict may be wrong. The unstable
// networks change country between the tables, so a packet that saw half of
// one table and half of the other could go wrong.
func TestSwapUnderLoad(t *testing.T) {
	d := mustLoad(t)
	nets := geodata.Generate(21, 200000, 200000)
	svc := policy.Service{ID: 1, Name: "imaps", Protocols: []policy.Proto{policy.TCP}, Ports: []uint16{993},
		Geofenced: true, Countries: []string{"DE"}}
	var tables [2]*srctable.Table
	for i := range tables {
		p := &policy.Policy{Services: []policy.Service{svc}}
		for j, n := range nets {
			c := n.Country
			switch {
			case j%2 == 1 && i == 0:
				c = "DE" // unstable: allowed in table 0 ...
			case j%2 == 1 && i == 1:
				c = "CN" // ... and not in table 1
			case c == "DE" && j%4 == 0:
				c = "FR"
			}
			p.Networks = append(p.Networks, policy.Network{Prefix: n.Prefix, Country: c})
		}
		var err error
		if tables[i], err = Compile(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Install(tables[0], []policy.Service{svc}); err != nil {
		t.Fatal(err)
	}
	// Stable sources: even networks, whose country is the same in both.
	type probe struct {
		frame []byte
		want  uint32
	}
	var probes []probe
	for j := 0; j < len(nets) && len(probes) < 400; j += 2 * 997 {
		a := nets[j].Prefix.Addr()
		want := uint32(xdpDrop)
		if c := tables[0].Lookup(a).Country; c == mustCountry(t, "DE") {
			want = xdpPass
		}
		if tables[0].Lookup(a) != tables[1].Lookup(a) {
			t.Fatalf("%v differs between the tables", a)
		}
		probes = append(probes, probe{tcp(a, a4("10.0.0.1"), 993).Build(), want})
	}

	const swapCount, minSwaps = 60, 12
	var stop atomic.Bool
	var swaps atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; !stop.Load() && i <= swapCount; i++ {
			if err := d.SwapSources(tables[i%2]); err != nil {
				errs <- err
				return
			}
			swaps.Add(1)
		}
	}()
	// Bounded by count and time: until the swapper is through, or 20 s.
	deadline := time.Now().Add(20 * time.Second)
	runs := 0
	for time.Now().Before(deadline) && swaps.Load() < swapCount && runs < 50_000_000 {
		for _, p := range probes {
			if got := mustRun(t, d.Program(), p.frame); got != p.want {
				stop.Store(true)
				t.Fatalf("after %d runs and %d swaps: verdict %d, want %d", runs, swaps.Load(), got, p.want)
			}
			runs++
		}
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	// On a busy machine a swap (a 64 MiB table and a grace period) can
	// take long; a dozen still interleave with the verdicts.
	if swaps.Load() < minSwaps {
		t.Fatalf("only %d swaps happened during the verdict loop, want %d at least", swaps.Load(), minSwaps)
	}
	t.Logf("%d verdicts across %d table swaps, all right", runs, swaps.Load())
}

func mustCountry(tb testing.TB, cc string) uint16 {
	tb.Helper()
	id, err := srctable.CountryID(cc)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
