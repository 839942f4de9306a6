package wbxml

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mustHex parses hex bytes; whitespace is ignored and lines starting with
// '#' are comments.
func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	var clean strings.Builder
	for line := range strings.Lines(s) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		tb.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func mustHexFile(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return mustHex(tb, string(raw))
}

// doc prepends the EAS header to a body given in hex.
func doc(tb testing.TB, body string) []byte {
	tb.Helper()
	return append(header[:], mustHex(tb, body)...)
}

// pipe decodes b token by token and re-encodes every token, as a streaming
// transform that changes nothing would.
func pipe(b []byte, lim Limits) ([]byte, error) {
	d := NewDecoder(bytes.NewReader(b), lim)
	var out bytes.Buffer
	e := NewEncoder(&out)
	for {
		t, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := e.WriteToken(t); err != nil {
			return nil, err
		}
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// mustDecode decodes b or fails the test.
func mustDecode(tb testing.TB, b []byte) *Node {
	tb.Helper()
	n, err := Decode(b)
	if err != nil {
		tb.Fatalf("Decode(% X): %v", b, err)
	}
	return n
}

// mustEncode encodes n or fails the test.
func mustEncode(tb testing.TB, n *Node) []byte {
	tb.Helper()
	b, err := Encode(n)
	if err != nil {
		tb.Fatalf("Encode:\n%s\nerror: %v", n, err)
	}
	return b
}

// withSwitch marks n as preceded by an explicit SWITCH_PAGE.
func withSwitch(n *Node) *Node {
	n.Switch = true
	return n
}
