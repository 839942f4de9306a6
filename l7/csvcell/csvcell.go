// Package csvcell defuses CSV cells that a spreadsheet would run as a
// formula (CSV injection, OWASP "CSV Injection"): every CSV the gateway
// writes (device records, discovered devices, accounts, attachment
// policy, 451 redirect mappings) is written with its Writer, which passes
// each cell through Escape, since device ids, user names and user agents
// come from clients. It knows CSV cells only, none of the exports'
// columns.
package csvcell

// formulaStart reports whether a cell starting with c is written with a
// protective quote: the characters OWASP lists (=, +, -, @, tab, carriage
// return, and line feed, added to the list in 2025), NUL (OWASP ASVS 5.0
// V1.2.10), and the quote itself, so that the quote Unescape removes is
// always one Escape added.
func formulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r', '\n', 0, '\'':
		return true
	}
	return false
}

// Escape returns s with a single quote (') in front when it starts with a
// character a spreadsheet takes for the start of a formula, so that the
// cell is read as text.
func Escape(s string) string {
	if s != "" && formulaStart(s[0]) {
		return "'" + s
	}
	return s
}

// Unescape removes the quote Escape added; other cells come back as they
// are.
func Unescape(s string) string {
	if len(s) >= 2 && s[0] == '\'' && formulaStart(s[1]) {
		return s[1:]
	}
	return s
}
