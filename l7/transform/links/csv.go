package links

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ReadDomainsCSV reads a domain list for [Config.Domains], as the
// reference gateway's bulk upload takes it: one domain per row in the
// first column (other columns are ignored), an optional header row whose
// first cell is "domain", '#' comment lines, blank rows skipped. A leading
// UTF-8 byte order mark (spreadsheet exports) and a leading quote (') that
// a spreadsheet adds to keep a cell text are removed. Domains come back
// normalized (lower case, no "*." or trailing dot) and without duplicates,
// in file order. name names the input in errors, "name:line: problem",
// which wrap [ErrInvalidConfig] and never quote the file's content.
func ReadDomainsCSV(r io.Reader, name string) ([]string, error) {
	br := bufio.NewReader(r)
	if b, _ := br.Peek(3); string(b) == "\uFEFF" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var out []string
	seen := make(map[string]bool)
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %v: %w", name, pe.Line, pe.Err, ErrInvalidConfig)
			}
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		cell := rec[0]
		if row == 0 && strings.EqualFold(strings.TrimSpace(cell), "domain") {
			continue
		}
		cell = strings.TrimPrefix(strings.TrimSpace(cell), "'")
		if strings.TrimSpace(cell) == "" {
			continue
		}
		d, addr, err := normalizeDomain(cell)
		if err != nil {
			// Never the cell itself: the file may be one that should not
			// have been named (a secret), and the error reaches logs and
			// HTTP answers.
			problem := err.Error()
			var bc badCharError
			if errors.As(err, &bc) {
				problem = "a character not allowed in a domain name"
			}
			return nil, fmt.Errorf("%s:%d: column 1: not a domain: %s: %w", name, line, problem, ErrInvalidConfig)
		}
		if addr.IsValid() {
			d = addr.String()
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
}
