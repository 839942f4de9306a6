package device

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailgate/enforcer/l7/eas"
)

// maxDiscoveredField bounds each string a discovered device keeps, so that
// a client cannot make the gateway hold large headers.
const maxDiscoveredField = 256

// Discovered is a device seen in requests without having a record.
type Discovered struct {
	DeviceID        string
	User            string
	DeviceType      string
	UserAgent       string
	LastCommand     eas.Command
	ProtocolVersion eas.Version
	SourceIP        netip.Addr
	FirstSeen       time.Time
	LastSeen        time.Time
	// Requests counts the requests observed since FirstSeen.
	Requests uint64
}

// discovery remembers discovered devices in shards, each a map and a list
// ordered by last sight, capped: a full shard forgets its least recently
// seen device. Sharding keeps concurrent requests of different devices
// from contending for one lock; the price is that eviction is least
// recently seen per shard, not globally.
type discovery struct {
	shards []discShard
}

type discShard struct {
	mu         sync.Mutex
	m          map[string]*discEntry
	head, tail *discEntry // head: most recently seen
	cap        int
}

type discEntry struct {
	key        string
	d          Discovered
	prev, next *discEntry
}

// minShardCap keeps shards large enough that per-shard eviction is close
// to global: below 16*minShardCap devices there is a single shard.
const (
	maxDiscShards = 16
	minShardCap   = 256
)

func newDiscovery(limit int) *discovery {
	if limit < 0 {
		return &discovery{}
	}
	n := max(1, min(maxDiscShards, limit/minShardCap))
	d := &discovery{shards: make([]discShard, n)}
	for i := range d.shards {
		c := limit / n
		if i < limit%n {
			c++
		}
		d.shards[i] = discShard{m: make(map[string]*discEntry), cap: c}
	}
	return d
}

// shard picks a folded key's shard by FNV-1a.
func shard[K string | []byte](d *discovery, k K) *discShard {
	if len(d.shards) == 1 {
		return &d.shards[0]
	}
	h := uint32(2166136261)
	for i := 0; i < len(k); i++ {
		h ^= uint32(k[i])
		h *= 16777619
	}
	return &d.shards[h%uint32(len(d.shards))]
}

// Observe notes a request from a device without a record: first and last
// seen, last command, user, type, client and source address. It returns
// whether the device was recorded (false for a device with a record, a
// request without device ID, or discovery turned off). For a device
// already discovered it allocates nothing unless a field changed.
func (s *Store) Observe(id Identity, now time.Time) bool {
	d := s.disc
	if len(d.shards) == 0 || trimSpace(id.DeviceID) == "" {
		return false
	}
	var buf [foldBufLen]byte
	k := fold(buf[:0], id.DeviceID)
	if s.snap.Load().lookup(k) != nil {
		return false
	}
	sh := shard(d, k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[string(k)]
	if e == nil {
		e = &discEntry{key: string(k)}
		e.d.FirstSeen = now
		e.d.LastSeen = now
		sh.m[e.key] = e
		sh.pushFront(e)
		if len(sh.m) > sh.cap {
			old := sh.tail
			sh.unlink(old)
			delete(sh.m, old.key)
		}
	} else {
		sh.unlink(e)
		sh.pushFront(e)
	}
	x := &e.d
	keep(&x.DeviceID, id.DeviceID)
	keep(&x.User, id.User)
	keep(&x.DeviceType, id.DeviceType)
	keep(&x.UserAgent, id.UserAgent)
	x.LastCommand = id.Command
	x.ProtocolVersion = id.ProtocolVersion
	x.SourceIP = id.SourceIP
	if now.After(x.LastSeen) {
		x.LastSeen = now
	}
	if now.Before(x.FirstSeen) {
		x.FirstSeen = now
	}
	x.Requests++
	return true
}

// keep stores a copy of v, cut to maxDiscoveredField bytes, in *dst when it
// differs: a copy, so the entry does not pin the request's buffers.
func keep(dst *string, v string) {
	if len(v) > maxDiscoveredField {
		v = v[:maxDiscoveredField]
	}
	if *dst != v {
		*dst = strings.Clone(v)
	}
}

// LookupDiscovered returns what discovery knows of a device ID.
func (s *Store) LookupDiscovered(deviceID string) (Discovered, bool) {
	d := s.disc
	if len(d.shards) == 0 {
		return Discovered{}, false
	}
	var buf [foldBufLen]byte
	k := fold(buf[:0], deviceID)
	sh := shard(d, k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[string(k)]; e != nil {
		return e.d, true
	}
	return Discovered{}, false
}

// DiscoveredDevices returns every discovered device, most recently seen
// first.
func (s *Store) DiscoveredDevices() []Discovered {
	var out []Discovered
	for i := range s.disc.shards {
		sh := &s.disc.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil; e = e.next {
			out = append(out, e.d)
		}
		sh.mu.Unlock()
	}
	slices.SortStableFunc(out, func(a, b Discovered) int { return b.LastSeen.Compare(a.LastSeen) })
	return out
}

// ForgetDiscovered drops a discovered device; it reports whether it was
// known.
func (s *Store) ForgetDiscovered(deviceID string) bool {
	return s.disc.forget(foldString(deviceID))
}

func (d *discovery) forget(k string) bool {
	if len(d.shards) == 0 {
		return false
	}
	sh := shard(d, k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[k]
	if e == nil {
		return false
	}
	sh.unlink(e)
	delete(sh.m, k)
	return true
}

func (sh *discShard) pushFront(e *discEntry) {
	e.prev, e.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	if sh.tail == nil {
		sh.tail = e
	}
}

func (sh *discShard) unlink(e *discEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
}
