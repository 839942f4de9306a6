package compose

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy/store"
)

func TestCheckEntries(t *testing.T) {
	file := []netip.Prefix{pfx("192.0.2.0/24"), pfx("2001:db8::/32")}
	for _, tc := range []struct {
		name  string
		add   bool
		items []netip.Prefix
		want  string
	}{
		{"add a runtime entry", true, []netip.Prefix{pfx("198.51.100.0/24")}, ""},
		{"remove a runtime entry", false, []netip.Prefix{pfx("198.51.100.0/24")}, ""},
		{"add one of the file's", true, []netip.Prefix{pfx("198.51.100.0/24"), pfx("2001:db8::/32")}, "2001:db8::/32 is already in /etc/enforcer/enforcer.yaml; nothing to add"},
		{"remove one of the file's", false, []netip.Prefix{pfx("192.0.2.0/24")}, "192.0.2.0/24 comes from /etc/enforcer/enforcer.yaml; remove it there and run `enforcer reload`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckEntries("/etc/enforcer/enforcer.yaml", tc.add, file, tc.items)
			var fe *FileEntryError
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tc.want != "" && (!errors.As(err, &fe) || err.Error() != tc.want):
				t.Errorf("got %v, want *FileEntryError %q", err, tc.want)
			}
		})
	}
}

func TestSplitCountries(t *testing.T) {
	file := []string{"AT", "DE"}
	// DE was removed at run time by an older enforcer; KP was added.
	o := store.CountryOverride{Added: []string{"KP"}, Removed: []string{"DE"}}
	for _, tc := range []struct {
		name       string
		add        bool
		codes      []string
		clear, put []string
		err        string
	}{
		{name: "remove a file country", codes: []string{"AT"}, err: "AT comes from f.yaml; remove it there"},
		{name: "add a file country", add: true, codes: []string{"AT"}, err: "AT is already in f.yaml; nothing to add"},
		{name: "add back a removed file country, and a new one", add: true, codes: []string{"DE", "FR"}, clear: []string{"DE"}, put: []string{"FR"}},
		{name: "take back a runtime addition and an unknown code", codes: []string{"KP", "FR"}, clear: []string{"KP", "FR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clear, put, err := SplitCountries("f.yaml", tc.add, file, o, tc.codes)
			if tc.err != "" {
				var fe *FileEntryError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want *FileEntryError containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.clear, clear); diff != "" {
				t.Errorf("clear (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.put, put); diff != "" {
				t.Errorf("put (-want +got):\n%s", diff)
			}
		})
	}
}
