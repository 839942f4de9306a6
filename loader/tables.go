package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/mailgate/enforcer/loader/srctable"
	"github.com/mailgate/enforcer/policy"
)

// Port map value flags, mirrored from enforcer.h.
const (
	portSvcMask     = 0xff
	portFDstLimited = 0x100
	svcFGeofenced   = 0x1
	portEntries     = 2 * 65536 // per generation
	maxServices     = 64
	countryWords    = 11
	maxDests        = 4096 // per generation
)

// Apply programs p into the datapath. Every table a policy decides is
// built aside and switched in with one update: the service tables
// (services, ports, destinations) are written into the generation no
// packet reads, then a new source table naming that generation replaces
// the live one. A packet is judged wholly by the previous policy or wholly
// by p; an Apply that fails leaves the previous policy in force, exactly.
func (d *Datapath) Apply(p *policy.Policy) error {
	if err := policy.Validate(p); err != nil {
		return err
	}
	t, err := Compile(p)
	if err != nil {
		return err
	}
	return d.Install(t, p.Services)
}

// Compile builds the source table for p's deny list, allowlists and
// country table.
func Compile(p *policy.Policy) (*srctable.Table, error) {
	var b srctable.Builder
	n4 := 0
	for _, n := range p.Networks {
		if n.Prefix.Addr().Is4() {
			n4++
		}
	}
	b.Grow(n4, len(p.Networks)-n4)
	for _, n := range p.Networks {
		b.SetCountry(n.Prefix, n.Country)
	}
	for _, pr := range p.Deny {
		b.Deny(pr)
	}
	for _, s := range p.Services {
		for _, pr := range s.Allow {
			b.Allow(pr, s.ID)
		}
	}
	t, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("compile source table: %w", err)
	}
	return t, nil
}

func emptyTable() *srctable.Table {
	var b srctable.Builder
	t, _ := b.Build()
	return t
}

// Install switches the datapath to the source table t and the services
// svcs in one step (see Apply; t must be compiled for svcs). On error
// nothing a packet sees has changed.
func (d *Datapath) Install(t *srctable.Table, svcs []policy.Service) error {
	g, err := buildServices(svcs)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	live, err := d.liveGeneration()
	if err != nil {
		return err
	}
	next := live ^ 1
	// No packet reads generation next: the last switch away from it
	// returned after a grace period (see swap).
	if err := d.writeGeneration(next, g); err != nil {
		return err
	}
	return d.swap(t, next)
}

// SwapSources writes t into a new map and switches the datapath to it with
// one update: a packet sees the old table or the new one, never a mix, and
// the old table is freed once no packet uses it. The services stay as they
// are; t must be compiled for them.
func (d *Datapath) SwapSources(t *srctable.Table) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	live, err := d.liveGeneration()
	if err != nil {
		return err
	}
	return d.swap(t, live)
}

// liveGeneration reads which generation of the service tables the live
// source table names. It asks the kernel rather than remembering: another
// handle on the same pins (a daemon restarted, an upgrade) may have
// switched since.
func (d *Datapath) liveGeneration() (uint32, error) {
	var id ebpf.MapID
	err := d.objs.SourceTables.Lookup(uint32(0), &id)
	if errors.Is(err, ebpf.ErrKeyNotExist) || err == nil && id == 0 {
		return 0, nil // none yet: Load installs the first
	}
	if err != nil {
		return 0, fmt.Errorf("read the live source table's id: %w", err)
	}
	st, err := ebpf.NewMapFromID(id)
	if err != nil {
		return 0, fmt.Errorf("open the live source table: %w", err)
	}
	defer st.Close()
	var hdr srctable.Cell
	if err := st.Lookup(uint32(srctable.HeaderCell), &hdr); err != nil {
		return 0, fmt.Errorf("read the live source table's header: %w", err)
	}
	return hdr[0] & 1, nil
}

// swap switches in t as the table for service generation gen. The outer
// map's update returns once every program run that could have read the
// old table is over (the kernel waits for a grace period on map-in-map
// updates), so the generation left behind is free to rewrite.
func (d *Datapath) swap(t *srctable.Table, gen uint32) error {
	if n := uint32(len(t.Cells)); n > d.table.MaxEntries {
		return fmt.Errorf("source table needs %d cells but holds %d; raise the table capacity: %w", n, d.table.MaxEntries, ErrTableFull)
	}
	m, err := ebpf.NewMap(&d.table)
	if err != nil {
		return fmt.Errorf("create source table: %w", err)
	}
	defer m.Close()
	mem, err := m.Memory()
	if err != nil {
		return fmt.Errorf("map source table: %w", err)
	}
	// Cells are host-endian uint32s, as the program reads them; the
	// project builds for little-endian BPF (bpfel) only.
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.Cells))), len(t.Cells)*srctable.CellWords*4)
	if _, err := mem.WriteAt(raw, 0); err != nil {
		return fmt.Errorf("fill source table: %w", err)
	}
	var hdr [4]byte
	binary.NativeEndian.PutUint32(hdr[:], gen)
	if _, err := mem.WriteAt(hdr[:], srctable.HeaderCell*srctable.CellWords*4); err != nil {
		return fmt.Errorf("fill source table header: %w", err)
	}
	if err := d.objs.SourceTables.Update(uint32(0), m, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("switch source table: %w", err)
	}
	d.tableStats = t.Stats()
	return nil
}

// TableStats describes the source table this process last switched in.
func (d *Datapath) TableStats() srctable.Stats { return d.tableStats }

// ErrTableFull means a compiled source table exceeds the map's capacity.
var ErrTableFull = errors.New("source table capacity exceeded")

// ErrTooManyDestinations means the services' destination-limited entries
// (protocols x ports x destinations) exceed what one generation holds.
var ErrTooManyDestinations = errors.New("too many destination entries")

// serviceTables is one generation's content of the service tables.
type serviceTables struct {
	services []enforcerService // by service id
	ports    []uint32          // by portIndex
	dests    map[enforcerDestKey]uint32
}

// buildServices lays out svcs as the service tables hold them, generation
// 0 (the Gen of the destination keys is set when they are written).
func buildServices(svcs []policy.Service) (*serviceTables, error) {
	g := &serviceTables{
		services: make([]enforcerService, maxServices),
		ports:    make([]uint32, portEntries),
		dests:    map[enforcerDestKey]uint32{},
	}
	for _, s := range svcs {
		if s.ID == 0 || s.ID >= maxServices {
			return nil, fmt.Errorf("service %q: id %d out of range 1..%d", s.Name, s.ID, maxServices-1)
		}
		v := &g.services[s.ID]
		if s.Geofenced {
			v.Flags |= svcFGeofenced
		}
		for _, cc := range s.Countries {
			id, err := srctable.CountryID(cc)
			if err != nil {
				return nil, fmt.Errorf("service %q: %w", s.Name, err)
			}
			v.Countries[id/64%countryWords] |= 1 << (id % 64)
		}
		for _, proto := range s.Protocols {
			for _, port := range s.Ports {
				i := portIndex(proto, port)
				if len(s.Destinations) == 0 {
					g.ports[i] = g.ports[i]&^portSvcMask | uint32(s.ID)
					continue
				}
				g.ports[i] |= portFDstLimited
				for _, dst := range s.Destinations {
					g.dests[destKey(proto, port, dst)] = uint32(s.ID)
				}
			}
		}
	}
	if len(g.dests) > maxDests {
		return nil, fmt.Errorf("%d destination entries (protocols x ports x destinations), the datapath holds %d: %w", len(g.dests), maxDests, ErrTooManyDestinations)
	}
	return g, nil
}

// writeGeneration writes g as generation gen of the service tables,
// replacing whatever that generation held. No packet reads gen meanwhile;
// an error leaves it half-written, which the next write clears.
func (d *Datapath) writeGeneration(gen uint32, g *serviceTables) error {
	if _, err := d.objs.Services.BatchUpdate(seq(gen*maxServices, maxServices), g.services, nil); err != nil {
		return fmt.Errorf("write services: %w", err)
	}
	if _, err := d.objs.Ports.BatchUpdate(seq(gen*portEntries, portEntries), g.ports, nil); err != nil {
		return fmt.Errorf("write ports: %w", err)
	}
	// Clear the generation's destinations first: each generation has
	// room for maxDests, whatever the other one holds.
	var stale []enforcerDestKey
	var k enforcerDestKey
	var v uint32
	it := d.objs.Dests.Iterate()
	for it.Next(&k, &v) {
		if uint32(k.Gen) == gen {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read destinations: %w", err)
	}
	for _, k := range stale {
		if err := d.objs.Dests.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove destination: %w", err)
		}
	}
	for k, v := range g.dests {
		k.Gen = uint8(gen)
		if err := d.objs.Dests.Update(k, v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write destination %v: %w", k, err)
		}
	}
	return nil
}

func portIndex(proto policy.Proto, port uint16) uint32 {
	if proto == policy.UDP {
		return 1<<16 | uint32(port)
	}
	return uint32(port)
}

// destKey encodes a destination prefix as struct dest_key: IPv4 as
// IPv4-mapped IPv6, the prefix length counting the 32 bits of protocol,
// padding and port in front of the address.
func destKey(proto policy.Proto, port uint16, p netip.Prefix) enforcerDestKey {
	p = policy.Normalize(p)
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	return enforcerDestKey{
		Prefixlen: uint32(32 + bits),
		Proto:     uint8(proto),
		Port:      port<<8 | port>>8, // network byte order in a little-endian field
		Addr:      netip.AddrFrom16(p.Addr().As16()).As16(),
	}
}

// seq is the n keys from first on.
func seq(first uint32, n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = first + uint32(i)
	}
	return s
}
