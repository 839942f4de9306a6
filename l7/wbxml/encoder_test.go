package wbxml

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEncodeBuiltDocuments(t *testing.T) {
	tests := []struct {
		name string
		tree *Node
		want []byte
	}{
		{
			// The block response the proxy sends: FolderSync Status 129
			// (DeviceIsBlockedForThisUser, [MS-ASCMD] 2.2.2).
			name: "folder sync block",
			tree: Elem("FolderHierarchy:FolderSync", ElemText("FolderHierarchy:Status", "129")),
			want: doc(t, "00 07 56 4C 03 31 32 39 00 01 01"),
		},
		{
			name: "empty element",
			tree: Elem("AirSync:Sync"),
			want: doc(t, "05"),
		},
		{
			name: "content bit kept on childless element",
			tree: &Node{Page: PageAirSync, Tag: 0x05, HasContent: true},
			want: doc(t, "45 01"),
		},
		{
			name: "pages switch only on change",
			tree: Elem("AirSync:Sync",
				Elem("AirSyncBase:Body", ElemText("AirSyncBase:Type", "2")),
				ElemText("AirSyncBase:NativeBodyType", "2"),
				ElemText("AirSync:Status", "1"),
			),
			want: doc(t, "45 00 11 4A 46 03 32 00 01 01 56 03 32 00 01 00 00 4E 03 31 00 01 01"),
		},
		{
			name: "explicit redundant switch",
			tree: withSwitch(Elem("AirSync:Sync")),
			want: doc(t, "00 00 05"),
		},
		{
			name: "opaque and empty string",
			tree: Elem("ComposeMail:SendMail",
				ElemOpaque("ComposeMail:Mime", []byte("To: a\r\n")),
				ElemText("ComposeMail:ClientId", ""),
			),
			want: doc(t, "00 15 45 50 C3 07 54 6F 3A 20 61 0D 0A 01 51 03 00 01 01"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustEncode(t, tc.tree)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("Encode =\n% X\nwant\n% X", got, tc.want)
			}
		})
	}
}

func TestEncoderRejects(t *testing.T) {
	start := func(name string, content bool) Token {
		return Token{Kind: StartTag, Tag: MustTag(name), HasContent: content}
	}
	tests := []struct {
		name    string
		tokens  []Token
		wantMsg string
	}{
		{"token below range", []Token{{Kind: StartTag, Tag: Tag{0, 0x04}}}, "out of range"},
		{"token above range", []Token{{Kind: StartTag, Tag: Tag{0, 0x40}}}, "out of range"},
		{"END with nothing open", []Token{{Kind: EndTag}}, "END with no open element"},
		{"string outside root", []Token{{Kind: Text, Data: []byte("x")}}, "STR_I outside"},
		{"opaque outside root", []Token{{Kind: Opaque}}, "OPAQUE outside"},
		{"NUL in string", []Token{start("AirSync:Sync", true), {Kind: Text, Data: []byte("a\x00b")}}, "NUL"},
		{"second root", []Token{start("AirSync:Sync", false), start("AirSync:Sync", false)}, "after the root"},
		{"second root after END", []Token{start("AirSync:Sync", true), {Kind: EndTag}, {Kind: EndTag}}, "END with no open"},
		{"unknown kind", []Token{{Kind: 99}}, "token kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEncoder(io.Discard)
			var err error
			for _, tok := range tc.tokens {
				if err = e.WriteToken(tok); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error = %v, want ErrInvalid mentioning %q", err, tc.wantMsg)
			}
			if again := e.WriteToken(Token{Kind: EndTag}); again != err {
				t.Errorf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

func TestEncoderCloseChecksCompleteness(t *testing.T) {
	tests := []struct {
		name    string
		tokens  []Token
		wantErr string
	}{
		{"nothing written", nil, "no root element"},
		{"element left open", []Token{{Kind: StartTag, Tag: MustTag("AirSync:Sync"), HasContent: true}}, "1 elements left open"},
		{"complete", []Token{{Kind: StartTag, Tag: MustTag("AirSync:Sync")}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := NewEncoder(&buf)
			for _, tok := range tc.tokens {
				if err := e.WriteToken(tok); err != nil {
					t.Fatal(err)
				}
			}
			err := e.Close()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
				if want := doc(t, "05"); !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("output % X, want % X", buf.Bytes(), want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Close error = %v, want ErrInvalid mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestEncodeRejectsBadTrees(t *testing.T) {
	cycle := Elem("AirSync:Sync")
	cycle.Children = []*Node{cycle}
	tests := []struct {
		name string
		tree *Node
	}{
		{"nil root", nil},
		{"text root", NewText("x")},
		{"nil child", Elem("AirSync:Sync", nil)},
		{"bad kind", Elem("AirSync:Sync", &Node{Kind: 7})},
		{"NUL in text", ElemText("AirSync:Status", "1\x002")},
		{"cycle", cycle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Encode(tc.tree); !errors.Is(err, ErrInvalid) {
				t.Errorf("Encode error = %v, want ErrInvalid", err)
			}
		})
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestEncoderReportsWriteErrors(t *testing.T) {
	boom := errors.New("disk full")
	e := NewEncoder(failWriter{boom})
	if err := e.WriteNode(Elem("AirSync:Sync")); err != nil {
		t.Fatalf("WriteNode buffered: %v", err)
	}
	if err := e.Close(); !errors.Is(err, boom) {
		t.Errorf("Close error = %v, want %v", err, boom)
	}
}
