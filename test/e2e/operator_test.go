package e2e_test

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/policy/store"
	"github.com/mailgate/enforcer/test/netns"
	"github.com/mailgate/enforcer/test/testenv"
)

// Operator traps found in the lab (issue 10, item 11), in the running
// daemon.

// editConfig rewrites the appliance's config file: old replaced by new
// once, which must be there.
func (a *appliance) editConfig(t *testing.T, old, new string) {
	t.Helper()
	b, err := os.ReadFile(a.config)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("config %s has no %q", a.config, old)
	}
	if err := os.WriteFile(a.config, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mustFail runs the CLI, which must exit non-zero, and returns stderr.
func (a *appliance) mustFail(t *testing.T, args ...string) string {
	t.Helper()
	r := a.cli(t, args...)
	if r.err == nil {
		t.Fatalf("enforcer %s: exit status 0, want non-zero\nstdout: %s", strings.Join(args, " "), r.stdout)
	}
	return r.stderr
}

// TestApplianceCountryChanges: `country remove` of a country of the file is
// refused like `allow remove` of a file entry; runtime additions show in
// `service show` and go back with `remove`; a removal stored by an older
// enforcer (a tombstone overriding the file) is shown, and `country
// reset` makes the service follow the file again.
func TestApplianceCountryChanges(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter")
	t.Parallel()
	l := mustLab(t)
	a := mustAppliance(t, l, applianceOptions{})
	a.start(t, a.bin)
	de := sourceNamed(t, "allowed-country").v4
	imap := netip.AddrPortFrom(families[0].server, tcpProtected)
	show := func(t *testing.T) adminapi.ServiceView {
		t.Helper()
		var v adminapi.ServiceView
		a.cliJSON(t, &v, "service", "show", "imap")
		return v
	}

	t.Run("remove of a country of the file is refused", func(t *testing.T) {
		stderr := a.mustFail(t, "country", "remove", "DE", "--service", "imap")
		if want := "DE comes from " + a.config + "; remove it there and run `enforcer reload`"; !strings.Contains(stderr, want) {
			t.Errorf("stderr %q, want %q", stderr, want)
		}
		if v := show(t); !slices.Contains(v.Countries, "DE") || len(v.CountriesRemoved) != 0 {
			t.Errorf("after the refusal: %+v", v)
		}
		if stderr := a.mustFail(t, "country", "add", "DE", "--service", "imap"); !strings.Contains(stderr, "DE is already in "+a.config) {
			t.Errorf("country add DE: stderr %q", stderr)
		}
	})

	t.Run("runtime additions are shown and taken back", func(t *testing.T) {
		a.mustCLI(t, "country", "add", "KP", "--service", "imap")
		if v := show(t); !slices.Equal(v.CountriesAdded, []string{"KP"}) || !slices.Contains(v.Countries, "KP") {
			t.Errorf("after country add KP: %+v", v)
		}
		if out := a.mustCLI(t, "service", "show", "imap"); !strings.Contains(out, "added at run time: KP") {
			t.Errorf("service show imap:\n%s", out)
		}
		var list []adminapi.ServiceView
		a.cliJSON(t, &list, "service", "list")
		if out := a.mustCLI(t, "service", "list"); !regexp.MustCompile(`(?m)^imap .* file +1$`).MatchString(out) {
			t.Errorf("service list, want imap with 1 runtime change:\n%s", out)
		}
		a.mustCLI(t, "country", "remove", "KP", "--service", "imap")
		if v := show(t); len(v.CountriesAdded) != 0 || slices.Contains(v.Countries, "KP") {
			t.Errorf("after country remove KP: %+v", v)
		}
	})

	t.Run("an old tombstone is shown and reset", func(t *testing.T) {
		a.stop(t, syscall.SIGTERM)
		st, err := store.Open(a.stateDir)
		if err != nil {
			t.Fatal(err)
		}
		// What `country remove DE` stored before this change.
		if _, err := st.RemoveCountries("imap", []string{"DE"}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		a.start(t, a.bin)
		v := show(t)
		if !slices.Equal(v.CountriesRemoved, []string{"DE"}) || slices.Contains(v.Countries, "DE") {
			t.Fatalf("with the tombstone: %+v", v)
		}
		if out := a.mustCLI(t, "service", "show", "imap"); !strings.Contains(out, "REMOVED AT RUN TIME, overriding the config file: DE") {
			t.Errorf("service show imap:\n%s", out)
		}
		if err := l.tcpDropped(de, imap); err != nil {
			t.Fatalf("DE source with DE removed: %v", err)
		}
		out := a.mustCLI(t, "country", "reset", "--service", "imap")
		inForceWithin(t, "DE admitted again", time.Now(), func() error { return l.tcpPasses(de, imap) })
		if !strings.Contains(out, "dropped 1 runtime country changes of imap") {
			t.Errorf("country reset: %q", out)
		}
		if v := show(t); len(v.CountriesRemoved) != 0 || !slices.Contains(v.Countries, "DE") {
			t.Errorf("after the reset: %+v", v)
		}
	})
}

// TestApplianceReloadAndLinks: `reload` exits non-zero (with one "reload:"
// in its message) when an interface cannot be attached or the file is
// broken; `status` lists every pinned link, marking one the configuration
// no longer names; the GeoIP age reads in days.
func TestApplianceReloadAndLinks(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "nsenter")
	t.Parallel()
	l := mustLab(t)
	a := mustAppliance(t, l, applianceOptions{})
	a.start(t, a.bin)
	iface := fmt.Sprintf("  - name: %s\n    xdp_mode: native\n", serverIface)

	t.Run("geoip age in days", func(t *testing.T) {
		out := a.mustCLI(t, "status")
		if !regexp.MustCompile(`built 2024-01-02 \(\d+ days ago\)`).MatchString(out) {
			t.Errorf("status:\n%s\nwant the GeoIP age in days", out)
		}
	})

	t.Run("reload with an interface that cannot be attached", func(t *testing.T) {
		a.editConfig(t, iface, iface+"  - name: nosuch0\n")
		defer a.editConfig(t, "  - name: nosuch0\n", "")
		stderr := a.mustFail(t, "reload")
		want := "enforcer: reload: the configuration is in force, but interface nosuch0 is not guarded"
		if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "reload:") != 1 {
			t.Errorf("stderr %q, want it to start %q and say reload: once", stderr, want)
		}
		st := a.mustStatus(t)
		if len(st.Interfaces) != 2 || st.Interfaces[1].Error == "" {
			t.Errorf("status interfaces %+v, want nosuch0 with its error", st.Interfaces)
		}
	})

	t.Run("reload of a broken file", func(t *testing.T) {
		a.editConfig(t, "state_dir:", "state_dir: [")
		defer a.editConfig(t, "state_dir: [", "state_dir:")
		stderr := a.mustFail(t, "reload")
		if !strings.HasPrefix(stderr, "enforcer: reload: ") || strings.Count(stderr, "reload:") != 1 ||
			!strings.Contains(stderr, "(the previous configuration stays in force)") {
			t.Errorf("stderr %q, want one \"reload:\" and the previous configuration in force", stderr)
		}
	})

	t.Run("status lists a link left from an older configuration", func(t *testing.T) {
		netns.MustVeth(t, l.server, "stale0", l.server, "stale1")
		stale := "  - name: stale0\n    xdp_mode: generic\n"
		a.editConfig(t, iface, iface+stale)
		a.mustCLI(t, "reload")
		a.editConfig(t, stale, "")
		a.mustCLI(t, "reload")
		st := a.mustStatus(t)
		if len(st.Interfaces) != 1 {
			t.Errorf("configured interfaces %+v, want %s alone", st.Interfaces, serverIface)
		}
		got := map[string]adminapi.LinkStatus{}
		for _, ls := range st.Links {
			got[ls.Interface] = ls
		}
		if s := got[serverIface]; len(st.Links) != 2 || !s.InConfig || s.Mode != "native" || s.ProgramID != st.Program.ID {
			t.Errorf("links %+v, want %s in the config, native, running program %d", st.Links, serverIface, st.Program.ID)
		}
		if s := got["stale0"]; s.InConfig || s.Mode != "generic" || s.ProgramID != st.Program.ID || s.Ifindex == 0 {
			t.Errorf("links %+v, want stale0 not in the config, generic, still running program %d", st.Links, st.Program.ID)
		}
		out := a.mustCLI(t, "status")
		if !regexp.MustCompile(`(?m)^  stale0: ifindex \d+, xdp generic, program id \d+, NOT IN CONFIG`).MatchString(out) {
			t.Errorf("status:\n%s\nwant stale0 marked NOT IN CONFIG", out)
		}
	})
}

// TestApplianceUnderIPNetnsExec: started with `ip netns exec`, the daemon
// mounts a private bpffs whose pins die with it; it says so in its log and
// in status, and enforcement indeed stops when it exits.
func TestApplianceUnderIPNetnsExec(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "ip")
	t.Parallel()
	l := mustLab(t)
	a := mustAppliance(t, l, applianceOptions{})
	st := a.startVia(t, []string{"ip", "netns", "exec", l.server.Name()}, a.bin)
	if !strings.Contains(st.PinWarning, "ip netns exec") || !strings.Contains(st.PinWarning, "nsenter --net=") {
		t.Errorf("status pin_warning %q, want it to name ip netns exec and nsenter", st.PinWarning)
	}
	if out := a.mustCLI(t, "status"); !strings.Contains(out, "WARNING: the bpffs at /sys/fs/bpf in this mount namespace is not the host's") {
		t.Errorf("status:\n%s\nwant the warning", out)
	}
	a.stop(t, syscall.SIGTERM)
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "the pinned datapath will not outlive this process") {
		t.Errorf("daemon log:\n%s\nwant the warning", b)
	}
	// What the warning says: the private bpffs went with the process, and
	// the program with it.
	waitFor(t, "the XDP program is gone with the daemon", func() error {
		if x := l.xdp(t); x != nil {
			return fmt.Errorf("%s still runs program %d", serverIface, x.ProgId)
		}
		return nil
	})
}
