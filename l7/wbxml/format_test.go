package wbxml

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormat(t *testing.T) {
	tree := withSwitch(Elem("AirSync:Sync",
		ElemText("AirSync:Status", "a<b>&c\n\x00\xff"),
		Elem("AirSync:SyncKey", NewText("x"), NewText("y")),
		&Node{Page: PageAirSync, Tag: 0x0E, HasContent: true},
		Elem("AirSync:Collections"),
		withSwitch(Elem("AirSyncBase:Body",
			ElemOpaque("AirSyncBase:Data", []byte("hi\x00")),
			withSwitch(Elem("AirSyncBase:Type")),
		)),
		&Node{Page: 0x1A, Tag: 0x3A},
		Elem("AirSync:Add", NewText("mixed"), Elem("AirSync:Status")),
	))
	got := Format(tree, FormatOptions{})
	want := `<AirSync:Sync switch="redundant">
  <AirSync:Status>a&lt;b&gt;&amp;c&#x0A;&#x00;&#xFF;</AirSync:Status>
  <AirSync:SyncKey>x<!---->y</AirSync:SyncKey>
  <AirSync:Status></AirSync:Status>
  <AirSync:Collections/>
  <AirSyncBase:Body>
    <AirSyncBase:Data>[opaque 3 "hi\x00"]</AirSyncBase:Data>
    <AirSyncBase:Type switch="redundant"/>
  </AirSyncBase:Body>
  <0x1A:0x3A/>
  <AirSync:Add>
    mixed
    <AirSync:Status/>
  </AirSync:Add>
</AirSync:Sync>
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Format (-want +got):\n%s", diff)
	}
}

func TestFormatMaxValue(t *testing.T) {
	tree := Elem("AirSyncBase:Body",
		ElemText("AirSyncBase:Data", "0123456789"),
		ElemOpaque("AirSyncBase:Preview", []byte("abcdefgh")),
		ElemText("AirSyncBase:Type", "1"),
	)
	want := `<AirSyncBase:Body>
  <AirSyncBase:Data>0123…(+6 bytes)</AirSyncBase:Data>
  <AirSyncBase:Preview>[opaque 8 "abcd"…(+4 bytes)]</AirSyncBase:Preview>
  <AirSyncBase:Type>1</AirSyncBase:Type>
</AirSyncBase:Body>
`
	if diff := cmp.Diff(want, Format(tree, FormatOptions{MaxValue: 4})); diff != "" {
		t.Errorf("Format (-want +got):\n%s", diff)
	}
}
