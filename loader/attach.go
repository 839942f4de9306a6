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

func linkPin(pinDir, iface string) string { return filepath.Join(pinDir, "link_"+iface) }

// Attach attaches the program to iface through a pinned XDP link, or, if a
// link is already pinned there, replaces that link's program atomically so
// the interface is never left unguarded. It returns the mode in effect.
func (d *Datapath) Attach(iface string, mode Mode) (Mode, error) {
	if d.pinDir == "" {
		return 0, errors.New("attach: the datapath was loaded without a pin directory")
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return 0, fmt.Errorf("attach xdp to %s: %w", iface, err)
	}
	pin := linkPin(d.pinDir, iface)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		if err := l.Update(d.objs.EnforcerXdp); err != nil {
			return 0, fmt.Errorf("replace xdp program on %s: %w", iface, err)
		}
		return attachedMode(ifc.Index)
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
		return attachedMode(ifc.Index)
	}
	return 0, fmt.Errorf("attach xdp to %s: %w", iface, errors.Join(errs...))
}

// attachedMode asks the kernel how the interface's XDP program is attached.
func attachedMode(ifindex int) (Mode, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, fmt.Errorf("query xdp mode: %w", err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return 0, fmt.Errorf("query xdp mode: no program attached to %s", l.Attrs().Name)
	}
	if x.AttachMode == 2 { // XDP_ATTACHED_SKB
		return ModeGeneric, nil
	}
	return ModeNative, nil
}

// Detach removes enforcer's XDP link from iface. It is not an error if
// there is none.
func Detach(pinDir, iface string) error {
	pin := linkPin(pinDir, iface)
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
		if name, ok := strings.CutPrefix(e.Name(), "link_"); ok {
			if err := Detach(pinDir, name); err != nil {
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
