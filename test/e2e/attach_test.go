package e2e_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/loader"
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
