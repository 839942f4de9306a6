// Package frames crafts Ethernet frames for datapath tests: VLAN tags, IPv4
// with options and fragments, IPv6 with extension headers, TCP and UDP.
//
// It is for tests only and knows packet formats, not the policy.
package frames

import (
	"encoding/binary"
	"net/netip"
)

// Ext is an IPv6 extension header to insert.
type Ext struct {
	Proto   uint8 // 0 hop-by-hop, 43 routing, 44 fragment, 51 AH, 60 destination options
	Len     int   // total length in bytes (multiple of 8; AH multiple of 4); 0 = minimum
	FragOff uint16
	More    bool // fragment header M flag
}

// Packet describes one frame.
type Packet struct {
	VLANs []uint16 // outer first: 0x8100 or 0x88a8 ethertypes
	// TCIs are the tags' TCI fields, parallel to VLANs; a tag without one
	// is VLAN 100. TCI 0 is a priority tag (IEEE 802.1Q sec. 9.6).
	TCIs      []uint16
	Src, Dst  netip.Addr
	Proto     uint8 // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...
	SrcPort   uint16
	DstPort   uint16
	IPOptions int // IPv4 option bytes (multiple of 4, at most 40)
	Exts      []Ext
	FragOff   uint16 // IPv4 fragment offset in 8-byte units
	More      bool   // IPv4 MF flag
	Payload   []byte
	// L4Len overrides the L4 header length written (to craft truncated
	// headers); 0 means the full header.
	L4Len int
	// TCPDataOff overrides the TCP data offset in 32-bit words.
	TCPDataOff uint8
}

// Build serialises the frame.
func (p Packet) Build() []byte {
	l4 := p.l4()
	var ip []byte
	if p.Src.Is4() {
		ip = p.ipv4(len(l4))
	} else {
		ip = p.ipv6(len(l4))
	}
	b := make([]byte, 12, 14+4*len(p.VLANs)+len(ip)+len(l4))
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 1})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 2})
	for i, v := range p.VLANs {
		tci := uint16(100)
		if i < len(p.TCIs) {
			tci = p.TCIs[i]
		}
		b = binary.BigEndian.AppendUint16(b, v)
		b = binary.BigEndian.AppendUint16(b, tci)
	}
	et := uint16(0x0800)
	if p.Src.Is6() {
		et = 0x86dd
	}
	b = binary.BigEndian.AppendUint16(b, et)
	b = append(b, ip...)
	return append(b, l4...)
}

func (p Packet) l4() []byte {
	var h []byte
	switch p.Proto {
	case 6:
		h = make([]byte, 20)
		off := p.TCPDataOff
		if off == 0 {
			off = 5
		}
		h[12] = off << 4
		h[13] = 0x02 // SYN
	case 17:
		h = make([]byte, 8)
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(p.Payload)))
	default:
		h = make([]byte, 8) // ICMP echo-ish
		h[0] = 8
		return append(h, p.Payload...)
	}
	binary.BigEndian.PutUint16(h[0:], p.SrcPort)
	binary.BigEndian.PutUint16(h[2:], p.DstPort)
	if p.L4Len != 0 {
		return h[:p.L4Len]
	}
	return append(h, p.Payload...)
}

func (p Packet) ipv4(l4len int) []byte {
	hl := 20 + p.IPOptions
	h := make([]byte, hl)
	h[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(h[2:], uint16(hl+l4len))
	frag := p.FragOff & 0x1fff
	if p.More {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8] = 64
	h[9] = p.Proto
	for i := 20; i < hl; i++ {
		h[i] = 1 // NOP options
	}
	s, d := p.Src.As4(), p.Dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], checksum(h))
	return h
}

func (p Packet) ipv6(l4len int) []byte {
	var ext []byte
	next := p.Proto
	for i := len(p.Exts) - 1; i >= 0; i-- {
		e := p.Exts[i]
		var h []byte
		switch e.Proto {
		case 44:
			h = make([]byte, 8)
			fo := e.FragOff << 3
			if e.More {
				fo |= 1
			}
			binary.BigEndian.PutUint16(h[2:], fo)
		case 51:
			n := max(e.Len, 12)
			h = make([]byte, n)
			h[1] = byte(n/4 - 2)
		default:
			n := max(e.Len, 8)
			h = make([]byte, n)
			h[1] = byte(n/8 - 1)
		}
		h[0] = next
		next = e.Proto
		ext = append(h, ext...)
	}
	h := make([]byte, 40, 40+len(ext))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(ext)+l4len))
	h[6] = next
	h[7] = 64
	s, d := p.Src.As16(), p.Dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, ext...)
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ARP returns an ARP request frame.
func ARP() []byte {
	b := make([]byte, 42)
	for i := 0; i < 6; i++ {
		b[i] = 0xff
	}
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(b[12:], 0x0806)
	copy(b[14:], []byte{0, 1, 8, 0, 6, 4, 0, 1})
	return b
}
