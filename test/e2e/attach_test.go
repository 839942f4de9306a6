package e2e_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/test/netns"
	"github.com/mailgate/enforcer/test/testenv"
)

// TestReattachAfterInterfaceRecreated: when the interface goes away and
// comes back under its name, its pinned link is severed; Attach must notice
// and attach afresh instead of failing forever.
func TestReattachAfterInterfaceRecreated(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l := mustLab(t)
	d := mustLoad(t, mustPinDir(t))
	if _, err := l.attach(d, loader.ModeNative); err != nil {
		t.Fatal(err)
	}
	if err := l.server.DeleteLink(serverIface); err != nil {
		t.Fatal(err)
	}
	netns.MustVeth(t, l.server, serverIface, l.client, clientIface)
	mode, err := l.attach(d, loader.ModeNative)
	if err != nil {
		t.Fatalf("attach to the re-created %s: %v", serverIface, err)
	}
	if x := l.xdp(t); mode != loader.ModeNative || x == nil || x.ProgId != progID(t, d) {
		t.Fatalf("after re-attach: mode %v, XDP %+v; want native with program %d", mode, x, progID(t, d))
	}
}

// TestAttachModeMismatch: asking for another mode than the pinned link's
// is refused (the kernel holds only one of native and generic, so a switch
// would leave a gap) and leaves the program enforcing; auto keeps the mode.
func TestAttachModeMismatch(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l := mustLab(t)
	d := mustLoad(t, mustPinDir(t))
	if _, err := l.attach(d, loader.ModeNative); err != nil {
		t.Fatal(err)
	}
	if _, err := l.attach(d, loader.ModeGeneric); !errors.Is(err, loader.ErrModeMismatch) || !strings.Contains(err.Error(), "detach first") {
		t.Fatalf("attach generic over native: %v, want ErrModeMismatch telling to detach first", err)
	}
	for _, m := range []loader.Mode{loader.ModeAuto, loader.ModeNative} {
		got, err := l.attach(d, m)
		if err != nil || got != loader.ModeNative {
			t.Fatalf("attach %v over native: %v, %v; want native", m, got, err)
		}
	}
	if x := l.xdp(t); x == nil || x.AttachMode != xdpAttachedDrv || x.ProgId != progID(t, d) {
		t.Fatalf("kernel reports %+v, want program %d attached natively", x, progID(t, d))
	}
}

// TestSameNameInTwoNamespaces: one pin directory, the same interface name
// in two namespaces: each gets its own link.
func TestSameNameInTwoNamespaces(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	a, b := mustLab(t), mustLab(t)
	dir := mustPinDir(t)
	d := mustLoad(t, dir)
	for _, l := range []*lab{a, b} {
		if _, err := l.attach(d, loader.ModeNative); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range []*lab{a, b} {
		if x := l.xdp(t); x == nil || x.ProgId != progID(t, d) {
			t.Fatalf("lab %d: XDP %+v, want program %d", i, x, progID(t, d))
		}
	}
	if err := loader.Remove(dir); err != nil {
		t.Fatal(err)
	}
	for i, l := range []*lab{a, b} {
		if x := l.xdp(t); x != nil {
			t.Errorf("lab %d: XDP still attached after Remove: %+v", i, x)
		}
	}
	if _, err := os.Stat(filepath.Join(dir)); !os.IsNotExist(err) {
		t.Errorf("pin directory left behind: %v", err)
	}
}

// TestUpgradeIncompatibleMaps: a new version whose maps differ from the
// pinned ones loads fresh maps beside them, swaps its program into the
// pinned link (the old one enforced until then), and pins its maps in the
// old ones' place, so the next start re-uses them.
func TestUpgradeIncompatibleMaps(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l := mustLab(t)
	dir := mustPinDir(t)
	old := mustLoad(t, dir)
	if err := old.Apply(labPolicy()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.attach(old, loader.ModeNative); err != nil {
		t.Fatal(err)
	}
	oldProg := progID(t, old)
	old.Close()

	// What an older version would have pinned: a stats map of another shape.
	stats := filepath.Join(dir, "stats")
	if err := os.Remove(stats); err != nil {
		t.Fatal(err)
	}
	legacy, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := legacy.Pin(stats); err != nil {
		t.Fatal(err)
	}
	legacy.Close()

	d := mustLoad(t, dir)
	if !d.Upgrading() {
		t.Fatal("Load over incompatible pins: Upgrading() = false")
	}
	if err := d.Apply(labPolicy()); err != nil {
		t.Fatal(err)
	}
	if x := l.xdp(t); x == nil || x.ProgId != oldProg {
		t.Fatalf("before Attach the old program must still enforce: XDP %+v, want program %d", x, oldProg)
	}
	if _, err := l.attach(d, loader.ModeNative); err != nil {
		t.Fatal(err)
	}
	if x := l.xdp(t); x == nil || x.ProgId != progID(t, d) {
		t.Fatalf("after Attach: XDP %+v, want the new program %d", x, progID(t, d))
	}
	again := mustLoad(t, dir)
	if again.Upgrading() {
		t.Fatal("the next Load still finds incompatible pins: the maps were not re-pinned")
	}
	if _, err := again.Counters(); err != nil {
		t.Fatalf("counters through the re-pinned maps: %v", err)
	}
}

// TestUpgradeKeepsCounters: an upgrade that changes the service tables'
// layout (as the two-generation tables did) loads fresh tables, but the
// counters, whose layout did not change, carry over: the old program
// counts into them until the new one replaces it.
func TestUpgradeKeepsCounters(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l := mustLab(t)
	dir := mustPinDir(t)
	old := mustLoad(t, dir)
	if err := old.Apply(labPolicy()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.attach(old, loader.ModeNative); err != nil {
		t.Fatal(err)
	}
	f := families[0]
	other := sourceNamed(t, "other-country")
	if err := l.sendUDP(other.addr(f), netip.AddrPortFrom(f.server, udpProtected), 3); err != nil {
		t.Fatal(err)
	}
	key := loader.CounterKey{Service: udpService, Action: policy.Drop, Reason: policy.ReasonNotInSet}
	waitFor(t, "the old program counts the drops", func() error {
		if n := readCounters(t, old).Verdicts[key].Packets; n != 3 {
			return fmt.Errorf("%d drops counted", n)
		}
		return nil
	})
	before := readCounters(t, old)
	old.Close()

	// What an older version would have pinned: a ports map of another size.
	ports := filepath.Join(dir, "ports")
	if err := os.Remove(ports); err != nil {
		t.Fatal(err)
	}
	legacy, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 2 * 65536})
	if err != nil {
		t.Fatal(err)
	}
	if err := legacy.Pin(ports); err != nil {
		t.Fatal(err)
	}
	legacy.Close()

	d := mustLoad(t, dir)
	if !d.Upgrading() {
		t.Fatal("Load over incompatible pins: Upgrading() = false")
	}
	if diff := cmp.Diff(before, readCounters(t, d)); diff != "" {
		t.Errorf("counters after the upgrading Load (-before +after):\n%s", diff)
	}
	if err := d.Apply(labPolicy()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.attach(d, loader.ModeNative); err != nil {
		t.Fatal(err)
	}
	if err := l.sendUDP(other.addr(f), netip.AddrPortFrom(f.server, udpProtected), 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new program counts on", func() error {
		if n := readCounters(t, d).Verdicts[key].Packets; n != 5 {
			return fmt.Errorf("%d drops counted, want 3 from before the upgrade and 2 after", n)
		}
		return nil
	})
	again := mustLoad(t, dir)
	if again.Upgrading() {
		t.Fatal("the next Load still finds incompatible pins")
	}
	if n := readCounters(t, again).Verdicts[key].Packets; n != 5 {
		t.Errorf("the re-pinned counters hold %d drops, want 5", n)
	}
}
