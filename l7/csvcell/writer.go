package csvcell

import (
	"encoding/csv"
	"io"
)

// Writer is the one CSV writer of the gateway's exports: encoding/csv
// with every cell passed through Escape, so no export can forget a
// column that a client controls.
type Writer struct {
	cw  *csv.Writer
	row []string
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{cw: csv.NewWriter(w)} }

// Write writes one record, each cell escaped. An error is also kept for
// Flush.
func (w *Writer) Write(cells ...string) error {
	w.row = w.row[:0]
	for _, c := range cells {
		w.row = append(w.row, Escape(c))
	}
	return w.cw.Write(w.row)
}

// Flush writes what is buffered and returns the first error of any Write
// or of the flush.
func (w *Writer) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}
