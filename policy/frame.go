package policy

import (
	"encoding/binary"
	"net/netip"
)

// Header constants the parser needs (IEEE 802.1Q, RFC 791, RFC 8200).
const (
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86dd
	etherType8021Q  = 0x8100
	etherType8021AD = 0x88a8

	protoHopOpts  = 0
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoDstOpts  = 60

	// MaxExtHeaders is how many IPv6 extension headers the datapath follows.
	MaxExtHeaders = 8
)

// parseResult mirrors enum parse_result in bpf/enforcer.c.
type parseResult uint8

const (
	parsePass parseResult = iota
	parsePorts
	parseLater
	parseTiny
	parseMalformed
)

// Flow is what the verdict needs from a packet.
type Flow struct {
	Src, Dst netip.Addr
	Proto    Proto
	DstPort  uint16
	first    bool // first fragment: only the ports need be present
	l4ok     bool // the full TCP/UDP header is present and sane
}

// parseFrame follows bpf/enforcer.c's parse() step for step; any change
// there must be made here too (the fuzz test holds them together).
func parseFrame(b []byte) (parseResult, Flow) {
	var f Flow
	if len(b) < 14 {
		return parsePass, f
	}
	et := binary.BigEndian.Uint16(b[12:])
	off := 14
	for i := 0; i < 2; i++ {
		if et != etherType8021Q && et != etherType8021AD {
			break
		}
		if len(b) < off+4 {
			return parsePass, f
		}
		et = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	if et == etherType8021Q || et == etherType8021AD {
		// More tags than the datapath parses: the kernel would strip
		// priority tags and deliver what is inside.
		return parseMalformed, f
	}
	switch et {
	case etherTypeIPv4:
		return parseIPv4(b[off:], &f)
	case etherTypeIPv6:
		return parseIPv6(b[off:], &f)
	}
	return parsePass, f
}

func parseIPv4(b []byte, f *Flow) (parseResult, Flow) {
	if len(b) < 20 {
		return parseMalformed, *f
	}
	hlen := int(b[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(b[2:]))
	if b[0]>>4 != 4 || hlen < 20 || tot < hlen || tot > len(b) {
		return parseMalformed, *f
	}
	proto := Proto(b[9])
	if proto != TCP && proto != UDP {
		return parsePass, *f
	}
	frag := binary.BigEndian.Uint16(b[6:])
	if frag&0x1fff != 0 {
		return parseLater, *f
	}
	f.first = frag&0x2000 != 0
	f.Proto = proto
	f.Src = netip.AddrFrom4([4]byte(b[12:16]))
	f.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	return parseL4(b[hlen:tot], f)
}

func parseIPv6(b []byte, f *Flow) (parseResult, Flow) {
	if len(b) < 40 {
		return parseMalformed, *f
	}
	rem := int(binary.BigEndian.Uint16(b[4:]))
	if b[0]>>4 != 6 || rem > len(b)-40 {
		return parseMalformed, *f
	}
	if rem == 0 { // jumbogram (RFC 2675): the frame is the bound
		rem = len(b) - 40
	}
	f.Src = netip.AddrFrom16([16]byte(b[8:24]))
	f.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	next := b[6]
	h := b[40 : 40+rem]
	short := func() (parseResult, Flow) {
		if f.first {
			return parseTiny, *f
		}
		return parseMalformed, *f
	}
	for i := 0; i < MaxExtHeaders; i++ {
		var hl int
		switch next {
		case byte(TCP), byte(UDP):
			f.Proto = Proto(next)
			return parseL4(h, f)
		case protoHopOpts, protoRouting, protoDstOpts, protoAH:
			if len(h) < 2 {
				return short()
			}
			if next == protoAH {
				hl = (int(h[1]) + 2) * 4
			} else {
				hl = (int(h[1]) + 1) * 8
			}
		case protoFragment:
			if len(h) < 8 {
				return short()
			}
			if binary.BigEndian.Uint16(h[2:])&0xfff8 != 0 {
				return parseLater, *f
			}
			f.first = h[3]&1 == 1
			hl = 8
		default:
			return parsePass, *f
		}
		if hl > len(h) {
			return short()
		}
		next = h[0]
		h = h[hl:]
	}
	switch next {
	case byte(TCP), byte(UDP):
		f.Proto = Proto(next)
		return parseL4(h, f)
	case protoHopOpts, protoRouting, protoDstOpts, protoAH, protoFragment:
		return parseMalformed, *f // chain longer than the datapath follows
	}
	return parsePass, *f
}

func parseL4(b []byte, f *Flow) (parseResult, Flow) {
	if len(b) < 4 {
		if f.first {
			return parseTiny, *f
		}
		return parseMalformed, *f
	}
	f.DstPort = binary.BigEndian.Uint16(b[2:])
	switch {
	case f.first:
		f.l4ok = true
	case f.Proto == TCP:
		if len(b) >= 20 {
			doff := int(b[12]>>4) * 4
			f.l4ok = doff >= 20 && doff <= len(b)
		}
	default:
		f.l4ok = len(b) >= 8
	}
	return parsePorts, *f
}
