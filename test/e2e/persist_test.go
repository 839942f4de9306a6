package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/mailgate/enforcer/loader"
	"github.com/mailgate/enforcer/test/netns"
	"github.com/mailgate/enforcer/test/testenv"
)

// The loader process TestEnforcementOutlivesLoader starts is this test
// binary, re-executed to run only TestHelperProcess with these set.
const (
	helperEnv       = "ENFORCER_E2E_HELPER" // "1" in the helper process
	helperPinDirEnv = "ENFORCER_E2E_PIN_DIR"
	helperNetnsEnv  = "ENFORCER_E2E_NETNS"
)

// TestHelperProcess is not a test: run as a child process, it loads the
// datapath pinned in a directory, applies the lab policy, attaches to the
// server interface in a named namespace, reports and exits.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	out, err := helperLoad(os.Getenv(helperPinDirEnv), os.Getenv(helperNetnsEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper: %+v\n", err)
		os.Exit(1)
	}
	fmt.Println(out)
	os.Exit(0)
}

func helperLoad(pinDir, nsName string) (string, error) {
	d, err := loader.Load(loader.Options{PinDir: pinDir})
	if err != nil {
		return "", err
	}
	defer d.Close()
	if err := d.Apply(labPolicy()); err != nil {
		return "", fmt.Errorf("apply policy: %w", err)
	}
	ns, err := netns.Open(nsName)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	var mode loader.Mode
	if err := ns.Do(func() (err error) {
		mode, err = d.Attach(serverIface, loader.ModeNative)
		return err
	}); err != nil {
		return "", err
	}
	info, err := d.Program().Info()
	if err != nil {
		return "", fmt.Errorf("program info: %w", err)
	}
	id, _ := info.ID()
	return fmt.Sprintf("mode=%s prog=%d", mode, id), nil
}

// runLoaderProcess runs the helper process and returns the mode it reported
// and the id of the program it attached, once it has exited.
func runLoaderProcess(t *testing.T, pinDir string, server *netns.NS) (string, uint32) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperPinDirEnv+"="+pinDir, helperNetnsEnv+"="+server.Name())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("loader process: %v\n%s", err, stderr.String())
	}
	if !cmd.ProcessState.Exited() {
		t.Fatalf("loader process did not exit: %v", cmd.ProcessState)
	}
	var mode string
	var id uint32
	if _, err := fmt.Sscanf(string(out), "mode=%s prog=%d", &mode, &id); err != nil {
		t.Fatalf("loader process said %q: %v", out, err)
	}
	return mode, id
}

// TestEnforcementOutlivesLoader loads, applies and attaches in a process
// that then exits, and checks that the pinned program keeps enforcing with
// no process of ours holding it; that a new Load finds the pinned maps, with
// their counters and policy, and its Attach swaps the program inside the
// pinned link; and that Remove detaches it all and opens the port again.
func TestEnforcementOutlivesLoader(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	const datagrams = 3
	l := mustLab(t)
	pinDir := mustPinDir(t)
	mode, childProg := runLoaderProcess(t, pinDir, l.server)
	// The pin is named by interface and network namespace.
	pins, err := filepath.Glob(filepath.Join(pinDir, "link_"+serverIface+"@*"))
	if err != nil || len(pins) != 1 {
		t.Fatalf("pinned links for %s: %v (%v), want one", serverIface, pins, err)
	}
	linkPin := pins[0]
	if mode != loader.ModeNative.String() {
		t.Errorf("loader process attached in %s mode, want native", mode)
	}
	x := l.xdp(t)
	if x == nil || x.ProgId != childProg || x.AttachMode != xdpAttachedDrv {
		t.Fatalf("after the loader exited, %s has XDP %+v, want program %d attached natively", serverIface, x, childProg)
	}

	// No process of ours holds the datapath now: only the pins do.
	var udpBefore, tcpBefore [2]map[netip.Addr]int
	t.Run("no process", func(t *testing.T) {
		for i, f := range families {
			t.Run(f.name, func(t *testing.T) {
				udpBefore[i] = l.udpRound(t, f, datagrams)
				tcpBefore[i] = l.tcpRound(t, f, 1, 1)
			})
		}
	})

	// A new Load re-uses the pinned maps: the counters hold what the
	// program counted while no process ran.
	d := mustLoad(t, pinDir)
	wantUDPTCP := addCounters(wantUDP(families, datagrams), wantTCP(families, 1, 1))
	counted := waitCounted(t, d, loader.Counters{}, wantUDPTCP)
	t.Run("counted while no process ran", func(t *testing.T) {
		checkVerdicts(t, counted, wantUDP(families, datagrams), udpService)
		checkOnly(t, counted, wantUDPTCP, tcpService)
		for i, f := range families {
			checkNoneArrived(t, f.name+" datagrams", f, udpBefore[i], l.udp.received.snapshot())
			checkNoneArrived(t, f.name+" connections", f, tcpBefore[i], l.tcp.accepted.snapshot())
		}
	})

	t.Run("attach updates pinned link", func(t *testing.T) {
		linkBefore := pinnedLink(t, linkPin)
		if uint32(linkBefore.Program) != childProg {
			t.Errorf("pinned link runs program %d, want the loader process's %d", linkBefore.Program, childProg)
		}
		got, err := l.attach(d, loader.ModeNative)
		if err != nil {
			t.Fatalf("attach over the pinned link: %v", err)
		}
		if got != loader.ModeNative {
			t.Errorf("Attach reported %s mode, want native", got)
		}
		newProg := progID(t, d)
		if newProg == childProg {
			t.Fatalf("a new Load reported the old program id %d", newProg)
		}
		linkAfter := pinnedLink(t, linkPin)
		if linkAfter.ID != linkBefore.ID || uint32(linkAfter.Program) != newProg {
			t.Errorf("pinned link after Attach: link %d running program %d, want link %d running program %d", linkAfter.ID, linkAfter.Program, linkBefore.ID, newProg)
		}
		if x := l.xdp(t); x == nil || x.ProgId != newProg || x.AttachMode != xdpAttachedDrv {
			t.Errorf("%s has XDP %+v, want program %d attached natively", serverIface, x, newProg)
		}
	})

	t.Run("new program counts on", func(t *testing.T) {
		// The policy came with the pinned maps too: nothing was applied
		// since the loader process exited.
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				before := readCounters(t, d)
				arrived := l.udpRound(t, f, datagrams)
				want := wantUDP([]family{f}, datagrams)
				checkExact(t, waitCounted(t, d, before, want), want, udpService)
				checkNoneArrived(t, "datagrams", f, arrived, l.udp.received.snapshot())
			})
		}
		if t.Failed() {
			return
		}
		total := readCounters(t, d)
		want := addCounters(counted, wantUDP(families, datagrams))
		for k, w := range want.Verdicts {
			if k.Service == udpService && total.Verdicts[k] != w {
				t.Errorf("service %d %s/%s: %+v in total, want %+v continued from before the restart", k.Service, k.Action, k.Reason, total.Verdicts[k], w)
			}
		}
	})

	t.Run("remove", func(t *testing.T) {
		if err := d.Close(); err != nil {
			t.Errorf("close datapath: %v", err)
		}
		if err := loader.Remove(pinDir); err != nil {
			t.Fatalf("remove: %v", err)
		}
		// Remove unpins each link through an fd it then closes: that last
		// reference going detaches the program before Remove returns.
		if x := l.xdp(t); x != nil {
			t.Errorf("after Remove, %s still has XDP %+v", serverIface, x)
		}
		if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
			entries, _ := os.ReadDir(pinDir)
			t.Errorf("pin directory %s left behind (stat: %v, entries: %v)", pinDir, err, entries)
		}
		for _, f := range families {
			t.Run(f.name, func(t *testing.T) {
				for _, s := range sources {
					if err := l.tcpExchange(s.addr(f), netip.AddrPortFrom(f.server, tcpProtected), passTimeout); err != nil {
						t.Errorf("%s (%v): tcp/%d with no program: %v", s.name, s.addr(f), tcpProtected, err)
					}
				}
				before := l.udp.received.snapshot()
				for _, s := range sources {
					if err := l.sendUDP(s.addr(f), netip.AddrPortFrom(f.server, udpProtected), datagrams); err != nil {
						t.Fatal(err)
					}
				}
				waitFor(t, "every source's datagrams arrive", func() error {
					got := l.udp.received.snapshot()
					for _, s := range sources {
						if a := s.addr(f); got[a]-before[a] != datagrams {
							return fmt.Errorf("%d of %d from %s (%v)", got[a]-before[a], datagrams, s.name, a)
						}
					}
					return nil
				})
			})
		}
	})
}

// pinnedLink reads the link pinned at path, closing it again at once.
func pinnedLink(t *testing.T, path string) *link.Info {
	t.Helper()
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		t.Fatalf("open pinned link: %v", err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatalf("pinned link info: %v", err)
	}
	return info
}

func addCounters(a, b loader.Counters) loader.Counters {
	out := loader.Counters{Verdicts: map[loader.CounterKey]loader.Count{}, CountryDrops: map[string]loader.Count{}}
	for _, c := range []loader.Counters{a, b} {
		for k, v := range c.Verdicts {
			out.Verdicts[k] = addCount(out.Verdicts[k], v)
		}
		for k, v := range c.CountryDrops {
			out.CountryDrops[k] = addCount(out.CountryDrops[k], v)
		}
	}
	return out
}
