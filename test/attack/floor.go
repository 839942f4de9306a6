package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// The floor is not a way to enforce the policy: it is the least an XDP
// program can do here, to tell the veth's own per-frame cost from the
// enforcer's. It drops every IPv4 and IPv6 packet except the lab's own
// (198.18.0.0/15, 2001:2::/48 and the client's allowed-country address),
// counting drops in a per-CPU counter as enforcer does, and parses nothing
// past the source address.
type floor struct {
	prog  *ebpf.Program
	count *ebpf.Map
	link  link.Link
}

func newFloor(geoClient netip.Addr) (*floor, error) {
	count, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "floor_drops", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create floor counter: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "attack_floor", Type: ebpf.XDP, License: "GPL",
		Instructions: floorProgram(count.FD(), geoClient),
	})
	if err != nil {
		count.Close()
		return nil, fmt.Errorf("load floor program: %+v", err)
	}
	return &floor{prog: prog, count: count}, nil
}

// floorProgram compares raw header words as the CPU loads them (little
// endian), so constants are byte-swapped network-order values.
func floorProgram(countFD int, geo netip.Addr) asm.Instructions {
	le32 := func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) }
	g := geo.As4()
	const (
		pass = 2 // XDP_PASS
		drop = 1 // XDP_DROP
	)
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+40),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"), // shorter than Ethernet + IPv6: not ours to judge
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JEq.Imm(asm.R5, 0x0008, "v4"),
		asm.JEq.Imm(asm.R5, 0xdd86, "v6"), // 0x86dd, loaded little endian
		asm.Ja.Label("pass"),

		asm.LoadMem(asm.R5, asm.R2, 14+12, asm.Word).WithSymbol("v4"), // saddr
		asm.JEq.Imm(asm.R5, le32(g[:]), "pass"),
		asm.Mov.Reg(asm.R6, asm.R5),
		asm.And.Imm(asm.R6, 0xfeff), // first 15 bits
		asm.JEq.Imm(asm.R6, le32([]byte{198, 18, 0, 0}), "pass"),
		asm.Ja.Label("drop"),

		asm.LoadMem(asm.R5, asm.R2, 14+8, asm.Word).WithSymbol("v6"), // saddr's first 32 bits
		asm.JNE.Imm(asm.R5, le32([]byte{0x20, 0x01, 0x00, 0x02}), "drop"),
		asm.LoadMem(asm.R5, asm.R2, 14+12, asm.Half),
		asm.JEq.Imm(asm.R5, 0, "pass"), // 2001:2::/48

		asm.StoreImm(asm.RFP, -4, 0, asm.Word).WithSymbol("drop"),
		asm.LoadMapPtr(asm.R1, countFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "dropped"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, drop).WithSymbol("dropped"), // not the lab's own: a flood packet
		asm.Return(),

		asm.Mov.Imm(asm.R0, pass).WithSymbol("pass"),
		asm.Return(),
	}
}

// attach attaches the floor natively to iface; call it in iface's
// namespace.
func (f *floor) attach(iface string) error {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	f.link, err = link.AttachXDP(link.XDPOptions{Program: f.prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
	if err != nil {
		return fmt.Errorf("attach the floor program to %s: %w", iface, err)
	}
	return nil
}

func (f *floor) detach() error {
	if f.link == nil {
		return nil
	}
	err := f.link.Close()
	f.link = nil
	return err
}

// dropped sums the per-CPU drop counter.
func (f *floor) dropped() (uint64, error) {
	var per []uint64
	if err := f.count.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("read the floor counter: %w", err)
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

func (f *floor) Close() error {
	f.detach()
	f.prog.Close()
	return f.count.Close()
}
