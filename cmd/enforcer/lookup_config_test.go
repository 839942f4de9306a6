package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGeoIPLookupWithConfig: with --config, lookup says which services
// admit each address, and it leaves no state directory behind.
func TestGeoIPLookupWithConfig(t *testing.T) {
	db := mustCountryDB(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "enforcer.yaml")
	conf := "interfaces: [eth0]\nstate_dir: " + state + `
services:
  - name: imap
    countries: [DE]
  - name: admin
    allow: [2001:db8::/32]
`
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, status := cli(t, nil, "geoip", "lookup", "--json", "--db", db, "--config", cfg, "192.0.2.1", "2001:db8::2", "198.51.100.9")
	if status != 0 || errOut != "" {
		t.Fatalf("status %d, stderr %q", status, errOut)
	}
	var got []struct {
		IP       string   `json:"ip"`
		Services []string `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"192.0.2.1": {"imap"}, "2001:db8::2": {"admin"}, "198.51.100.9": nil}
	for _, g := range got {
		if diff := cmp.Diff(want[g.IP], g.Services); diff != "" {
			t.Errorf("%s admitted by (-want +got):\n%s", g.IP, diff)
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("lookup created the state directory %s", state)
	}
	_, errOut, status = cli(t, nil, "geoip", "lookup", "--db", db, "--config", filepath.Join(dir, "missing.yaml"), "192.0.2.1")
	if status == 0 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing config: status %d, stderr %q; want an error naming the file", status, errOut)
	}
}
