package wbxml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type validCase struct {
	name string
	in   []byte
}

// validCases are documents exercising each construct the codec must keep.
func validCases(tb testing.TB) []validCase {
	tb.Helper()
	long := bytes.Repeat([]byte("x"), 5000) // longer than the bufio buffer
	opaque128 := append(doc(tb, "45 4E C3 81 00"), bytes.Repeat([]byte{0xAB}, 128)...)
	opaque128 = append(opaque128, 0x01, 0x01)
	longStr := append(doc(tb, "45 4E 03"), long...)
	longStr = append(longStr, 0x00, 0x01, 0x01)
	return []validCase{
		{"spec example", mustHexFile(tb, "ms-aswbxml-3-sync-add-contact.hex")},
		{"root without content", doc(tb, "05")},
		{"root with content bit and no children", doc(tb, "45 01")},
		{"redundant switch before root", doc(tb, "00 00 45 01")},
		{"switch before root", doc(tb, "00 07 56 4C 03 31 32 39 00 01 01")},
		{"redundant switch inside", doc(tb, "45 00 00 4E 03 31 00 01 01")},
		{"switch away and back", doc(tb, "45 00 11 4A 01 00 00 4E 03 31 00 01 01")},
		{"page persists across END", doc(tb, "45 00 11 4A 46 03 31 00 01 01 56 03 31 00 01 01")},
		{"child without content bit", doc(tb, "45 0E 01")},
		{"child with content bit and no children", doc(tb, "45 4E 01 01")},
		{"opaque", doc(tb, "45 4E C3 03 61 62 63 01 01")},
		{"empty opaque", doc(tb, "45 4E C3 00 01 01")},
		{"opaque with two-byte length", opaque128},
		{"consecutive strings", doc(tb, "45 4E 03 61 00 03 62 00 01 01")},
		{"string then opaque", doc(tb, "45 4E 03 61 00 C3 01 62 01 01")},
		{"empty string", doc(tb, "45 4E 03 00 01 01")},
		{"string longer than read buffer", longStr},
		{"invalid UTF-8 kept", doc(tb, "45 4E 03 FF FE 00 01 01")},
		{"unknown token on known page", doc(tb, "45 7A 03 7A 00 01 01")},
		{"unknown page", doc(tb, "45 00 1A 45 01 01")},
		{"mixed content", doc(tb, "45 03 61 00 0E 03 62 00 01")},
	}
}

func TestRoundTripExact(t *testing.T) {
	for _, tc := range validCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			tree := mustDecode(t, tc.in)
			if got := mustEncode(t, tree); !bytes.Equal(got, tc.in) {
				t.Errorf("Encode(Decode(x)) =\n% X\nwant\n% X\ntree:\n%s", got, tc.in, tree)
			}
			piped, err := pipe(tc.in, Limits{})
			if err != nil {
				t.Fatalf("pipe: %v", err)
			}
			if !bytes.Equal(piped, tc.in) {
				t.Errorf("token pipe =\n% X\nwant\n% X", piped, tc.in)
			}
			again := mustDecode(t, mustEncode(t, tree))
			if diff := cmp.Diff(tree, again); diff != "" {
				t.Errorf("Decode(Encode(tree)) differs (-first +second):\n%s", diff)
			}
		})
	}
}

func TestDecodeOneByteReads(t *testing.T) {
	for _, tc := range validCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(iotest.OneByteReader(bytes.NewReader(tc.in)), Limits{})
			var out bytes.Buffer
			e := NewEncoder(&out)
			for {
				tok, err := d.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := e.WriteToken(tok); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), tc.in) {
				t.Errorf("pipe through one-byte reads =\n% X\nwant\n% X", out.Bytes(), tc.in)
			}
		})
	}
}

func TestDecodeTokens(t *testing.T) {
	in := doc(t, "00 11 4A 46 03 31 00 01 0D C3 02 00 FF 01")
	body := Tag{PageAirSyncBase, 0x0A}
	typ := Tag{PageAirSyncBase, 0x06}
	want := []Token{
		{Kind: StartTag, Tag: body, HasContent: true, Switch: true},
		{Kind: StartTag, Tag: typ, HasContent: true},
		{Kind: Text, Data: []byte("1")},
		{Kind: EndTag, Tag: typ},
		{Kind: StartTag, Tag: Tag{PageAirSyncBase, 0x0D}},
		{Kind: Opaque, Data: []byte{0x00, 0xFF}},
		{Kind: EndTag, Tag: body},
	}
	d := NewDecoder(bytes.NewReader(in), Limits{})
	var got []Token
	for {
		tok, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tok)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("Next after EOF = %v, want io.EOF", err)
	}
	if got := d.Offset(); got != int64(len(in)) {
		t.Errorf("Offset() = %d, want %d", got, len(in))
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    error
		wantMsg string
	}{
		{"empty input", nil, ErrTruncated, "header"},
		{"header only", doc(t, ""), ErrTruncated, "no root element"},
		{"version 1.2", mustHex(t, "02 01 6A 00 45 01"), ErrUnsupported, "version 0x02"},
		{"public id by string table", mustHex(t, "03 00 00 6A 00 45 01"), ErrUnsupported, "public identifier 0"},
		{"public id not shortest", mustHex(t, "03 80 01 6A 00 45 01"), ErrMalformed, "shortest form"},
		{"charset not UTF-8", mustHex(t, "03 01 04 00 45 01"), ErrUnsupported, "charset 4"},
		{"string table", mustHex(t, "03 01 6A 02 61 00 45 01"), ErrUnsupported, "string table length 2"},
		{"attributes", doc(t, "85 01"), ErrUnsupported, "attributes on tag AirSync:Sync"},
		{"attributes and content", doc(t, "45 CE 01 01 01"), ErrUnsupported, "attributes on tag AirSync:Status"},
		{"ENTITY", doc(t, "45 02 41 01"), ErrUnsupported, "ENTITY"},
		{"LITERAL", doc(t, "45 04 00 01"), ErrUnsupported, "LITERAL"},
		{"EXT_I_0", doc(t, "45 40 61 00 01"), ErrUnsupported, "EXT_I_0"},
		{"PI", doc(t, "43 00 01 45 01"), ErrUnsupported, "PI"},
		{"LITERAL_C", doc(t, "45 44 00 01"), ErrUnsupported, "LITERAL_C"},
		{"EXT_T_0", doc(t, "45 80 00 01"), ErrUnsupported, "EXT_T_0"},
		{"STR_T", doc(t, "45 83 00 01"), ErrUnsupported, "STR_T"},
		{"LITERAL_A", doc(t, "45 84 00 01"), ErrUnsupported, "LITERAL_A"},
		{"EXT_0", doc(t, "45 C0 01"), ErrUnsupported, "EXT_0"},
		{"LITERAL_AC", doc(t, "45 C4 00 01"), ErrUnsupported, "LITERAL_AC"},
		{"END before root", doc(t, "01"), ErrMalformed, "END with no open element"},
		{"string before root", doc(t, "03 61 00 45 01"), ErrMalformed, "STR_I outside"},
		{"opaque before root", doc(t, "C3 00 45 01"), ErrMalformed, "OPAQUE outside"},
		{"second root", doc(t, "45 01 45 01"), ErrMalformed, "after the root element"},
		{"second empty root", doc(t, "05 05"), ErrMalformed, "after the root element"},
		{"switch after root", doc(t, "45 01 00 01"), ErrMalformed, "after the root element"},
		{"switch before END", doc(t, "45 00 01 01"), ErrMalformed, "SWITCH_PAGE followed by 0x01"},
		{"two switches", doc(t, "00 01 00 02 45 01"), ErrMalformed, "SWITCH_PAGE followed by 0x00"},
		{"switch before string", doc(t, "45 00 01 03 61 00 01"), ErrMalformed, "SWITCH_PAGE followed by 0x03"},
		{"opaque length not shortest", doc(t, "45 4E C3 80 03 61 62 63 01 01"), ErrMalformed, "shortest form"},
		{"opaque length over 32 bits", doc(t, "45 4E C3 90 80 80 80 00 01 01"), ErrMalformed, "exceeds 32 bits"},
		{"opaque length of six bytes", doc(t, "45 4E C3 81 80 80 80 80 00 01 01"), ErrMalformed, "exceeds 32 bits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode(% X) error = %v, want %v", tc.in, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *SyntaxError", err)
			}
		})
	}
}

func TestDecodeTruncatedAtEveryByte(t *testing.T) {
	for _, tc := range validCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			for n := range len(tc.in) {
				prefix := tc.in[:n]
				if _, err := Decode(prefix); !errors.Is(err, ErrTruncated) {
					t.Fatalf("Decode(first %d of %d bytes) error = %v, want ErrTruncated", n, len(tc.in), err)
				}
				if _, err := pipe(prefix, Limits{}); !errors.Is(err, ErrTruncated) {
					t.Fatalf("pipe(first %d of %d bytes) error = %v, want ErrTruncated", n, len(tc.in), err)
				}
			}
		})
	}
}

// nested returns a document whose innermost element sits at depth n.
func nested(n int) []byte {
	b := append([]byte{}, header[:]...)
	b = append(b, bytes.Repeat([]byte{0x4F}, n-1)...)
	b = append(b, 0x0F)
	return append(b, bytes.Repeat([]byte{0x01}, n-1)...)
}

func TestDepthLimit(t *testing.T) {
	tests := []struct {
		depth, limit int
		wantErr      bool
	}{
		{1, 1, false},
		{2, 1, true},
		{DefaultMaxDepth, 0, false},
		{DefaultMaxDepth + 1, 0, true},
		{100, 100, false},
		{101, 100, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("depth %d limit %d", tc.depth, tc.limit), func(t *testing.T) {
			in := nested(tc.depth)
			_, err := DecodeWithLimits(in, Limits{MaxDepth: tc.limit})
			if tc.wantErr != errors.Is(err, ErrTooDeep) {
				t.Fatalf("DecodeWithLimits error = %v, want ErrTooDeep: %v", err, tc.wantErr)
			}
			if _, err := pipe(in, Limits{MaxDepth: tc.limit}); tc.wantErr != errors.Is(err, ErrTooDeep) {
				t.Fatalf("pipe error = %v, want ErrTooDeep: %v", err, tc.wantErr)
			}
		})
	}
}

func TestSizeLimits(t *testing.T) {
	str := doc(t, "45 4E 03 61 62 63 00 01 01")
	opq := doc(t, "45 4E C3 03 61 62 63 01 01")
	spec := mustHexFile(t, "ms-aswbxml-3-sync-add-contact.hex")
	tests := []struct {
		name    string
		in      []byte
		lim     Limits
		wantErr bool
	}{
		{"string at limit", str, Limits{MaxString: 3}, false},
		{"string over limit", str, Limits{MaxString: 2}, true},
		{"opaque at limit", opq, Limits{MaxOpaque: 3}, false},
		{"opaque over limit", opq, Limits{MaxOpaque: 2}, true},
		{"document at limit", spec, Limits{MaxSize: int64(len(spec))}, false},
		{"document over limit", spec, Limits{MaxSize: int64(len(spec) - 1)}, true},
		{"string crosses document limit", str, Limits{MaxSize: int64(len(str) - 4)}, true},
		{"opaque crosses document limit", opq, Limits{MaxSize: int64(len(opq) - 4)}, true},
		{"nodes at limit", spec, Limits{MaxNodes: countNodes(t, spec)}, false},
		{"nodes over limit", spec, Limits{MaxNodes: countNodes(t, spec) - 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeWithLimits(tc.in, tc.lim)
			if tc.wantErr != errors.Is(err, ErrTooLarge) {
				t.Fatalf("DecodeWithLimits error = %v, want ErrTooLarge: %v", err, tc.wantErr)
			}
		})
	}
}

func countNodes(tb testing.TB, b []byte) int {
	tb.Helper()
	n := 0
	mustDecode(tb, b).Walk(func(*Node) bool { n++; return true })
	return n
}

func TestDecoderErrorsAreSticky(t *testing.T) {
	d := NewDecoder(bytes.NewReader(doc(t, "45 02")), Limits{})
	if _, err := d.Next(); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	_, err1 := d.Next()
	_, err2 := d.Next()
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v then %v, want the same non-nil error", err1, err2)
	}
}

func TestReadElementSubtree(t *testing.T) {
	// Materialise one Add while streaming the rest of a Sync response.
	in := mustHexFile(t, "ms-aswbxml-3-sync-add-contact.hex")
	d := NewDecoder(bytes.NewReader(in), Limits{})
	add := MustTag("AirSync:Add")
	var got *Node
	for {
		tok, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if tok.Kind == StartTag && tok.Tag == add {
			if got, err = d.ReadElement(tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := specContactTree().Find("AirSync:Collections", "AirSync:Collection", "AirSync:Commands", "AirSync:Add")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadElement(Add) (-want +got):\n%s", diff)
	}
	if _, err := d.ReadElement(Token{Kind: Text}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReadElement(Text) error = %v, want ErrInvalid", err)
	}
}
