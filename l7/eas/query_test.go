package eas

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// specVector is the example of [MS-ASHTTP] section 2.2.1.1.1.1.
const specVector = "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l"

func TestSpecVector(t *testing.T) {
	want := &Query{
		Form:       FormBase64,
		Command:    Sync,
		Version:    V140,
		Locale:     0x0409,
		DeviceID:   "v140Device",
		DeviceType: "SmartPhone",
	}
	got, err := ParseQuery(specVector)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseQuery(spec vector) (-want +got):\n%s", diff)
	}
	enc, err := got.EncodeBase64()
	if err != nil {
		t.Fatal(err)
	}
	if enc != specVector {
		t.Errorf("EncodeBase64() = %q, want %q", enc, specVector)
	}
}

func TestParseQueryPlain(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want *Query
	}{
		{
			// [MS-ASHTTP] section 4.1.
			name: "spec FolderSync example",
			raw:  "Cmd=FolderSync&User=fakename&DeviceId=v140Device&DeviceType=SmartPhone",
			want: &Query{Form: FormPlain, Command: FolderSync, User: "fakename", DeviceID: "v140Device", DeviceType: "SmartPhone"},
		},
		{
			name: "names in any case, escaped domain user",
			raw:  "cmd=sync&user=CONTOSO%5Cjane&deviceid=ABC123&devicetype=iPhone",
			want: &Query{Form: FormPlain, Command: Sync, User: `CONTOSO\jane`, DeviceID: "ABC123", DeviceType: "iPhone"},
		},
		{
			name: "SmartReply with every parameter",
			raw: "Cmd=SmartReply&User=jane%40contoso.com&DeviceId=d1&DeviceType=Android" +
				"&CollectionId=5&ItemId=5%3A12&LongId=RgAAAA&Occurrence=2024-01-01T00%3A00%3A00.000Z" +
				"&AttachmentName=a%2Fb.pdf&SaveInSent=T",
			want: &Query{
				Form: FormPlain, Command: SmartReply, User: "jane@contoso.com", DeviceID: "d1", DeviceType: "Android",
				CollectionID: "5", ItemID: "5:12", LongID: "RgAAAA", Occurrence: "2024-01-01T00:00:00.000Z",
				AttachmentName: "a/b.pdf", SaveInSent: true,
			},
		},
		{
			name: "SaveInSent F and unknown parameter ignored",
			raw:  "Cmd=SendMail&DeviceId=d&DeviceType=t&SaveInSent=F&Foo=bar",
			want: &Query{Form: FormPlain, Command: SendMail, DeviceID: "d", DeviceType: "t"},
		},
		{
			name: "legacy command",
			raw:  "Cmd=GetHierarchy&User=u&DeviceId=d&DeviceType=t",
			want: &Query{Form: FormPlain, Command: GetHierarchy, User: "u", DeviceID: "d", DeviceType: "t"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseQuery (-want +got):\n%s", diff)
			}
			again, err := ParseQuery(got.EncodePlain())
			if err != nil {
				t.Fatalf("ParseQuery(EncodePlain()): %v", err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("plain round trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		want      error
		wantField string
	}{
		{"empty", "", ErrMissing, "query"},
		{"empty Cmd", "Cmd=&DeviceId=d&DeviceType=t", ErrMissing, "Cmd"},
		{"unknown Cmd", "Cmd=Foo&DeviceId=d&DeviceType=t", ErrUnknownCommand, "Cmd"},
		{"Cmd twice", "Cmd=Sync&Cmd=Ping&DeviceId=d&DeviceType=t", ErrDuplicate, "Cmd"},
		{"DeviceId in two cases", "Cmd=Sync&DeviceId=a&deviceid=b&DeviceType=t", ErrDuplicate, ""},
		{"User twice", "Cmd=Sync&User=a&User=b&DeviceId=d&DeviceType=t", ErrDuplicate, "User"},
		{"missing DeviceId", "Cmd=Sync&User=u&DeviceType=t", ErrMissing, "DeviceId"},
		{"missing DeviceType", "Cmd=Sync&User=u&DeviceId=d", ErrMissing, "DeviceType"},
		{"bad SaveInSent", "Cmd=SendMail&DeviceId=d&DeviceType=t&SaveInSent=yes", ErrBadValue, "SaveInSent"},
		{"device id not UTF-8", "Cmd=Sync&DeviceId=%FE%FF&DeviceType=t", ErrBadValue, "DeviceId"},
		{"device id control character", "Cmd=Sync&DeviceId=a%0Ab&DeviceType=t", ErrBadValue, "DeviceId"},
		{"bad escape", "Cmd=Sync&User=%zz&DeviceId=d&DeviceType=t", ErrBadValue, "query"},
		{"not base64", "hello world!", ErrBadBase64, "query"},
		{"bad percent in base64", "jAAJ%zz", ErrBadBase64, "query"},
		{"base64 too short", "jA", ErrTruncated, "command code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseQuery(tc.raw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseQuery(%q) error = %v, want %v", tc.raw, err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			if tc.wantField != "" && fe.Field != tc.wantField {
				t.Errorf("Field = %q, want %q (error %v)", fe.Field, tc.wantField, err)
			}
		})
	}
}

// fullQuery uses every field of the base64 form.
func fullQuery() *Query {
	return &Query{
		Form: FormBase64, Command: SmartForward, Version: V161, Locale: 0x0407,
		DeviceID: "ApplF17XXXXXXXX", DeviceType: "iPhone",
		PolicyKey: 3942919513, HasPolicyKey: true,
		AttachmentName: "att.doc", CollectionID: "7", ItemID: "7:3", LongID: "L1",
		Occurrence: "occ", User: `CONTOSO\jane`, SaveInSent: true, AcceptMultiPart: true,
	}
}

func fullQueryBytes(tb testing.TB) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.Join([]string{
		"A1", "02", "0704", // 16.1, SmartForward, locale 0x0407
		"0F", hex.EncodeToString([]byte("ApplF17XXXXXXXX")),
		"04", "592D04EB", // policy key 3942919513 (0xEB042D59) little-endian
		"06", hex.EncodeToString([]byte("iPhone")),
		"00", "07", hex.EncodeToString([]byte("att.doc")),
		"01", "01", "37",
		"03", "03", hex.EncodeToString([]byte("7:3")),
		"04", "02", hex.EncodeToString([]byte("L1")),
		"06", "03", hex.EncodeToString([]byte("occ")),
		"07", "01", "03",
		"08", "0C", hex.EncodeToString([]byte(`CONTOSO\jane`)),
	}, ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestBase64AllFields(t *testing.T) {
	want := fullQueryBytes(t)
	got, err := fullQuery().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalBinary =\n% X\nwant\n% X", got, want)
	}
	var q Query
	if err := q.UnmarshalBinary(want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullQuery(), &q); diff != "" {
		t.Errorf("UnmarshalBinary (-want +got):\n%s", diff)
	}
}

func TestBase64QuerySpellings(t *testing.T) {
	// Bytes whose base64 holds '+', '/' and padding.
	q := &Query{Form: FormBase64, Command: Ping, Version: V141, DeviceID: "\xfb\xef\xbe", DeviceIDBinary: false, DeviceType: "x>?"}
	q.DeviceID, q.DeviceIDBinary = deviceIDString([]byte(q.DeviceID))
	b, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(b)
	if !strings.ContainsAny(std, "+/") || !strings.HasSuffix(std, "=") {
		t.Fatalf("test bytes encode to %q, want '+', '/' and padding in it", std)
	}
	escaped, err := q.EncodeBase64()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(escaped, "+/=") {
		t.Errorf("EncodeBase64() = %q still holds '+', '/' or '='", escaped)
	}
	for _, raw := range []string{
		escaped,
		std,
		strings.TrimRight(std, "="),
		strings.ReplaceAll(escaped, "%2F", "%2f"),
	} {
		t.Run(raw, func(t *testing.T) {
			got, err := ParseQuery(raw)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(q, got); diff != "" {
				t.Errorf("ParseQuery (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeviceIDBinary(t *testing.T) {
	guid := []byte{0x6F, 0x9A, 0x4B, 0x10, 0x00, 0x01, 0xFF, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA}
	b := append([]byte{141, byte(Sync), 0x09, 0x04, byte(len(guid))}, guid...)
	b = append(b, 0, 3, 'P', 'P', 'C')
	var q Query
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if q.DeviceID != "6F9A4B100001FF2233445566778899AA" || !q.DeviceIDBinary {
		t.Errorf("DeviceID = %q, binary %v; want upper-case hex, binary", q.DeviceID, q.DeviceIDBinary)
	}
	out, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Errorf("MarshalBinary =\n% X\nwant\n% X", out, b)
	}
}

func TestUnmarshalBinaryErrors(t *testing.T) {
	head := []byte{141, byte(Sync), 0x09, 0x04, 1, 'd'}
	tail := []byte{0, 1, 't'}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name       string
		in         []byte
		want       error
		wantField  string
		wantOffset int
	}{
		{"unknown command code", []byte{141, 24, 9, 4, 1, 'd', 0, 1, 't'}, ErrUnknownCommand, "command code", 1},
		{"device id length 0", []byte{141, 0, 9, 4, 0, 0, 1, 't'}, ErrMissing, "DeviceId", 4},
		{"device type length 0", cat(head, []byte{0, 0}), ErrMissing, "DeviceType", 7},
		{"policy key of 3 bytes", cat(head, []byte{3, 1, 2, 3}, tail), ErrBadValue, "policy key length", 6},
		{"unassigned tag 2", cat(head, tail, []byte{2, 1, 'x'}), ErrUnknownParameter, "parameter tag", 9},
		{"unassigned tag 9", cat(head, tail, []byte{9, 0}), ErrUnknownParameter, "parameter tag", 9},
		{"duplicate User", cat(head, tail, []byte{8, 1, 'a', 8, 1, 'b'}), ErrDuplicate, "User", 12},
		{"Options of 2 bytes", cat(head, tail, []byte{7, 2, 1, 0}), ErrBadValue, "Options", 9},
		{"Options unknown bit", cat(head, tail, []byte{7, 1, 0x05}), ErrBadValue, "Options", 9},
		{"parameter value cut", cat(head, tail, []byte{1, 5, 'a'}), ErrTruncated, "CollectionId", 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var q Query
			err := q.UnmarshalBinary(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("UnmarshalBinary(% X) error = %v, want %v", tc.in, err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			if fe.Field != tc.wantField || fe.Offset != tc.wantOffset {
				t.Errorf("error at %q byte %d, want %q byte %d (%v)", fe.Field, fe.Offset, tc.wantField, tc.wantOffset, err)
			}
		})
	}
}

func TestUnmarshalBinaryTruncatedAtEveryByte(t *testing.T) {
	full := fullQueryBytes(t)
	// The fixed part ends after DeviceType; every parameter boundary after
	// it is a complete, shorter query.
	fixedEnd := 1 + 1 + 2 + 1 + 15 + 1 + 4 + 1 + 6
	boundaries := map[int]bool{fixedEnd: true}
	for off := fixedEnd; off < len(full); {
		off += 2 + int(full[off+1])
		boundaries[off] = true
	}
	for n := range len(full) {
		var q Query
		err := q.UnmarshalBinary(full[:n])
		if boundaries[n] {
			if err != nil {
				t.Errorf("prefix of %d bytes ends at a parameter boundary, error = %v", n, err)
			}
			continue
		}
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix of %d bytes: error = %v, want ErrTruncated", n, err)
			continue
		}
		var fe *FieldError
		if errors.As(err, &fe) && fe.Offset > n {
			t.Errorf("prefix of %d bytes: error offset %d beyond input", n, fe.Offset)
		}
	}
	if len(boundaries) != 8 {
		t.Errorf("found %d boundaries, want 8 (fixed part + 7 parameters)", len(boundaries))
	}
}

func TestMarshalBinaryErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Query)
		want   error
	}{
		{"version beyond a byte", func(q *Query) { q.Version = Version{26, 0} }, ErrBadValue},
		{"two-digit minor", func(q *Query) { q.Version = Version{14, 10} }, ErrBadValue},
		{"unknown command", func(q *Query) { q.Command = 99 }, ErrUnknownCommand},
		{"no device id", func(q *Query) { q.DeviceID = "" }, ErrMissing},
		{"no device type", func(q *Query) { q.DeviceType = "" }, ErrMissing},
		{"device id too long", func(q *Query) { q.DeviceID = strings.Repeat("a", 256) }, ErrBadValue},
		{"parameter too long", func(q *Query) { q.User = strings.Repeat("u", 256) }, ErrBadValue},
		{"binary device id not hex", func(q *Query) { q.DeviceIDBinary = true }, ErrBadValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := fullQuery()
			tc.modify(q)
			if _, err := q.MarshalBinary(); !errors.Is(err, tc.want) {
				t.Errorf("MarshalBinary error = %v, want %v", err, tc.want)
			}
			if _, err := q.EncodeBase64(); !errors.Is(err, tc.want) {
				t.Errorf("EncodeBase64 error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestQueryEncodeByForm(t *testing.T) {
	plain := &Query{Form: FormPlain, Command: Ping, DeviceID: "d", DeviceType: "t", PolicyKey: 5, HasPolicyKey: true}
	if got, _ := plain.Encode(); got != "Cmd=Ping&DeviceId=d&DeviceType=t" {
		t.Errorf("plain Encode() = %q", got)
	}
	q, err := ParseQuery(specVector)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Encode(); got != specVector {
		t.Errorf("base64 Encode() = %q, want %q", got, specVector)
	}
}

func TestBase64TextTruncatedAtEveryChar(t *testing.T) {
	for n := range len(specVector) {
		_, err := ParseQuery(specVector[:n])
		switch {
		case n == 0 && errors.Is(err, ErrMissing):
		case errors.Is(err, ErrTruncated), errors.Is(err, ErrBadBase64):
		default:
			t.Errorf("ParseQuery(first %d chars of the spec vector) error = %v, want ErrTruncated or ErrBadBase64", n, err)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := ParseQuery("jAAJBAp2MTQw")
	want := "eas DeviceId at byte 5: need 10 bytes, 4 left: truncated"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
