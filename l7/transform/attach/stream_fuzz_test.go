package attach

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecrypter attacks the stream reader. Arbitrary bytes (raw) must
// never decrypt; a real stream with edits must fail unless no byte really
// changed, and then give back exactly the plaintext. Nothing may panic,
// and a failure is ErrFormat or ErrAuth.
func FuzzDecrypter(f *testing.F) {
	f.Add(false, []byte("hello, attachment"), []byte{}, uint8(0))
	f.Add(false, bytes.Repeat([]byte("x"), 300), []byte{40, 1}, uint8(1))
	f.Add(false, bytes.Repeat([]byte("y"), 200), []byte{255, 0, 7, 0x80}, uint8(3))
	f.Add(false, []byte{}, []byte{0, 1}, uint8(0))
	f.Add(true, []byte(Magic+"\x01\x00\x00\x00\x40"), []byte{}, uint8(0))
	key, other := mustKeys(f)
	f.Fuzz(func(t *testing.T, raw bool, data, edits []byte, chunkSel uint8) {
		if raw {
			r, err := NewDecrypter(bytes.NewReader(data), key)
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if err == nil {
				t.Fatalf("arbitrary %d bytes decrypted", len(data))
			}
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrAuth) {
				t.Fatalf("error is neither ErrFormat nor ErrAuth: %v", err)
			}
			return
		}
		chunk := MinChunkSize * (1 + int(chunkSel%4))
		var ct bytes.Buffer
		e, err := newEncrypter(&ct, key, chunk)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if got := int64(ct.Len()); got != encryptedSize(int64(len(data)), chunk) {
			t.Fatalf("stream of %d bytes, encryptedSize says %d", got, encryptedSize(int64(len(data)), chunk))
		}
		orig := bytes.Clone(ct.Bytes())
		b := ct.Bytes()
		// edits: pairs (position, xor); a position byte of 255 instead
		// truncates the stream at the next byte's position.
		for i := 0; i+1 < len(edits); i += 2 {
			if len(b) == 0 {
				break
			}
			pos := int(edits[i]) * len(b) / 255
			if edits[i] == 255 {
				b = b[:int(edits[i+1])*len(b)/256]
				continue
			}
			if pos >= len(b) {
				pos = len(b) - 1
			}
			b[pos] ^= edits[i+1]
		}
		useKey := key
		if len(edits)%2 == 1 && edits[len(edits)-1]&1 == 1 {
			useKey = other
		}
		r, err := NewDecrypter(bytes.NewReader(b), useKey)
		var plain []byte
		if err == nil {
			plain, err = io.ReadAll(r)
		}
		same := bytes.Equal(b, orig) && useKey == key
		switch {
		case same && err != nil:
			t.Fatalf("an untouched stream fails: %v", err)
		case same && !bytes.Equal(plain, data):
			t.Fatal("an untouched stream gives back other bytes")
		case !same && err == nil:
			t.Fatalf("a changed stream (or another key) decrypted to %d bytes", len(plain))
		case err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrAuth):
			t.Fatalf("error is neither ErrFormat nor ErrAuth: %v", err)
		}
	})
}
