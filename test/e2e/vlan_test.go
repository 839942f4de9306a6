package e2e_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/frames"
)

// TestStackedVLANTags sends datagrams to the protected udp/443 behind
// priority tags (VID 0), which the kernel strips one by one before it
// delivers what is inside (__netif_receive_skb_core). Without the datapath
// a datagram behind three tags reaches the server: the test shows the
// kernel does so. With the datapath, two tags are parsed and judged like an
// untagged packet, and a frame with a third tag is dropped as malformed, as
// the program cannot see the packet behind it.
func TestStackedVLANTags(t *testing.T) {
	for _, mode := range []loader.Mode{loader.ModeNative, loader.ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			l := mustLab(t)
			d := mustLoad(t, mustPinDir(t))
			if err := d.Apply(labPolicy()); err != nil {
				t.Fatalf("apply policy: %v", err)
			}
			send := l.mustRawSender(t)
			f := families[0] // IPv4: the frames' UDP checksum is 0, which only IPv4 allows
			allowed, other := sourceNamed(t, "allowed-country"), sourceNamed(t, "other-country")
			tagged := func(src source, tags int) []byte {
				p := frames.Packet{Src: src.addr(f), Dst: f.server, Proto: 17, SrcPort: 40000, DstPort: udpProtected,
					Payload: []byte(strings.Repeat("x", udpPayload))}
				for range tags {
					p.VLANs, p.TCIs = append(p.VLANs, 0x8100), append(p.TCIs, 0)
				}
				return p.Build()
			}
			arrived := func(src source, since map[netip.Addr]int, n int) func() error {
				return func() error {
					if got := l.udp.received.snapshot()[src.addr(f)] - since[src.addr(f)]; got != n {
						return fmt.Errorf("%d of %d datagrams from %s arrived", got, n, src.name)
					}
					return nil
				}
			}

			// Without the datapath: the kernel delivers the datagram behind
			// three priority tags, so a third tag the program passed
			// untouched would be a way around it.
			before := l.udp.received.snapshot()
			send(t, tagged(other, 3))
			waitFor(t, "the kernel delivers a datagram behind three priority tags", arrived(other, before, 1))

			if _, err := l.attach(d, mode); err != nil {
				t.Fatalf("attach in %s mode: %v", mode, err)
			}
			before, beforeC := l.udp.received.snapshot(), readCounters(t, d)
			three, twoOther, twoAllowed := tagged(other, 3), tagged(other, 2), tagged(allowed, 2)
			send(t, three)
			send(t, twoOther)
			send(t, twoAllowed)
			waitFor(t, "the allowed datagram behind two priority tags arrives", arrived(allowed, before, 1))
			// Checked again below, once the drops are counted.
			if n := l.udp.received.snapshot()[other.addr(f)] - before[other.addr(f)]; n != 0 {
				t.Errorf("%d datagrams from %s reached the server behind two or three tags, want none", n, other.name)
			}
			want := loader.Counters{
				Verdicts: map[loader.CounterKey]loader.Count{
					{Service: 0, Action: policy.Drop, Reason: policy.ReasonMalformed}:         {Packets: 1, Bytes: uint64(len(three))},
					{Service: udpService, Action: policy.Drop, Reason: policy.ReasonNotInSet}: {Packets: 1, Bytes: uint64(len(twoOther))},
					{Service: udpService, Action: policy.Pass, Reason: policy.ReasonCountry}:  {Packets: 1, Bytes: uint64(len(twoAllowed))},
				},
				CountryDrops: map[string]loader.Count{other.country: {Packets: 1, Bytes: uint64(len(twoOther))}},
			}
			got := waitCounted(t, d, beforeC, want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
			if n := l.udp.received.snapshot()[other.addr(f)] - before[other.addr(f)]; n != 0 {
				t.Errorf("%d datagrams from %s reached the server behind two or three tags, want none", n, other.name)
			}
		})
	}
}

// mustRawSender opens a packet socket on the client's interface; the
// function it returns sends one frame, its MAC addresses set to the
// client's and the server's.
func (l *lab) mustRawSender(t *testing.T) func(*testing.T, []byte) {
	t.Helper()
	cli, err := l.client.Netlink().LinkByName(clientIface)
	if err != nil {
		t.Fatalf("query %s: %v", clientIface, err)
	}
	srv, err := l.server.Netlink().LinkByName(serverIface)
	if err != nil {
		t.Fatalf("query %s: %v", serverIface, err)
	}
	var fd int
	if err := l.client.Do(func() (err error) {
		// Protocol 0: the socket sends and receives nothing.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatalf("open packet socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	to := &unix.SockaddrLinklayer{Ifindex: cli.Attrs().Index, Halen: 6}
	copy(to.Addr[:], srv.Attrs().HardwareAddr)
	return func(t *testing.T, frame []byte) {
		t.Helper()
		frame = append([]byte{}, frame...)
		copy(frame[0:6], srv.Attrs().HardwareAddr)
		copy(frame[6:12], cli.Attrs().HardwareAddr)
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			t.Fatalf("send %d-byte frame on %s: %v", len(frame), clientIface, err)
		}
	}
}
