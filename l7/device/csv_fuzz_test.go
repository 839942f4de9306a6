package device

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzReadCSV feeds arbitrary files to the device import: it must never
// panic, every refusal must name the file, and whatever it accepts must
// come back the same through WriteCSV and ReadCSV again.
func FuzzReadCSV(f *testing.F) {
	f.Add(strings.Join(CSVColumns, ",") + "\nDev1,jane@contoso.com,true,yes,no,Apple,iPhone 15,17.4,2024-05-01T10:00:00Z,true,whitelist,2024-05-01T11:00:00Z\n")
	f.Add("device_id,user\n'=cmd,\"a,b\"\n")
	f.Add("\uFEFFdevice_id,override\nx,quarantine\ny,\n")
	f.Add("device_id,managed\nx,maybe\n")
	f.Add("user\njane\n")
	f.Add("device_id,device_id\na,b\n")
	f.Add("device_id,last_check_in\na,yesterday\n")
	f.Fuzz(func(t *testing.T, in string) {
		recs, err := ReadCSV(strings.NewReader(in), "in.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "in.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		ptrs := make([]*Record, len(recs))
		for i := range recs {
			ptrs[i] = &recs[i]
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, ptrs); err != nil {
			t.Fatalf("WriteCSV of what ReadCSV accepted: %v", err)
		}
		again, err := ReadCSV(bytes.NewReader(buf.Bytes()), "out.csv")
		if err != nil {
			t.Fatalf("ReadCSV of WriteCSV's output: %v\n%s", err, buf.Bytes())
		}
		// WriteCSV sorts by folded device ID; compare as sets in that order.
		want := make([]Record, 0, len(ptrs))
		sorted := slices.Clone(ptrs)
		slices.SortStableFunc(sorted, func(a, b *Record) int { return cmp.Compare(foldString(a.DeviceID), foldString(b.DeviceID)) })
		for _, r := range sorted {
			want = append(want, *r)
		}
		if diff := gocmp.Diff(want, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}
