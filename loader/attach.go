package loader

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Mode is how an XDP program is attached.
type Mode int

// Attach modes. ModeAuto tries native (driver) mode and falls back to
// generic mode where the driver has no XDP support.
const (
	ModeAuto Mode = iota
	ModeNative
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return "auto"
}

// ParseMode parses "auto", "native" or "generic".
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeAuto, ModeNative, ModeGeneric} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("xdp mode %q: want auto, native or generic", s)
}

// linkPin names the pinned link of iface in the calling thread's network
// namespace: interface names repeat across namespaces, so the namespace's
// inode is part of the name.
func linkPin(pinDir, iface string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return "", fmt.Errorf("identify network namespace: %w", err)
	}
	return filepath.Join(pinDir, fmt.Sprintf("link_%s@%d", iface, st.Ino)), nil
}

// Attach attaches the program to iface through a pinned XDP link, or, if a
// link is already pinned there, replaces that link's program atomically so
// the interface is never left unguarded. Asking for another mode than the
// pinned link's is refused with ErrModeMismatch: the kernel does not hold a
// native and a generic program at once, so a switch would leave the
// interface unguarded for a moment; the operator detaches first. It returns
// the mode in effect.
func (d *Datapath) Attach(iface string, mode Mode) (Mode, error) {
	if d.pinDir == "" {
		return 0, errors.New("attach: the datapath was loaded without a pin directory")
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return 0, fmt.Errorf("attach xdp to %s: %w", iface, err)
	}
	pin, err := linkPin(d.pinDir, iface)
	if err != nil {
		return 0, err
	}
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		cur, live := pinnedMode(l, ifc.Index)
		switch {
		case !live:
			// The interface went away and came back: the pinned link is
			// severed and can never be updated. Start afresh.
			if err := l.Unpin(); err != nil {
				return 0, fmt.Errorf("remove severed link %s: %w", pin, err)
			}
		case mode == ModeAuto || mode == cur:
			if err := l.Update(d.objs.EnforcerXdp); err != nil {
				return 0, fmt.Errorf("replace xdp program on %s: %w", iface, err)
			}
			return cur, d.afterAttach()
		default:
			return cur, fmt.Errorf("%w: xdp on %s is attached in %s mode, %s was asked for; detach first (enforcement stops until re-attached)", ErrModeMismatch, iface, cur, mode)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("open pinned link %s: %w", pin, err)
	}

	try := []Mode{mode}
	if mode == ModeAuto {
		try = []Mode{ModeNative, ModeGeneric}
	}
	var errs []error
	for _, m := range try {
		flags := link.XDPDriverMode
		if m == ModeGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: d.objs.EnforcerXdp, Interface: ifc.Index, Flags: flags})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
			continue
		}
		defer l.Close()
		if err := l.Pin(pin); err != nil {
			return 0, fmt.Errorf("pin xdp link for %s: %w", iface, err)
		}
		return m, d.afterAttach()
	}
	return 0, fmt.Errorf("attach xdp to %s: %w", iface, errors.Join(errs...))
}

// afterAttach finishes an upgrade once the new program is in place.
func (d *Datapath) afterAttach() error {
	if d.repin {
		return d.pinMaps()
	}
	return nil
}

// ErrModeMismatch means an interface already has enforcer's program in
// another XDP mode than the one asked for.
var ErrModeMismatch = errors.New("xdp mode mismatch")

// pinnedMode reports the mode of a pinned XDP link and whether it is still
// attached to the interface with index ifindex.
func pinnedMode(l link.Link, ifindex int) (Mode, bool) {
	info, err := l.Info()
	if err != nil {
		return 0, false
	}
	x := info.XDP()
	if x == nil || int(x.Ifindex) != ifindex {
		return 0, false
	}
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil || nl.Attrs().Xdp == nil {
		return 0, false
	}
	xa := nl.Attrs().Xdp
	switch {
	case xa.AttachMode == xdpAttachedSkb:
		return ModeGeneric, true
	case xa.AttachMode == xdpAttachedDrv:
		return ModeNative, true
	case xa.AttachMode == xdpAttachedMulti:
		// A native and a generic program at once (someone else's beside
		// ours): the kernel does not say which one is ours.
		return ModeAuto, true
	}
	return 0, false
}

// Attach modes as the kernel reports them (IFLA_XDP_ATTACHED).
const (
	xdpAttachedDrv   = 1
	xdpAttachedSkb   = 2
	xdpAttachedMulti = 4
)

// Detach removes enforcer's XDP link from iface. It is not an error if
// there is none.
func Detach(pinDir, iface string) error {
	pin, err := linkPin(pinDir, iface)
	if err != nil {
		return err
	}
	return detachPin(pin)
}

func detachPin(pin string) error {
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open pinned link %s: %w", pin, err)
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpin %s: %w", pin, err)
	}
	return nil
}

// Remove detaches every pinned link under pinDir and deletes the pinned
// maps and the directory: enforcement stops and nothing is left behind.
func Remove(pinDir string) error {
	entries, err := os.ReadDir(pinDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", pinDir, err)
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "link_") {
			if err := detachPin(filepath.Join(pinDir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(pinDir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(pinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
