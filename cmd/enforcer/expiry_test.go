package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/enforcer/cmd/enforcer/adminapi"
)

// TestAllowExpires runs a real daemon in-process: an allowlist entry
// added with --expires is in force (enforcer check passes the source) and
// listed with its time left, then, with no further command, the daemon's
// expiry timer removes it from the store and the policy in force.
func TestAllowExpires(t *testing.T) {
	d := mustDaemon(t, nil, time.Now(), "")
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := cli(t, nil, append(args, "--socket", d.sock)...)
		if code != 0 {
			t.Fatalf("enforcer %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	check := func() adminapi.CheckResult {
		t.Helper()
		var r adminapi.CheckResult
		if err := json.Unmarshal([]byte(run("check", "203.0.113.9", "--service", "imap", "--json")), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct{ args, want string }{
		{"allow add 203.0.113.9 --service imap --expires soon", "--expires \"soon\": want a duration such as 8h or 90m, or an RFC 3339 time"},
		{"allow add 203.0.113.9 --service imap --expires -1h", "want a duration after now"},
		{"allow add 203.0.113.9 --service imap --expires 2001-01-01T00:00:00Z", "that time has passed"},
	} {
		_, errOut, code := cli(t, nil, append(strings.Fields(tc.args), "--socket", d.sock)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("enforcer %s: exit %d, %q; want an error with %q", tc.args, code, errOut, tc.want)
		}
	}

	const ttl = 3 * time.Second
	added := time.Now()
	run("allow", "add", "203.0.113.8-203.0.113.9", "--service", "imap", "--expires", ttl.String(), "--comment", "vendor")
	if r := check(); r.Verdict != "pass" || r.Reason != "allowlist" {
		t.Fatalf("before expiry: %+v, want pass by the allowlist", r)
	}
	var es []adminapi.Entry
	if err := json.Unmarshal([]byte(run("allow", "list", "--service", "imap", "--json")), &es); err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].CIDR != "203.0.113.8/31" || es[0].Comment != "vendor" || es[0].ExpiresIn == "" ||
		es[0].Expires.Before(added.Add(ttl-time.Second)) || es[0].Expires.After(added.Add(ttl+time.Minute)) {
		t.Errorf("allow list --json: %+v, want 203.0.113.8/31 expiring in about %v", es, ttl)
	}
	if out := run("allow", "list", "--service", "imap"); !strings.Contains(out, "EXPIRES") || !strings.Contains(out, " in ") {
		t.Errorf("allow list shows no time left:\n%s", out)
	}
	if out := run("service", "show", "imap"); !strings.Contains(out, "203.0.113.8/31 (cli, expires in ") {
		t.Errorf("service show shows no expiry:\n%s", out)
	}

	deadline := time.Now().Add(ttl + 20*time.Second)
	for r := check(); r.Verdict != "drop"; r = check() {
		if time.Now().After(deadline) {
			t.Fatalf("%v after the expiry: %+v, want drop", time.Since(added)-ttl, r)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if time.Since(added) < ttl-time.Second {
		t.Errorf("the entry went after %v, before its expiry", time.Since(added))
	}
	if err := json.Unmarshal([]byte(run("allow", "list", "--service", "imap", "--json")), &es); err != nil || len(es) != 0 {
		t.Errorf("allow list after expiry: %+v, %v; want none", es, err)
	}
}
