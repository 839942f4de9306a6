package attach

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	p := &Policy{
		Managed: RuleSet{
			Rules: []Rule{
				{Extensions: []string{"exe", ".BAT", "tar.gz"}, Action: Block},
				{Extensions: []string{"pdf", ".DOCX"}, ContentTypes: []string{"application/pdf"}, Action: Encrypt},
				{ContentTypes: []string{"image/*"}, Action: Allow},
			},
			Default: Encrypt,
		},
		Unmanaged: RuleSet{
			Rules:   []Rule{{ContentTypes: []string{"*/*"}, Action: Block}},
			Default: Allow,
		},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		managed  bool
		file, ct string
		want     Action
	}{
		{"extension", true, "setup.exe", "application/octet-stream", Block},
		{"extension case", true, "SETUP.EXE", "", Block},
		{"dot in rule", true, "run.bat", "", Block},
		{"multi-dot extension", true, "src.TAR.GZ", "", Block},
		{"trailing dot hides nothing", true, "setup.exe.", "", Block},
		{"trailing space hides nothing", true, "setup.exe ", "", Block},
		{"not a suffix", true, "exe", "", Encrypt},
		{"ext inside name", true, "setup.exe.txt", "text/plain", Encrypt},
		{"first rule wins", true, "report.exe", "application/pdf", Block},
		{"docx", true, "Plan.docx", "", Encrypt},
		{"type with params", true, "", "Application/PDF; name=x", Encrypt},
		{"wildcard type", true, "logo", "image/png", Allow},
		{"default", true, "notes.txt", "text/plain", Encrypt},
		{"unmanaged", false, "notes.txt", "text/plain", Block},
		{"unmanaged no type", false, "notes.txt", "", Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Decide(tc.managed, tc.file, tc.ct); got != tc.want {
				t.Fatalf("Decide(%v, %q, %q) = %v, want %v", tc.managed, tc.file, tc.ct, got, tc.want)
			}
		})
	}
	var nilPolicy *Policy
	if nilPolicy.Decide(true, "x.exe", "") != Allow {
		t.Fatal("nil policy does not allow")
	}
}

func TestActionText(t *testing.T) {
	for _, a := range []Action{Allow, Block, Encrypt} {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Action
		if err := back.UnmarshalText([]byte(strings.ToUpper(string(b)))); err != nil || back != a {
			t.Fatalf("%v: back %v, err %v", a, back, err)
		}
	}
	if _, err := ParseAction("quarantine"); !errors.Is(err, ErrBadAction) {
		t.Fatalf("err %v", err)
	}
	if _, err := Action(9).MarshalText(); !errors.Is(err, ErrBadAction) {
		t.Fatalf("err %v", err)
	}
	var p Policy
	if err := json.Unmarshal([]byte(`{"managed":{"rules":[{"extensions":["pdf"],"action":"encrypt"}],"default":"block"}}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Managed.Default != Block || p.Managed.Rules[0].Action != Encrypt {
		t.Fatalf("decoded %+v", p)
	}
	if Stricter(Allow, Encrypt) != Encrypt || Stricter(Block, Encrypt) != Block || Stricter(Allow, Allow) != Allow {
		t.Fatal("Stricter")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		want string
	}{
		{"empty rule", Policy{Managed: RuleSet{Rules: []Rule{{Action: Block}}}}, "managed.rules[0]: a rule needs"},
		{"bad extension", Policy{Unmanaged: RuleSet{Rules: []Rule{{Extensions: []string{"pdf", "a/b"}}}}}, "unmanaged.rules[0].extensions[1]"},
		{"bare dot", Policy{Unmanaged: RuleSet{Rules: []Rule{{Extensions: []string{"."}}}}}, "extensions[0]"},
		{"bad type", Policy{Managed: RuleSet{Rules: []Rule{{ContentTypes: []string{"pdf"}}}}}, "managed.rules[0].content_types[0]"},
		{"star top", Policy{Managed: RuleSet{Rules: []Rule{{ContentTypes: []string{"*/pdf"}}}}}, "content_types[0]"},
		{"bad action", Policy{Managed: RuleSet{Default: 7}}, "managed.default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want mention of %q", err, tc.want)
			}
		})
	}
	if (&Policy{}).Notice() != DefaultBlockedNotice || (&Policy{BlockedNotice: "gone"}).Notice() != "gone" {
		t.Fatal("Notice default")
	}
}

func TestStrictest(t *testing.T) {
	for _, tc := range []struct {
		rs   RuleSet
		want Action
	}{
		{RuleSet{}, Allow},
		{RuleSet{Default: Block}, Block},
		{RuleSet{Rules: []Rule{{Extensions: []string{"pdf"}, Action: Encrypt}}}, Encrypt},
		{RuleSet{Rules: []Rule{{Extensions: []string{"pdf"}, Action: Encrypt}, {Extensions: []string{"exe"}, Action: Block}}}, Block},
		{RuleSet{Rules: []Rule{{Extensions: []string{"txt"}, Action: Allow}}, Default: Encrypt}, Encrypt},
	} {
		if got := tc.rs.Strictest(); got != tc.want {
			t.Errorf("%+v: Strictest %v, want %v", tc.rs, got, tc.want)
		}
	}
	p := &Policy{Unmanaged: RuleSet{Default: Block}}
	if p.Unknown(true) != Allow || p.Unknown(false) != Block {
		t.Errorf("Unknown: managed %v, unmanaged %v", p.Unknown(true), p.Unknown(false))
	}
	var nilPolicy *Policy
	if nilPolicy.Unknown(false) != Allow {
		t.Error("nil policy")
	}
}
