package daemon

import (
	"sort"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/loader"
)

// StatsFrom converts datapath counters, naming services by id.
func StatsFrom(c loader.Counters, names map[uint8]string) adminapi.Stats {
	var s adminapi.Stats
	for k, v := range c.Verdicts {
		name := names[k.Service]
		if k.Service == 0 {
			name = "-"
		}
		s.Rows = append(s.Rows, adminapi.StatsRow{Service: name, Verdict: k.Action.String(), Reason: k.Reason.String(), Packets: v.Packets, Bytes: v.Bytes})
	}
	for cc, v := range c.CountryDrops {
		if cc == "" {
			cc = "-"
		}
		s.Countries = append(s.Countries, adminapi.CountryRow{Country: cc, Packets: v.Packets, Bytes: v.Bytes})
	}
	sortStats(&s)
	return s
}

func sortStats(s *adminapi.Stats) {
	sort.Slice(s.Rows, func(i, j int) bool {
		a, b := s.Rows[i], s.Rows[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Verdict != b.Verdict {
			return a.Verdict > b.Verdict // pass before drop
		}
		return a.Reason < b.Reason
	})
	sort.Slice(s.Countries, func(i, j int) bool {
		if s.Countries[i].Packets != s.Countries[j].Packets {
			return s.Countries[i].Packets > s.Countries[j].Packets
		}
		return s.Countries[i].Country < s.Countries[j].Country
	})
}
