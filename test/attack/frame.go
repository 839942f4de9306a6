package main

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Frame sizes on the wire (without FCS). IPv4 frames are padded to the
// Ethernet minimum of 60 bytes, as a NIC pads them; IPv6 frames need no
// padding. TCP SYNs and UDP datagrams of one family have one length.
const (
	frameLen4  = 60
	frameLen6  = 74
	udpPayload = 12 // bytes of UDP payload in an IPv6 frame (74 - 14 - 40 - 8)
)

// frameSpec is one attack packet.
type frameSpec struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.Addr
	proto          uint8 // 6 (TCP SYN) or 17 (UDP)
	srcPort        uint16
	dstPort        uint16
	seq            uint32 // TCP initial sequence number
}

// build serialises the frame with valid IP, TCP and UDP checksums, so a
// stack without a filter does the full work of a real flood (a bad checksum
// would be dropped early and cheaply).
func (f frameSpec) build() []byte {
	var l4 []byte
	switch f.proto {
	case 6:
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint32(l4[4:], f.seq)
		l4[12] = 5 << 4
		l4[13] = 0x02                              // SYN
		binary.BigEndian.PutUint16(l4[14:], 64240) // window
	case 17:
		n := udpPayload
		if f.src.Is4() {
			n = frameLen4 - 14 - 20 - 8
		}
		l4 = make([]byte, 8+n)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		for i := range n {
			l4[8+i] = byte('a' + i%26)
		}
	default:
		panic("frameSpec: protocol must be 6 or 17")
	}
	binary.BigEndian.PutUint16(l4[0:], f.srcPort)
	binary.BigEndian.PutUint16(l4[2:], f.dstPort)

	b := make([]byte, 14, 128)
	copy(b[0:6], f.dstMAC)
	copy(b[6:12], f.srcMAC)
	var pseudo []byte
	if f.src.Is4() {
		binary.BigEndian.PutUint16(b[12:], 0x0800)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
		ip[8] = 64
		ip[9] = f.proto
		s, d := f.src.As4(), f.dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], checksum(0, ip))
		b = append(b, ip...)
		pseudo = append(append(append([]byte{}, s[:]...), d[:]...), 0, f.proto, 0, 0)
		binary.BigEndian.PutUint16(pseudo[10:], uint16(len(l4)))
	} else {
		binary.BigEndian.PutUint16(b[12:], 0x86dd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = f.proto
		ip[7] = 64
		s, d := f.src.As16(), f.dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		b = append(b, ip...)
		pseudo = append(append(append([]byte{}, s[:]...), d[:]...), 0, 0, 0, 0, 0, 0, 0, f.proto)
		binary.BigEndian.PutUint32(pseudo[32:], uint32(len(l4)))
	}
	csumOff := 16 // TCP
	if f.proto == 17 {
		csumOff = 6
	}
	c := checksum(sum(0, pseudo), l4)
	if f.proto == 17 && c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(l4[csumOff:], c)
	b = append(b, l4...)
	if f.src.Is4() {
		for len(b) < frameLen4 {
			b = append(b, 0) // Ethernet padding, beyond the IP total length
		}
	}
	return b
}

// sum adds b to the one's-complement running sum s (RFC 1071).
func sum(s uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

// checksum folds the running sum s plus b into an Internet checksum.
func checksum(s uint32, b []byte) uint16 {
	s = sum(s, b)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
