package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/netns"
)

// method is one way of enforcing the scenario's policy on the protected
// host. Only one is in place at a time.
type method struct {
	name  string // row name part
	label string // plot legend
	// setup puts the enforcement in place; teardown removes it entirely.
	setup    func(ctx context.Context) error
	teardown func() error
	// dropped reads how many packets the enforcement has dropped so far.
	dropped func() (uint64, error)
}

// baseline is the method the ratios compare against.
const baseline = "nftables"

// methods returns the four ways (XDP counted twice: native and generic),
// nftables and iptables loading their data from files written in dir, and
// the XDP floor for reference.
func methods(l *lab, sc *scenario, dir string) []*method {
	none := &method{
		name: "none", label: "no filter",
		setup:    func(context.Context) error { return nil },
		teardown: func() error { return nil },
		dropped:  func() (uint64, error) { return 0, nil },
	}

	nft := &method{name: "nftables", label: "nftables (ingress hook, interval sets)"}
	nft.setup = func(ctx context.Context) error {
		path := filepath.Join(dir, "policy.nft")
		if err := writeFile(path, func(w *bufio.Writer) error { return sc.writeNft(w, l.proIface) }); err != nil {
			return err
		}
		return nsRunCtx(ctx, l.pro.Name(), nil, "nft", "-f", path)
	}
	nft.teardown = func() error {
		return nsRun(l.pro.Name(), "nft", "delete", "table", "netdev", nftTable)
	}
	nft.dropped = func() (uint64, error) { return nftCounter(l.pro, unix.NFPROTO_NETDEV, nftTable, "dropped") }

	ipt := &method{name: "iptables", label: "iptables raw PREROUTING + ipset"}
	ipt.setup = func(ctx context.Context) error {
		sets := filepath.Join(dir, "policy.ipset")
		if err := writeFile(sets, sc.writeIpsetTo); err != nil {
			return err
		}
		f, err := os.Open(sets)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := nsRunCtx(ctx, l.pro.Name(), f, "ipset", "restore", "-exist"); err != nil {
			return err
		}
		for _, v6 := range []bool{false, true} {
			var b bytes.Buffer
			if err := sc.writeIptables(&b, v6); err != nil {
				return err
			}
			restore := "iptables-restore"
			if v6 {
				restore = "ip6tables-restore"
			}
			if err := nsRunCtx(ctx, l.pro.Name(), &b, restore); err != nil {
				return err
			}
		}
		return nil
	}
	ipt.teardown = func() error {
		var errs []string
		for _, tool := range []string{"iptables", "ip6tables"} {
			for _, args := range [][]string{{"-t", "raw", "-F"}, {"-t", "raw", "-X"}} {
				if err := nsRun(l.pro.Name(), append([]string{tool}, args...)...); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
		for _, s := range []string{setAllow4, setAllow6, setGeo4, setGeo6} {
			if err := nsRun(l.pro.Name(), "ipset", "destroy", s); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("remove iptables rules: %s", strings.Join(errs, "; "))
		}
		return nil
	}
	ipt.dropped = func() (uint64, error) {
		var total uint64
		for _, save := range []string{"iptables-save", "ip6tables-save"} {
			out, err := nsOutput(l.pro.Name(), save, "-c", "-t", "raw")
			if err != nil {
				return 0, err
			}
			n, err := parseIptablesDrops(out, iptChain)
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	}

	// XDP: one datapath, loaded and programmed once, attached in each mode
	// in turn (the kernel refuses to switch modes under a live link).
	var d *loader.Datapath
	xdp := func(mode loader.Mode) *method {
		m := &method{name: "xdp_" + mode.String(), label: "enforcer XDP " + mode.String()}
		m.setup = func(context.Context) error {
			if d == nil {
				var err error
				if d, err = loader.Load(loader.Options{PinDir: l.pinDir}); err != nil {
					return err
				}
				l.onClose(d.Close)
				if err := d.Apply(sc.Policy); err != nil {
					return err
				}
			}
			return l.pro.Do(func() error {
				got, err := d.Attach(l.proIface, mode)
				if err == nil && got != mode {
					err = fmt.Errorf("xdp attached in %s mode, %s was asked for", got, mode)
				}
				return err
			})
		}
		m.teardown = func() error {
			return l.pro.Do(func() error { return loader.Detach(l.pinDir, l.proIface) })
		}
		m.dropped = func() (uint64, error) {
			c, err := d.Counters()
			if err != nil {
				return 0, err
			}
			var n uint64
			for k, v := range c.Verdicts {
				if k.Action == policy.Drop {
					n += v.Packets
				}
			}
			return n, nil
		}
		return m
	}
	var fl *floor
	flm := &method{name: "xdp_floor", label: "XDP floor (drop by source prefix, no policy)"}
	flm.setup = func(context.Context) error {
		if fl == nil {
			var err error
			if fl, err = newFloor(sc.GeoClient); err != nil {
				return err
			}
			l.onClose(fl.Close)
		}
		return l.pro.Do(func() error { return fl.attach(l.proIface) })
	}
	flm.teardown = func() error { return fl.detach() }
	flm.dropped = func() (uint64, error) { return fl.dropped() }
	return []*method{none, nft, ipt, xdp(loader.ModeGeneric), xdp(loader.ModeNative), flm}
}

func (sc *scenario) writeIpsetTo(w *bufio.Writer) error { return sc.writeIpset(w) }

// writeFile writes path through a buffered writer filled by fill.
func writeFile(path string, fill func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// nsRunCtx runs a command in the named namespace with stdin, killed if ctx
// ends first.
func nsRunCtx(ctx context.Context, ns string, stdin interface{ Read([]byte) (int, error) }, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %.2000s", strings.Join(args, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// nftCounter reads a named nftables counter's packet count over netlink
// (NFT_MSG_GETOBJ). `nft list counter` would do, but it loads the whole
// ruleset with every set element first: three seconds for this policy's
// sets, far too slow to bracket a measurement window.
func nftCounter(ns *netns.NS, family uint8, table, name string) (uint64, error) {
	req := nl.NewNetlinkRequest(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETOBJ, 0)
	req.AddData(&nl.Nfgenmsg{NfgenFamily: family, Version: unix.NFNETLINK_V0})
	req.AddData(nl.NewRtAttr(unix.NFTA_OBJ_TABLE, nl.ZeroTerminated(table)))
	req.AddData(nl.NewRtAttr(unix.NFTA_OBJ_NAME, nl.ZeroTerminated(name)))
	req.AddData(nl.NewRtAttr(unix.NFTA_OBJ_TYPE, nl.BEUint32Attr(unix.NFT_OBJECT_COUNTER)))
	var msgs [][]byte
	if err := ns.Do(func() (err error) {
		msgs, err = req.Execute(unix.NETLINK_NETFILTER, 0)
		return err
	}); err != nil {
		return 0, fmt.Errorf("read nftables counter %s: %w", name, err)
	}
	if len(msgs) != 1 || len(msgs[0]) < nl.SizeofNfgenmsg {
		return 0, fmt.Errorf("read nftables counter %s: %d replies", name, len(msgs))
	}
	attrs, err := nl.ParseRouteAttr(msgs[0][nl.SizeofNfgenmsg:])
	if err != nil {
		return 0, fmt.Errorf("read nftables counter %s: %w", name, err)
	}
	for _, a := range attrs {
		if a.Attr.Type&^unix.NLA_F_NESTED != unix.NFTA_OBJ_DATA {
			continue
		}
		inner, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return 0, fmt.Errorf("read nftables counter %s: %w", name, err)
		}
		for _, c := range inner {
			if c.Attr.Type == unix.NFTA_COUNTER_PACKETS && len(c.Value) == 8 {
				return binary.BigEndian.Uint64(c.Value), nil
			}
		}
	}
	return 0, fmt.Errorf("read nftables counter %s: no packet count in the reply", name)
}

// parseIptablesDrops sums the packet counters of chain's DROP rules in
// `iptables-save -c` output ("[packets:bytes] -A chain ... -j DROP").
func parseIptablesDrops(out, chain string) (uint64, error) {
	var total uint64
	found := false
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "[") || !strings.Contains(line, "-A "+chain+" ") || !strings.HasSuffix(line, "-j DROP") {
			continue
		}
		end := strings.IndexByte(line, ':')
		if end < 0 {
			return 0, fmt.Errorf("iptables-save: unreadable counter in %q", line)
		}
		n, err := strconv.ParseUint(line[1:end], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("iptables-save: %q: %w", line, err)
		}
		total += n
		found = true
	}
	if !found {
		return 0, fmt.Errorf("iptables-save: no DROP rule in chain %s", chain)
	}
	return total, nil
}
