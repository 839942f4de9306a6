package device

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCSVRoundTrip(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	in := []Record{
		{DeviceID: "zeta", User: `CONTOSO\jane`, Managed: true, Compromised: Yes, Encrypted: No, Platform: "Apple",
			Model: "iPhone 15 Pro", OSVersion: "17.4.1 (21E236)", LastCheckIn: t0, EASProfile: true, Override: OverrideWhitelist, Updated: t0.Add(time.Hour)},
		{DeviceID: "Alpha", User: "=HYPERLINK(\"http://evil\")", Model: "+cmd|' /C calc'!A0", OSVersion: "-1", Platform: "@SUM(1)"},
		{DeviceID: "'quoted", User: "'=already", Model: "line\nbreak, \"comma\"", Override: OverrideQuarantine},
		{DeviceID: "\ttab", Platform: "\rcr", Model: "ünïcødé", Override: OverrideBlacklist},
		{DeviceID: "bare"},
	}
	ptrs := make([]*Record, len(in))
	for i := range in {
		ptrs[i] = &in[i]
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, ptrs); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, cell := range []string{`'=HYPERLINK`, `'+cmd`, `'-1`, `'@SUM`, `''quoted`, `''=already`, "'\ttab"} {
		if !strings.Contains(out, cell) {
			t.Errorf("export lacks the escaped cell %q:\n%s", cell, out)
		}
	}
	if !strings.HasPrefix(out, strings.Join(CSVColumns, ",")+"\n") {
		t.Errorf("header: %q", strings.SplitN(out, "\n", 2)[0])
	}
	got, err := ReadCSV(strings.NewReader(out), "devices.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{in[2], in[1], in[4], in[3], in[0]} // sorted by folded device ID: "'quoted", alpha, bare, tab, zeta
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestReadCSVSubsetAndSpreadsheetQuirks(t *testing.T) {
	in := "\uFEFFOverride, Device_ID ,managed\r\nblock,a1,YES\r\n,b2,\r\nallow,c3,0\r\n"
	got, err := ReadCSV(strings.NewReader(in), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{DeviceID: "a1", Managed: true, Override: OverrideBlacklist},
		{DeviceID: "b2"},
		{DeviceID: "c3", Override: OverrideWhitelist},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", []string{"devices.csv:1: empty file: want a header row"}},
		{"unknown column", "device_id,colour\n", []string{"devices.csv:1: column 2: unknown column name; want device_id, user"}},
		{"repeated column", "device_id,user,USER\n", []string{"devices.csv:1: user: column 3 repeats column 2"}},
		{"no device_id", "user\njane\n", []string{"devices.csv:1: device_id: missing column"}},
		{"every row checked", "device_id,managed,compromised,last_check_in,override\n" +
			"a,maybe,yes,,\n" +
			"b,true,sometimes,2024-05-01,\n" +
			"c,true,no,,forbid\n" +
			",true,no,,\n" +
			"A,false,,,\n" +
			"d,true\n",
			[]string{
				`devices.csv:2: managed: want true or false`,
				`devices.csv:3: compromised: want yes, no or empty`,
				`devices.csv:3: last_check_in: want an RFC 3339 time`,
				`devices.csv:4: override: want default, whitelist`,
				`devices.csv:5: device_id: empty`,
				`devices.csv:6: device_id: the device of line 2 again`,
				`devices.csv:7: 2 cells, want 5 as in the header`,
			}},
		{"multi-line cell keeps line numbers", "device_id,model\na,\"two\nlines\"\nb,x\nc,\"bad\" quote\n", []string{`devices.csv:5: column 7: extraneous or missing " in quoted-field`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := ReadCSV(strings.NewReader(tc.in), "devices.csv")
			if err == nil {
				t.Fatalf("no error; records %+v", recs)
			}
			if recs != nil {
				t.Errorf("records returned with an error: %+v", recs)
			}
			if !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("error does not wrap ErrInvalidRecord: %v", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if i < len(lines) && !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d: %q\nwant prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestWriteCSVFormulaPrefixes: every OWASP formula start (and NUL) is
// defused in every client-supplied column. Before, a cell starting with a
// line feed or NUL went out bare.
func TestWriteCSVFormulaPrefixes(t *testing.T) {
	var recs []*Record
	for i, p := range []string{"=", "+", "-", "@", "\t", "\r", "\n", "\x00"} {
		recs = append(recs, &Record{DeviceID: p + "HYPERLINK" + string(rune('a'+i)), User: p + "user", Platform: p + "p", Model: p + "m", OSVersion: p + "1"})
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, recs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		for _, col := range []int{0, 1, 5, 6, 7} {
			if row[col] == "" || row[col][0] != '\'' {
				t.Errorf("column %s cell %q is not defused", CSVColumns[col], row[col])
			}
		}
	}
}

// TestReadCSVErrorsNeverQuoteCells: an import error says where and what,
// never the cell: the file may be one that should not have been named,
// and errors reach logs.
func TestReadCSVErrorsNeverQuoteCells(t *testing.T) {
	const secret = "s3cr3tVALUE"
	for _, in := range []string{
		"device_id," + secret + "\n",
		"device_id,managed\na," + secret + "\n",
		"device_id,compromised\na," + secret + "\n",
		"device_id,override\na," + secret + "\n",
		"device_id,updated\na," + secret + "\n",
		"device_id\n" + secret + "\n" + secret + "\n",
		"device_id,user\n\"" + secret + "\" x,y\n",
	} {
		_, err := ReadCSV(strings.NewReader(in), "devices.csv")
		if err == nil {
			t.Fatalf("accepted %q", in)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes a cell: %v", err)
		}
	}
}
