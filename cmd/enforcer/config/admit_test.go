package config

import (
	"strings"
	"testing"

	"github.com/mailgate/enforcer/policy/compose"
)

// TestAdmitAll: admit: all makes a service that admits every source not
// in the deny list; it reaches compose's input and survives a round trip.
func TestAdmitAll(t *testing.T) {
	c := mustParse(t, "interfaces: [eth0]\ndeny: [192.0.2.66]\nservices:\n  - name: pop3\n    admit: all\n  - name: imap\n    admit: listed\n")
	if s := c.Service("pop3"); !s.AdmitAll || s.Geofence {
		t.Errorf("pop3: AdmitAll %v Geofence %v, want true false", s.AdmitAll, s.Geofence)
	}
	if c.Service("imap").AdmitAll {
		t.Error("imap: admit: listed read as all")
	}
	r, err := compose.Compose(c.PolicyInput())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Policy.Services {
		if s.Name == "pop3" && (!s.AdmitAll || len(s.Allow) != 2 || s.Allow[0].Bits() != 0 || s.Allow[1].Bits() != 0) {
			t.Errorf("composed pop3: %+v, want AdmitAll with allowlist 0.0.0.0/0 ::/0", s)
		}
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2 := mustParse(t, string(out))
	if !c2.Service("pop3").AdmitAll {
		t.Errorf("admit: all lost in the round trip:\n%s", out)
	}
}

func TestAdmitAllProblems(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"services:\n  - name: imap\n    countries: [DE]\n    admit: all\n",
			"enforcer.yaml:5:12: services[0].admit: admit: all admits every source not in the deny list, so countries would have no effect; remove it, or use admit: listed"},
		{"services:\n  - name: pop3\n    geofence: true\n    admit: all\n", "services[0].admit: admit: all admits every source not in the deny list, so geofence would have no effect"},
		{"services:\n  - name: admin\n    admit: all\n", "services[0].admit: the admin page admits explicit addresses only"},
		{"services:\n  - name: smtp\n    admit: all\n", "services[0].admit: smtp is never filtered"},
		{"services:\n  - name: imap\n    admit: everyone\n", "services[0].admit: "},
	} {
		_, err := Parse("enforcer.yaml", []byte("interfaces: [eth0]\n"+tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.want)
		}
	}
}
