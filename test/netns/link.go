package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MustVeth creates a veth pair, aName in a and its peer bName in b, and sets
// both ends up. The pair is deleted when tb ends.
func MustVeth(tb testing.TB, a *NS, aName string, b *NS, bName string) {
	tb.Helper()
	if err := Veth(a, aName, b, bName); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Deleting one end deletes its peer.
		if err := a.DeleteLink(aName); err != nil {
			tb.Errorf("delete veth: %v", err)
		}
	})
}

// Veth creates a veth pair, aName in a and bName in b, both up.
func Veth(a *NS, aName string, b *NS, bName string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = aName
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: bName, PeerNamespace: netlink.NsFd(b.handle)}
	if err := a.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s@%s <-> %s@%s: %w", aName, a.name, bName, b.name, err)
	}
	for _, end := range []struct {
		ns   *NS
		name string
	}{{a, aName}, {b, bName}} {
		if err := end.ns.SetUp(end.name); err != nil {
			return errors.Join(err, a.DeleteLink(aName))
		}
	}
	return nil
}

// SetUp sets the device iface up.
func (ns *NS) SetUp(iface string) error {
	l, err := ns.nl.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", iface, ns.name, err)
	}
	if err := ns.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up in %s: %w", iface, ns.name, err)
	}
	return nil
}

// DeleteLink deletes the device iface; it is not an error if there is none.
func (ns *NS) DeleteLink(iface string) error {
	l, err := ns.nl.LinkByName(iface)
	if _, missing := errors.AsType[netlink.LinkNotFoundError](err); missing {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", iface, ns.name, err)
	}
	if err := ns.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s in %s: %w", iface, ns.name, err)
	}
	return nil
}

// MustAddr adds addresses (address and prefix length, e.g. 192.0.2.1/24)
// to iface. IPv6 addresses skip duplicate address detection (nodad), so
// they are usable at once. They go away with the device or the namespace.
func (ns *NS) MustAddr(tb testing.TB, iface string, addrs ...netip.Prefix) {
	tb.Helper()
	if err := ns.Addr(iface, addrs...); err != nil {
		tb.Fatal(err)
	}
}

// Addr adds addresses to iface, as MustAddr.
func (ns *NS) Addr(iface string, addrs ...netip.Prefix) error {
	l, err := ns.nl.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", iface, ns.name, err)
	}
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := ns.nl.AddrAdd(l, a); err != nil {
			return fmt.Errorf("add %v to %s in %s: %w", p, iface, ns.name, err)
		}
	}
	return nil
}

// MustRoute adds a route to dst through the gateway gw (which an address
// on a device must already reach). Routes go away with the namespace.
func (ns *NS) MustRoute(tb testing.TB, dst netip.Prefix, gw netip.Addr) {
	tb.Helper()
	if err := ns.Route(dst, gw); err != nil {
		tb.Fatal(err)
	}
}

// Route adds a route to dst through gw.
func (ns *NS) Route(dst netip.Prefix, gw netip.Addr) error {
	r := &netlink.Route{Dst: ipNet(dst.Masked()), Gw: gw.AsSlice()}
	if err := ns.nl.RouteAdd(r); err != nil {
		return fmt.Errorf("add route %v via %v in %s: %w", dst, gw, ns.name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
