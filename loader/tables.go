package loader

import (
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
	portEntries     = 2 * 65536
	maxServices     = 64
	countryWords    = 11
)

// Apply programs p into the datapath: the services first, then a freshly
// compiled source table switched in atomically.
func (d *Datapath) Apply(p *policy.Policy) error {
	if err := policy.Validate(p); err != nil {
		return err
	}
	t, err := Compile(p)
	if err != nil {
		return err
	}
	// A service's allowlist lives in the source table: switch the table in
	// before a new service's port goes live, so it never starts closed to
	// its allowlisted sources.
	if err := d.SwapSources(t); err != nil {
		return err
	}
	return d.SetServices(p.Services)
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

// SwapSources writes t into a new map and switches the datapath to it with
// one update: a packet sees the old table or the new one, never a mix, and
// the old table is freed once no packet uses it.
func (d *Datapath) SwapSources(t *srctable.Table) error {
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

// SetServices programs the protected services: which protocol and port
// (and destination) belongs to which service, and each service's country
// set. Entries of services no longer present are removed.
func (d *Datapath) SetServices(svcs []policy.Service) error {
	vals := make([]enforcerService, maxServices)
	ports := make([]uint32, portEntries)
	dests := map[enforcerDestKey]uint32{}
	for _, s := range svcs {
		if s.ID == 0 || s.ID >= maxServices {
			return fmt.Errorf("service %q: id %d out of range 1..%d", s.Name, s.ID, maxServices-1)
		}
		v := &vals[s.ID]
		if s.Geofenced {
			v.Flags |= svcFGeofenced
		}
		for _, cc := range s.Countries {
			id, err := srctable.CountryID(cc)
			if err != nil {
				return fmt.Errorf("service %q: %w", s.Name, err)
			}
			v.Countries[id/64%countryWords] |= 1 << (id % 64)
		}
		for _, proto := range s.Protocols {
			for _, port := range s.Ports {
				i := portIndex(proto, port)
				if len(s.Destinations) == 0 {
					ports[i] = ports[i]&^portSvcMask | uint32(s.ID)
					continue
				}
				ports[i] |= portFDstLimited
				for _, dst := range s.Destinations {
					dests[destKey(proto, port, dst)] = uint32(s.ID)
				}
			}
		}
	}
	// Services before ports, so a port never points at a service that is
	// not yet set up.
	if _, err := d.objs.Services.BatchUpdate(seq(maxServices), vals, nil); err != nil {
		return fmt.Errorf("write services: %w", err)
	}
	for k, v := range dests {
		if err := d.objs.Dests.Update(k, v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write destination %v: %w", k, err)
		}
	}
	if _, err := d.objs.Ports.BatchUpdate(seq(portEntries), ports, nil); err != nil {
		return fmt.Errorf("write ports: %w", err)
	}
	var stale []enforcerDestKey
	var k enforcerDestKey
	var v uint32
	it := d.objs.Dests.Iterate()
	for it.Next(&k, &v) {
		if _, keep := dests[k]; !keep {
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

func seq(n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32(i)
	}
	return s
}
