package device

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mailgate/enforcer/l7/csvcell"
)

// CSVColumns are the columns of the device record CSV format, named as
// the JSON wire format names the fields. [WriteCSV] writes all of them in
// this order; [ReadCSV] takes them in any order, and any subset that
// includes device_id.
//
//	device_id      the EAS DeviceId; required, unique (case-insensitively)
//	user           DOMAIN\user or user@domain; empty: any user
//	managed        true or false (also yes/no, 1/0); empty: false
//	compromised    yes, no, or empty (not reported)
//	encrypted      yes, no, or empty (not reported)
//	platform       "Apple", "Android", ...
//	model          "iPhone 15 Pro"
//	os_version     "17.4.1"
//	last_check_in  RFC 3339 time; empty: never
//	eas_profile    true or false, as managed
//	override       default, whitelist, blacklist or quarantine (also allow, block); empty: default
//	updated        RFC 3339 time; empty: unknown
//
// A cell that starts with '=', '+', '-', '@', a tab, a carriage return,
// a line feed, NUL or a quote (') is written with a quote (') in front
// (package csvcell), so that a spreadsheet opening the file takes it for
// text, not a formula (CSV injection); ReadCSV removes that quote again.
var CSVColumns = []string{
	"device_id", "user", "managed", "compromised", "encrypted", "platform",
	"model", "os_version", "last_check_in", "eas_profile", "override", "updated",
}

// maxCSVErrors bounds the problems ReadCSV reports, so that importing the
// wrong file gives a readable answer.
const maxCSVErrors = 50

// CSVError is one problem in a CSV file: where, in which column, and what.
// It never quotes a cell: the file may not be what the operator meant to
// import, and errors reach logs.
type CSVError struct {
	File    string
	Line    int
	Column  string // "" for a problem with the row or the file
	Problem string
}

func (e *CSVError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Problem)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Column, e.Problem)
}

// Unwrap returns ErrInvalidRecord.
func (e *CSVError) Unwrap() error { return ErrInvalidRecord }

// WriteCSV writes a header row and one row per record, sorted by folded
// device ID, in the format of [CSVColumns].
func WriteCSV(w io.Writer, recs []*Record) error {
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b *Record) int { return cmp.Compare(foldString(a.DeviceID), foldString(b.DeviceID)) })
	cw := csvcell.NewWriter(w)
	cw.Write(CSVColumns...)
	for _, r := range sorted {
		cw.Write(r.DeviceID, r.User, csvBool(r.Managed), r.Compromised.String(), r.Encrypted.String(),
			r.Platform, r.Model, r.OSVersion, csvTime(r.LastCheckIn), csvBool(r.EASProfile),
			r.Override.String(), csvTime(r.Updated))
	}
	if err := cw.Flush(); err != nil {
		return fmt.Errorf("write device csv: %w", err)
	}
	return nil
}

func csvBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ReadCSV reads records in the format of [CSVColumns]; name is the file
// name its errors report. Every row is checked; the problems are
// reported together (up to 50), each a [*CSVError] "file:line: column:
// problem", and then no record is returned.
func ReadCSV(r io.Reader, name string) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked here, to say which line
	var errs []error
	bad := func(line int, column, format string, a ...any) {
		if len(errs) < maxCSVErrors {
			errs = append(errs, &CSVError{File: name, Line: line, Column: column, Problem: fmt.Sprintf(format, a...)})
		}
	}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &CSVError{File: name, Line: 1, Problem: "empty file: want a header row naming the columns (" + strings.Join(CSVColumns, ",") + ")"}
	}
	if err != nil {
		return nil, csvParseError(name, err)
	}
	cols := make([]int, len(header)) // index into CSVColumns
	seen := map[int]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF") // spreadsheets write a byte order mark
		}
		h = strings.ToLower(strings.TrimSpace(h))
		j := slices.Index(CSVColumns, h)
		switch {
		case j < 0:
			bad(1, fmt.Sprintf("column %d", i+1), "unknown column name; want %s", strings.Join(CSVColumns, ", "))
		case seen[j] > 0:
			bad(1, h, "column %d repeats column %d", i+1, seen[j])
		default:
			seen[j] = i + 1
		}
		cols[i] = j
	}
	if seen[0] == 0 && len(errs) == 0 {
		bad(1, "device_id", "missing column; every record needs the device's EAS DeviceId")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	var recs []Record
	lines := map[string]int{} // folded device ID → line
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// After a quoting error the rows that follow cannot be trusted
			// to start where the reader thinks.
			if len(errs) < maxCSVErrors {
				errs = append(errs, csvParseError(name, err))
			}
			break
		}
		line, _ := cr.FieldPos(0)
		if len(row) != len(header) {
			bad(line, "", "%d cells, want %d as in the header", len(row), len(header))
			continue
		}
		if len(row) == 1 && row[0] == "" {
			continue
		}
		var rec Record
		ok := true
		for i, cell := range row {
			cellLine, _ := cr.FieldPos(i)
			col := CSVColumns[cols[i]]
			v := csvcell.Unescape(cell)
			if problem := rec.setCSV(col, v); problem != "" {
				bad(cellLine, col, "%s", problem)
				ok = false
			}
		}
		if k := foldString(rec.DeviceID); k != "" {
			if prev, dup := lines[k]; dup {
				bad(line, "device_id", "the device of line %d again (device ids compare without regard to case)", prev)
				continue
			}
			lines[k] = line
		}
		if !ok {
			continue
		}
		if err := rec.validate(); err != nil {
			var re *RecordError
			if errors.As(err, &re) && re.Field == "DeviceID" {
				bad(line, "device_id", "empty; every record needs the device's EAS DeviceId")
			} else {
				bad(line, "", "%v", err)
			}
			continue
		}
		recs = append(recs, rec)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return recs, nil
}

// setCSV sets the field of column col from a cell, or says what is wrong.
func (r *Record) setCSV(col, v string) string {
	switch col {
	case "device_id":
		r.DeviceID = v
	case "user":
		r.User = v
	case "platform":
		r.Platform = v
	case "model":
		r.Model = v
	case "os_version":
		r.OSVersion = v
	case "managed", "eas_profile":
		b, ok := parseCSVBool(v)
		if !ok {
			return "want true or false"
		}
		if col == "managed" {
			r.Managed = b
		} else {
			r.EASProfile = b
		}
	case "compromised", "encrypted":
		var f Fact
		if err := f.UnmarshalText([]byte(v)); err != nil {
			return "want yes, no or empty"
		}
		if col == "compromised" {
			r.Compromised = f
		} else {
			r.Encrypted = f
		}
	case "override":
		o, err := ParseOverride(v)
		if err != nil {
			return "want default, whitelist, blacklist or quarantine"
		}
		r.Override = o
	case "last_check_in", "updated":
		var t time.Time
		if s := strings.TrimSpace(v); s != "" {
			var err error
			if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return "want an RFC 3339 time such as 2024-05-01T12:00:00Z"
			}
			t = t.UTC()
		}
		if col == "updated" {
			r.Updated = t
		} else {
			r.LastCheckIn = t
		}
	}
	return ""
}

func parseCSVBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "no", "0":
		return false, true
	case "true", "yes", "1":
		return true, true
	}
	return false, false
}

// csvParseError reports encoding/csv's errors in the file:line form.
func csvParseError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &CSVError{File: name, Line: pe.Line, Problem: fmt.Sprintf("column %d: %v", pe.Column, pe.Err)}
	}
	return fmt.Errorf("read %s: %w", name, err)
}
