package links

import (
	"encoding"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	_ encoding.TextMarshaler   = Mode(0)
	_ encoding.TextUnmarshaler = (*Mode)(nil)
)

func TestMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
	}{{"all", All}, {" Include ", Include}, {"EXCLUDE", Exclude}} {
		var m Mode
		if err := m.UnmarshalText([]byte(tc.in)); err != nil || m != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", tc.in, m, err, tc.want)
		}
		b, err := tc.want.MarshalText()
		if err != nil || string(b) != strings.ToLower(strings.TrimSpace(tc.in)) {
			t.Errorf("MarshalText(%v) = %q, %v", tc.want, b, err)
		}
	}
	if _, err := ParseMode("some"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseMode(some) = %v, want ErrInvalidConfig", err)
	}
	if _, err := Mode(9).MarshalText(); err == nil {
		t.Error("Mode(9).MarshalText succeeded")
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // part of the message
	}{
		{"scheme with ://", Config{HTTPSScheme: "mibrowsers://"}, `HTTPSScheme "mibrowsers://": not a URL scheme`},
		{"scheme starts with digit", Config{HTTPScheme: "1x"}, `HTTPScheme "1x"`},
		{"scheme space", Config{HTTPScheme: "mi browser"}, `HTTPScheme "mi browser"`},
		{"scheme too long", Config{HTTPScheme: strings.Repeat("a", 65)}, "longer than 64"},
		{"mode", Config{Mode: 3}, "Mode 3"},
		{"include without domains", Config{Mode: Include}, "mode include with no Domains"},
		{"url as domain", Config{Mode: Include, Domains: []string{"https://example.com"}}, `Domains[0] "https://example.com": a domain name, not a URL`},
		{"path", Config{Mode: Exclude, Domains: []string{"a.test", "example.com/x"}}, `Domains[1]`},
		{"inner star", Config{Mode: Exclude, Domains: []string{"a.*.test"}}, `'*' is allowed only as a leading "*."`},
		{"space", Config{Mode: Exclude, Domains: []string{"exa mple.com"}}, `character ' '`},
		{"empty", Config{Mode: Exclude, Domains: []string{"*."}}, "empty domain"},
		{"empty label", Config{Mode: Exclude, Domains: []string{"a..b"}}, "empty label"},
		{"hyphen", Config{Mode: Exclude, Domains: []string{"-a.test"}}, "starts or ends with '-'"},
		{"long label", Config{Mode: Exclude, Domains: []string{strings.Repeat("a", 64) + ".test"}}, "label longer than 63"},
		{"numeric", Config{Mode: Exclude, Domains: []string{"0.0.1"}}, "last label is a number"},
		{"bad utf-8", Config{Mode: Exclude, Domains: []string{"b\xfccher.test"}}, "not valid UTF-8"},
		{"checked in all mode", Config{Domains: []string{"a b"}}, `Domains[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v) = %v, want an ErrInvalidConfig containing %q", tc.cfg, err, tc.want)
			}
		})
	}
}

func TestDomainsIDN(t *testing.T) {
	r := mustNew(t, Config{Mode: Include, Domains: []string{"Bücher.test", "xn--caf-dma.test"}})
	in := "https://www.bücher.test https://BÜCHER.test https://xn--bcher-kva.test https://xn--caf-dma.test https://café.test"
	// Compared as given: ASCII letters fold, others do not, and the two
	// forms of one name are different names.
	want := "mibrowsers://www.bücher.test https://BÜCHER.test https://xn--bcher-kva.test mibrowsers://xn--caf-dma.test https://café.test"
	got, _ := r.Text([]byte(in))
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Text (-want +got):\n%s", diff)
	}
	// An HTML numeric reference to a non-ASCII character decodes to UTF-8.
	got, n := r.HTML([]byte(`<a href="https://b&#xFC;cher.test">`))
	if n != 1 {
		t.Errorf("HTML with &#xFC; in host: n = %d (%q), want 1", n, got)
	}
}

func TestReadDomainsCSV(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{"plain", "example.com\n*.Intra.Test\n", []string{"example.com", "intra.test"}, ""},
		{"header comments bom", "\ufeff# exported 2024-05-01\ndomain,comment\r\n.a.test,\"first, really\"\r\n\r\nb.test.\n,\n'c.test\n", []string{"a.test", "b.test", "c.test"}, ""},
		{"duplicates and addresses", "a.test\nA.TEST\n[2001:db8::1]\n192.0.2.1\n", []string{"a.test", "2001:db8::1", "192.0.2.1"}, ""},
		{"header only first", "domain\ndomain\nintranet\n", []string{"domain", "intranet"}, ""},
		{"bad domain line", "# c\na.test\n\nhttps://b.test/\n", nil, `domains.csv:4: column 1: not a domain: a domain name, not a URL`},
		{"secret line not echoed", "root:$y$j9T$secretHASH:19000:0:99999:7:::\n", nil, `domains.csv:1: column 1: not a domain: a character not allowed`},
		{"bad quote", "a.test\n\"b.test\n", nil, "domains.csv:2:"},
		{"empty", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadDomainsCSV(strings.NewReader(tc.in), "domains.csv")
			if tc.err != "" {
				if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ReadDomainsCSV = %v, want an ErrInvalidConfig containing %q", err, tc.err)
				}
				// The error reaches logs and HTTP answers: never the file's
				// content.
				for _, line := range strings.Split(tc.in, "\n") {
					if len(line) > 3 && strings.Contains(err.Error(), strings.TrimSpace(line)) {
						t.Fatalf("ReadDomainsCSV error %q echoes the input line %q", err, line)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReadDomainsCSV (-want +got):\n%s", diff)
			}
			if _, err := New(Config{Mode: Exclude, Domains: got}); err != nil {
				t.Errorf("New with the read domains: %v", err)
			}
		})
	}
}
