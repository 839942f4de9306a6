package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
	"github.com/mailgate/enforcer/policy/store"
)

// TestCheckOffline: `check --offline` composes the policy without a
// daemon, as the daemon would (policy/compose: the file, the state
// directory's runtime changes, the GeoIP database) and explains the
// verdict (policy/explain); it only reads the state.
func TestCheckOffline(t *testing.T) {
	db := mustCountryDB(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "enforcer.yaml")
	conf := "interfaces: [eth0]\nstate_dir: " + stateDir + `
deny: [192.0.2.66]
services:
  - name: imap
    countries: [FR]
  - name: admin
    allow: [2001:db8::/32]
`
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAllow("imap", []store.Entry{{Prefix: netip.MustParsePrefix("192.0.2.0/28"), AddedBy: "cli"}}); err != nil {
		t.Fatal(err)
	}
	rev, err := st.Revision()
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, tc := range []struct {
		args          []string
		verdict, rule string
	}{
		{[]string{"198.51.100.9", "--service", "imap"}, "pass", "country FR is in imap's set"},
		{[]string{"192.0.2.1", "--service", "imap"}, "pass", "allowlist entry 192.0.2.0/28 of imap"}, // the runtime entry
		{[]string{"192.0.2.66", "--port", "9443"}, "drop", "deny list entry 192.0.2.66/32"},
		{[]string{"2001:db8::2", "--service", "admin"}, "pass", "allowlist entry 2001:db8::/32 of admin"},
	} {
		args := append([]string{"check", "--offline", "--json", "--db", db, "--config", cfg}, tc.args...)
		out, errOut, status := cli(t, nil, args...)
		if status != 0 || errOut != "" {
			t.Fatalf("%v: status %d, stderr %q", tc.args, status, errOut)
		}
		var res adminapi.CheckResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, out)
		}
		if res.Verdict != tc.verdict || !strings.Contains(res.Rule, tc.rule) {
			t.Errorf("%v: %+v, want %s by %q", tc.args, res, tc.verdict, tc.rule)
		}
	}
	_, errOut, status := cli(t, nil, "check", "--offline", "--db", db, "--config", cfg, "192.0.2.1", "--service", "nope")
	if status != 1 || !strings.Contains(errOut, `no enforced service "nope"`) {
		t.Errorf("unknown service: status %d, stderr %q", status, errOut)
	}

	// Looking changed nothing: the ids composed offline are not stored.
	st, err = store.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.Revision(); err != nil || got != rev {
		t.Errorf("state revision %d (%v) after check --offline, want %d", got, err, rev)
	}
}
