package transform

import (
	"encoding/base64"
	"strconv"
	"testing"

	"github.com/mailgate/enforcer/l7/transform/attach"
)

// TestRefMemory: listings are found under any encoding of their
// reference, only for the user and device they were listed to; the
// memory is bounded, and what it forgot, or holds too many names for,
// gets the unknown rule.
func TestRefMemory(t *testing.T) {
	r := &Rules{Attachments: &attach.Policy{Managed: attach.RuleSet{Rules: []attach.Rule{{Extensions: []string{"exe"}, Action: attach.Block}}}}}
	r.ShareMemory(nil)
	jane := r.Plan(Who{Managed: true, DeviceID: "D1", User: "jane@contoso.com"})
	if jane.Unknown != attach.Block {
		t.Fatalf("Unknown %v, want block (the strictest rule)", jane.Unknown)
	}
	jane.Remember("5%3a3%3a0", Listing{Name: "a.txt"})
	for _, ref := range []string{"5%3a3%3a0", "5:3:0", "5%253A3%253A0"} {
		if got := jane.DownloadAction(ref, ""); got != attach.Allow {
			t.Errorf("jane %q: %v, want allow", ref, got)
		}
	}
	if got := r.Plan(Who{Managed: true, DeviceID: "d1", User: "JANE@contoso.com"}).DownloadAction("5:3:0", ""); got != attach.Allow {
		t.Errorf("same user and device in other case: %v, want allow", got)
	}
	for _, who := range []Who{{Managed: true, DeviceID: "D1", User: "bob@contoso.com"}, {Managed: true, DeviceID: "D2", User: "jane@contoso.com"}} {
		if got := r.Plan(who).DownloadAction("5:3:0", ""); got != attach.Block {
			t.Errorf("%+v: %v, want block (never listed to it)", who, got)
		}
	}
	// A reload shares the memory.
	r2 := &Rules{Attachments: r.Attachments}
	r2.ShareMemory(r)
	if got := r2.Plan(Who{Managed: true, DeviceID: "D1", User: "jane@contoso.com"}).DownloadAction("5:3:0", ""); got != attach.Allow {
		t.Errorf("after a reload: %v, want allow", got)
	}
	// Too many names under one key: ambiguous.
	for i := range maxListings + 1 {
		jane.Remember("amb", Listing{Name: "f" + strconv.Itoa(i) + ".txt"})
	}
	if got := jane.DownloadAction("amb", ""); got != attach.Block {
		t.Errorf("ambiguous: %v, want block", got)
	}
	// Bounded: the oldest half goes.
	r.refs.max = 10
	for i := range 11 {
		jane.Remember("ref"+strconv.Itoa(i), Listing{Name: "a.txt"})
	}
	if len(r.refs.m) > 10 {
		t.Errorf("%d entries, want at most 10", len(r.refs.m))
	}
	if got := jane.DownloadAction("ref0", ""); got != attach.Block {
		t.Errorf("forgotten: %v, want block", got)
	}
	if got := jane.DownloadAction("ref10", ""); got != attach.Allow {
		t.Errorf("latest: %v, want allow", got)
	}
}

// TestUnknownRule: the unknown rule is the strictest action of the
// device kind's rule set; encrypt without a key is block.
func TestUnknownRule(t *testing.T) {
	pol := &attach.Policy{
		Managed:   attach.RuleSet{Rules: []attach.Rule{{Extensions: []string{"pdf"}, Action: attach.Encrypt}}},
		Unmanaged: attach.RuleSet{Default: attach.Allow},
	}
	for _, tc := range []struct {
		managed, key bool
		want         attach.Action
	}{{true, true, attach.Encrypt}, {true, false, attach.Block}, {false, true, attach.Allow}} {
		r := &Rules{Attachments: pol}
		if tc.key {
			m, err := attach.LoadOrCreateMaster(t.TempDir() + "/k")
			if err != nil {
				t.Fatal(err)
			}
			r.Master = m
		}
		if got := r.Plan(Who{Managed: tc.managed, DeviceID: "D"}).Unknown; got != tc.want {
			t.Errorf("managed %v, key %v: %v, want %v", tc.managed, tc.key, got, tc.want)
		}
	}
}

// TestFetchWithoutReference: a Fetch answer carrying content but no
// FileReference (nor a message or document id) is an attachment of
// unknown name: the unknown rule applies.
func TestFetchWithoutReference(t *testing.T) {
	doc := E("ItemOperations:ItemOperations", T("ItemOperations:Status", "1"), E("ItemOperations:Response",
		E("ItemOperations:Fetch", T("ItemOperations:Status", "1"),
			E("ItemOperations:Properties", T("ItemOperations:Data", base64.StdEncoding.EncodeToString([]byte("MZ")))))))
	p := &Plan{Attachment: byExtension, Unknown: attach.Block}
	out, rep := run(t, p, encode(t, doc))
	fetch := decode(t, out).Find("ItemOperations:Response", "ItemOperations:Fetch")
	if fetch.Child("ItemOperations:Status").Value() != "6" || fetch.Child("ItemOperations:Properties") != nil || !rep.DownloadBlocked {
		t.Errorf("anonymous download passed: report %+v", rep)
	}
	// A message fetched by ServerId is a message, not a download.
	msg := E("ItemOperations:ItemOperations", T("ItemOperations:Status", "1"), E("ItemOperations:Response",
		E("ItemOperations:Fetch", T("ItemOperations:Status", "1"), T("AirSync:ServerId", "1:1"),
			E("ItemOperations:Properties", T("Email:Subject", "hi")))))
	in := encode(t, msg)
	if out, _ := run(t, p, in); string(out) != string(in) {
		t.Error("a message Fetch was changed")
	}
}
