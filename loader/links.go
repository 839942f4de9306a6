package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// PinnedLink is one XDP link pinned under a pin directory, as found there:
// whatever configuration or mode pinned it.
type PinnedLink struct {
	// Pin is the pin's path.
	Pin string
	// Interface is the interface name the pin was made for.
	Interface string
	// Netns is the inode of the network namespace the pin was made in.
	Netns uint64
	// OtherNetns is set when Netns is not the caller's: Ifindex and Mode
	// cannot be looked up from here.
	OtherNetns bool
	// Ifindex is the interface the link is attached to; 0 when the
	// interface is gone (the link is severed and guards nothing).
	Ifindex int
	// Mode is the XDP mode the kernel reports for the interface: native
	// or generic; "" when unknown.
	Mode string
	// ProgramID is the program the link runs; 0 when it cannot be read.
	ProgramID uint32
	// Error is why the pin could not be read; the other fields but Pin,
	// Interface and Netns are then empty.
	Error string
}

// PinnedLinks lists the XDP links pinned under pinDir (link_<ifname>@<netns
// inode>), in name order, reading them only. A missing directory has none.
func PinnedLinks(pinDir string) ([]PinnedLink, error) {
	entries, err := os.ReadDir(pinDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", pinDir, err)
	}
	var self unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return nil, fmt.Errorf("identify network namespace: %w", err)
	}
	var out []PinnedLink
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), "link_")
		if !ok {
			continue
		}
		pl := PinnedLink{Pin: filepath.Join(pinDir, e.Name()), Interface: name}
		if i := strings.LastIndexByte(name, '@'); i >= 0 {
			if ino, err := strconv.ParseUint(name[i+1:], 10, 64); err == nil {
				pl.Interface, pl.Netns = name[:i], ino
			}
		}
		pl.OtherNetns = pl.Netns != self.Ino
		readPinnedLink(&pl)
		out = append(out, pl)
	}
	return out, nil
}

func readPinnedLink(pl *PinnedLink) {
	l, err := link.LoadPinnedLink(pl.Pin, nil)
	if err != nil {
		pl.Error = err.Error()
		return
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		pl.Error = err.Error()
		return
	}
	pl.ProgramID = uint32(info.Program)
	if x := info.XDP(); x != nil {
		pl.Ifindex = int(x.Ifindex)
	}
	if pl.OtherNetns || pl.Ifindex == 0 {
		return
	}
	if nl, err := netlink.LinkByIndex(pl.Ifindex); err == nil && nl.Attrs().Xdp != nil {
		switch nl.Attrs().Xdp.AttachMode {
		case xdpAttachedDrv:
			pl.Mode = ModeNative.String()
		case xdpAttachedSkb:
			pl.Mode = ModeGeneric.String()
		}
	}
}
