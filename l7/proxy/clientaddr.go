package proxy

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// clientAddr returns the client's address and whether the TCP peer is a
// trusted proxy. For a trusted peer it walks X-Forwarded-For from the
// right, skipping trusted hops, and takes the first address that is not
// trusted: entries left of it were written by the client itself and prove
// nothing. A malformed entry stops the walk at the last good hop.
func (p *Proxy) clientAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	peer := ap.Addr().Unmap()
	if !p.trusted(peer) {
		return peer, false
	}
	client := peer
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client, true
			}
			client = a.Unmap()
			if !p.trusted(client) {
				return client, true
			}
		}
	}
	return client, true
}

func (p *Proxy) trusted(a netip.Addr) bool {
	for _, pre := range p.cfg.TrustedProxies {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// sourcePrefix is the source a connection is counted against for
// MaxConnsPerSource: the IPv4 address, or the IPv6 /64. A subscriber gets
// at least a /64 (a mobile network gives each device its own, RFC 6459
// section 5.2) and may pick any address in it, so counting single IPv6
// addresses would let one client take a fresh address per connection.
func sourcePrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 32
	}
	p, _ := a.WithZone("").Prefix(bits)
	return p
}

// sourceCounts counts what each source holds (connections, or requests
// in flight) against a limit. Only sources holding something have an
// entry, so it is at most as large as what is held.
type sourceCounts struct {
	limit int
	mu    sync.Mutex
	m     map[netip.Prefix]int
}

func newSourceCounts(limit int) *sourceCounts {
	return &sourceCounts{limit: limit, m: map[netip.Prefix]int{}}
}

// acquire counts one more for src, unless src holds limit already.
func (s *sourceCounts) acquire(src netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.m[src]
	if n >= s.limit {
		return false
	}
	s.m[src] = n + 1
	return true
}

func (s *sourceCounts) release(src netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.m[src]; n > 1 {
		s.m[src] = n - 1
	} else {
		delete(s.m, src)
	}
}
