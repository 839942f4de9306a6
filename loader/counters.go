package loader

import (
	"fmt"

	"github.com/mailgate/enforcer/loader/srctable"
	"github.com/mailgate/enforcer/policy"
)

// Count is packets and bytes.
type Count struct {
	Packets, Bytes uint64
}

// CounterKey names one datapath counter.
type CounterKey struct {
	Service uint8
	Action  policy.Action
	Reason  policy.Reason
}

// Counters are the datapath's counters summed over CPUs; zero entries are
// left out.
type Counters struct {
	Verdicts     map[CounterKey]Count
	CountryDrops map[string]Count // "" for sources without a country
}

// Counters reads and sums the per-CPU counters.
func (d *Datapath) Counters() (Counters, error) {
	c := Counters{Verdicts: map[CounterKey]Count{}, CountryDrops: map[string]Count{}}
	var per []enforcerCounter
	for i := uint32(0); i < uint32(maxServices*2*policy.NumReasons); i++ {
		if err := d.objs.Stats.Lookup(i, &per); err != nil {
			return Counters{}, fmt.Errorf("read counter %d: %w", i, err)
		}
		if s := sum(per); s.Packets != 0 {
			r := i % policy.NumReasons
			a := i / policy.NumReasons % 2
			c.Verdicts[CounterKey{Service: uint8(i / policy.NumReasons / 2), Action: policy.Action(a), Reason: policy.Reason(r)}] = s
		}
	}
	for i := uint32(0); i <= 26*26; i++ {
		if err := d.objs.CountryDrops.Lookup(i, &per); err != nil {
			return Counters{}, fmt.Errorf("read country counter %d: %w", i, err)
		}
		if s := sum(per); s.Packets != 0 {
			c.CountryDrops[srctable.CountryCode(uint16(i))] = s
		}
	}
	return c, nil
}

func sum(per []enforcerCounter) Count {
	var s Count
	for _, p := range per {
		s.Packets += p.Packets
		s.Bytes += p.Bytes
	}
	return s
}
