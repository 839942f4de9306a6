package classify

import (
	"encoding"
	"errors"
	"net/textproto"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	_ encoding.TextMarshaler   = Action(0)
	_ encoding.TextUnmarshaler = (*Action)(nil)
)

func mustNew(tb testing.TB, cfg Config) *Classifier {
	tb.Helper()
	c, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

var testConfig = Config{
	SubjectMarkers: []string{"[CONFIDENTIAL]", " [Secret] ", "[VERTRAULICH-Ä]"},
	Headers:        []string{"x-classification", "MSIP_Label_*"},
	Rules: []Rule{
		{Tag: "[secret]", Others: Block, Approved: Block},
		{Tag: "[CONFIDENTIAL]", ApprovedClients: []string{"Boxer*", "AirWatch Inbox*", "Outlook-iOS-?ndroid"}},
		{Tag: "Internal", Others: Allow},
		{Tag: "Restricted", ApprovedClients: []string{"apple-iphone*"}, Approved: Block, Others: Allow},
		{Tag: "[VERTRAULICH-Ä]"},
	},
}

func TestTags(t *testing.T) {
	c := mustNew(t, testConfig)
	for _, tc := range []struct {
		name    string
		subject string
		header  textproto.MIMEHeader
		want    []string
	}{
		{"none", "Lunch", nil, nil},
		{"marker", "Re: [Confidential] Q3 numbers", nil, []string{"[CONFIDENTIAL]"}},
		{"two markers in config order", "[secret][confidential]", nil, []string{"[CONFIDENTIAL]", "[Secret]"}},
		{"unicode case", "FW: [vertraulich-ä] Plan", nil, []string{"[VERTRAULICH-Ä]"}},
		{"encoded subject", "=?utf-8?q?=5BConfidential=5D_Plan?=", nil, []string{"[CONFIDENTIAL]"}},
		{"invalid utf-8 subject", "\xff[CONFIDENTIAL\xfe]", nil, nil},
		{"header", "x", textproto.MIMEHeader{"X-Classification": {"  Internal "}}, []string{"Internal"}},
		{"windows-1252 encoded subject", "=?windows-1252?q?=93Vertraulich-=E4=94_[vertraulich-=C4]?=", nil, []string{"[VERTRAULICH-Ä]"}},
		{"windows-1252 encoded header", "", textproto.MIMEHeader{"X-Classification": {"=?windows-1252?q?Stra=DFe_=80?="}}, []string{"Straße €"}},
		{"folded and encoded header", "", textproto.MIMEHeader{"X-Classification": {"Highly\r\n  Restricted", "=?iso-8859-1?q?Vertraulich_=C4?="}}, []string{"Highly Restricted", "Vertraulich Ä"}},
		{"prefix, name order", "", textproto.MIMEHeader{
			"Msip_label_b_name":  {"Restricted"},
			"Msip_label_a_name":  {"Internal"},
			"Msip_label_a_other": {"internal"},
			"X-Other":            {"Secret"},
		}, []string{"Internal", "Restricted"}},
		{"subject before headers, deduplicated", "[confidential]", textproto.MIMEHeader{"X-Classification": {"[Confidential]", ""}}, []string{"[CONFIDENTIAL]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Tags(tc.subject, tc.header)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Tags(%q, %v) (-want +got):\n%s", tc.subject, tc.header, diff)
			}
		})
	}
}

func TestTagsBounded(t *testing.T) {
	c := mustNew(t, Config{Headers: []string{"X-Tag*"}})
	h := textproto.MIMEHeader{}
	for i := range 1000 {
		h.Add("X-Tag", strings.Repeat("t", i%50)+string(rune('a'+i%26))+strings.Repeat("x", i))
	}
	if got := c.Tags("", h); len(got) != MaxTags {
		t.Errorf("Tags returned %d tags, want MaxTags (%d)", len(got), MaxTags)
	}
}

func TestDecide(t *testing.T) {
	c := mustNew(t, testConfig)
	for _, tc := range []struct {
		name string
		tags []string
		ua   string
		want Decision
	}{
		{"no tags", nil, "Boxer/4.1", Decision{Rule: -1}},
		{"unknown tag", []string{"Public"}, "Boxer/4.1", Decision{Rule: -1}},
		{"approved by product", []string{"[CONFIDENTIAL]"}, "boxer/4.1 (iOS)", Decision{Tag: "[CONFIDENTIAL]", Rule: 1}},
		{"approved by whole UA", []string{"[confidential]"}, "AirWatch Inbox/2.3", Decision{Tag: "[confidential]", Rule: 1}},
		{"approved with ?", []string{"[CONFIDENTIAL]"}, "Outlook-iOS-Android/1.0", Decision{Tag: "[CONFIDENTIAL]", Rule: 1}},
		{"other client", []string{"[CONFIDENTIAL]"}, "Apple-iPhone9C1/1602.56", Decision{Block: true, Tag: "[CONFIDENTIAL]", Rule: 1}},
		{"no user agent", []string{"[CONFIDENTIAL]"}, "", Decision{Block: true, Tag: "[CONFIDENTIAL]", Rule: 1}},
		{"prefix is not a match", []string{"[CONFIDENTIAL]"}, "Boxe/1", Decision{Block: true, Tag: "[CONFIDENTIAL]", Rule: 1}},
		{"blocked for all", []string{"[Secret]"}, "Boxer/4.1", Decision{Block: true, Tag: "[Secret]", Rule: 0}},
		{"allowed for all", []string{"internal"}, "Apple-iPhone9C1/1602.56", Decision{Tag: "internal", Rule: 2}},
		{"blocked for approved only", []string{"Restricted"}, "Apple-iPhone9C1/1602.56", Decision{Block: true, Tag: "Restricted", Rule: 3}},
		{"allowed for others", []string{"Restricted"}, "Boxer/4.1", Decision{Tag: "Restricted", Rule: 3}},
		{"rule order decides", []string{"Internal", "Restricted", "[CONFIDENTIAL]"}, "Apple-iPhone9C1/1602.56", Decision{Block: true, Tag: "[CONFIDENTIAL]", Rule: 1}},
		{"first blocking rule after an allowing one", []string{"Internal", "Restricted"}, "Apple-iPhone9C1/1602.56", Decision{Block: true, Tag: "Restricted", Rule: 3}},
		{"default actions", []string{"[vertraulich-ä]"}, "Boxer/4.1", Decision{Block: true, Tag: "[vertraulich-ä]", Rule: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Decide(tc.tags, tc.ua)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide(%q, %q) (-want +got):\n%s", tc.tags, tc.ua, diff)
			}
		})
	}
}

func TestNotice(t *testing.T) {
	c := mustNew(t, testConfig)
	d := c.Decide([]string{"[CONFIDENTIAL]"}, "Apple-iPhone9C1/1602.56")
	got := string(c.Notice(d, "=?utf-8?q?Q3_=E2=82=AC?=\r\nBcc: x\xff", "Apple-iPhone9C1/1602.56"))
	want := "This message is classified [CONFIDENTIAL] and cannot be shown in this mail app (Apple-iPhone9C1).\n\n" +
		"Subject: Q3 €  Bcc: x\uFFFD\n\n" +
		"Open it in an approved mail app, or ask your IT help desk for access.\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Notice (-want +got):\n%s", diff)
	}

	cfg := testConfig
	cfg.Template = "Blocked: {{.Tag}} / {{.Subject}} / {{.Client}}"
	c = mustNew(t, cfg)
	if got := string(c.Notice(Decision{Block: true, Tag: "Restricted"}, "Hi", "")); got != "Blocked: Restricted / Hi / unknown" {
		t.Errorf("Notice with a template = %q", got)
	}
}

func TestAction(t *testing.T) {
	for _, a := range []Action{Allow, Block} {
		b, err := a.MarshalText()
		var back Action
		if err != nil || back.UnmarshalText(b) != nil || back != a {
			t.Errorf("round trip of %v: %q, %v, %v", a, b, err, back)
		}
	}
	if a, err := ParseAction(" BLOCK "); err != nil || a != Block {
		t.Errorf("ParseAction(BLOCK) = %v, %v", a, err)
	}
	if _, err := ParseAction("deny"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseAction(deny) = %v, want ErrInvalidConfig", err)
	}
}

func TestNewErrors(t *testing.T) {
	h := []string{"X-Classification"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty marker", Config{SubjectMarkers: []string{" "}}, "SubjectMarkers[0]"},
		{"header with colon", Config{Headers: []string{"X-Class:"}}, `Headers[0] "X-Class:"`},
		{"header star alone", Config{Headers: []string{"*"}}, `Headers[0] "*"`},
		{"header inner star", Config{Headers: []string{"X-*-Label"}}, `Headers[0]`},
		{"rule without tag", Config{Headers: h, Rules: []Rule{{}}}, "Rules[0].Tag"},
		{"duplicate tag", Config{Headers: h, Rules: []Rule{{Tag: "a"}, {Tag: "A"}}}, "Rules[1].Tag \"A\": Rules[0] has the same tag"},
		{"bad action", Config{Headers: h, Rules: []Rule{{Tag: "a", Others: 7}}}, "Rules[0].Others"},
		{"empty client", Config{Headers: h, Rules: []Rule{{Tag: "a", ApprovedClients: []string{""}}}}, "Rules[0].ApprovedClients[0]"},
		{"no tag source", Config{Rules: []Rule{{Tag: "a"}}}, "without SubjectMarkers or Headers"},
		{"template syntax", Config{Template: "{{.Tag"}, "Template"},
		{"template field", Config{Template: "{{.User}}"}, "Template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
}
