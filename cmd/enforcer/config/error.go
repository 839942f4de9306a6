package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string // the name given to Parse (the path for Load)
	Line int    // 1-based; 0 when unknown
	Col  int    // 1-based; 0 when unknown
	// Field is the path of the offending field as written in the file,
	// e.g. services[2].allow[0]; "" for the file as a whole.
	Field string
	// Msg says what is wrong and what to do.
	Msg string
}

// String formats p as file:line:col: field: message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem found in a configuration file, in file order.
type Error struct {
	// Problems are the first MaxProblems problems.
	Problems []Problem
	// Omitted counts the problems found beyond those.
	Omitted int
}

// Error prints one problem a line.
func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	if e.Omitted > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems; fix these first", e.Omitted))
	}
	return strings.Join(lines, "\n")
}
