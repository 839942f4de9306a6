package attach

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
)

func mustKeys(tb testing.TB) (dev1, dev2 Key) {
	tb.Helper()
	m, err := LoadOrCreateMaster(filepath.Join(tb.TempDir(), "attach.key"))
	if err != nil {
		tb.Fatal(err)
	}
	return m.Key("ApplDEV1", "jane@contoso.com"), m.Key("ApplDEV2", "jane@contoso.com")
}

func encrypt(tb testing.TB, k Key, chunk int, plain []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	e, err := newEncrypter(&buf, k, chunk)
	if err != nil {
		tb.Fatal(err)
	}
	// Uneven writes exercise the chunk buffering.
	for p := plain; len(p) > 0; {
		n := min(len(p), 1+len(p)%777)
		if _, err := e.Write(p[:n]); err != nil {
			tb.Fatal(err)
		}
		p = p[n:]
	}
	if err := e.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func decrypt(k Key, sealed []byte) ([]byte, error) {
	d, err := NewDecrypter(bytes.NewReader(sealed), k)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(d)
}

func TestRoundTrip(t *testing.T) {
	k, _ := mustKeys(t)
	const c = DefaultChunkSize
	for _, size := range []int{0, 1, c - 1, c, c + 1, 2 * c, 7*c + 13} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			plain := make([]byte, size)
			rand.Read(plain)
			var buf bytes.Buffer
			e, err := NewEncrypter(&buf, k)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Write(plain); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if got, want := int64(buf.Len()), EncryptedSize(int64(size)); got != want {
				t.Errorf("size %d, EncryptedSize says %d", got, want)
			}
			got, err := decrypt(k, buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("round trip changed %d bytes", size)
			}
		})
	}
}

func TestEncryptedSize(t *testing.T) {
	for _, tc := range []struct{ plain, want int64 }{
		{0, 25 + 16},
		{1, 25 + 1 + 16},
		{65536, 25 + 65536 + 16},
		{65537, 25 + 65537 + 32},
		{10 << 20, 25 + 10<<20 + 160*16},
	} {
		if got := EncryptedSize(tc.plain); got != tc.want {
			t.Errorf("EncryptedSize(%d) = %d, want %d", tc.plain, got, tc.want)
		}
	}
}

func TestSmallChunks(t *testing.T) {
	k, _ := mustKeys(t)
	for size := 0; size < 600; size += 37 {
		plain := bytes.Repeat([]byte{byte(size)}, size)
		sealed := encrypt(t, k, 64, plain)
		if int64(len(sealed)) != encryptedSize(int64(size), 64) {
			t.Fatalf("size %d: %d bytes, want %d", size, len(sealed), encryptedSize(int64(size), 64))
		}
		got, err := decrypt(k, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: err %v, equal %v", size, err, bytes.Equal(got, plain))
		}
	}
}

func TestWrongKey(t *testing.T) {
	k1, k2 := mustKeys(t)
	sealed := encrypt(t, k1, DefaultChunkSize, []byte("quarterly figures"))
	if _, err := decrypt(k2, sealed); !errors.Is(err, ErrAuth) {
		t.Fatalf("other device's key: err %v, want ErrAuth", err)
	}
	// With the key id forged to match, the chunk tag still fails.
	forged := bytes.Clone(sealed)
	id := k2.ID()
	copy(forged[HeaderSize-KeyIDSize:], id[:])
	if _, err := decrypt(k2, forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged key id: err %v, want ErrAuth", err)
	}
}

func TestTampering(t *testing.T) {
	k, _ := mustKeys(t)
	const c = 64
	plain := make([]byte, 5*c+10) // chunks: 5 full + 1 short
	rand.Read(plain)
	sealed := encrypt(t, k, c, plain)
	sc := c + TagSize
	exact := encrypt(t, k, c, plain[:3*c]) // 3 full chunks, the last one full
	chunkAt := func(i int) []byte { return sealed[HeaderSize+i*sc : HeaderSize+(i+1)*sc] }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	tests := []struct {
		name string
		data []byte
	}{
		{"truncated at chunk boundary", sealed[:HeaderSize+3*sc]},
		{"truncated inside chunk", sealed[:HeaderSize+3*sc+5]},
		{"truncated in last chunk", sealed[:len(sealed)-1]},
		{"truncated to header", sealed[:HeaderSize]},
		{"full last chunk dropped", exact[:HeaderSize+2*sc]},
		{"extended by a byte", cat(sealed, []byte{0})},
		{"extended after full last chunk", cat(exact, []byte{0})},
		{"extended by a chunk", cat(sealed, chunkAt(1))},
		{"chunks swapped", cat(sealed[:HeaderSize], chunkAt(1), chunkAt(0), sealed[HeaderSize+2*sc:])},
		{"chunk duplicated", cat(sealed[:HeaderSize], chunkAt(0), chunkAt(0), sealed[HeaderSize+sc:])},
		{"chunk dropped", cat(sealed[:HeaderSize], chunkAt(0), sealed[HeaderSize+2*sc:])},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decrypt(k, tc.data); !errors.Is(err, ErrAuth) {
				t.Fatalf("err %v, want ErrAuth", err)
			}
		})
	}
	t.Run("every bit flipped", func(t *testing.T) {
		for i := range len(sealed) * 8 {
			d := bytes.Clone(sealed)
			d[i/8] ^= 1 << (i % 8)
			_, err := decrypt(k, d)
			if i/8 < 9 {
				// magic, version, chunk size: not a stream, or not ours.
				if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrAuth) {
					t.Fatalf("bit %d: err %v", i, err)
				}
				continue
			}
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("bit %d (byte %d): err %v, want ErrAuth", i, i/8, err)
			}
		}
	})
	t.Run("chunk size rewritten", func(t *testing.T) {
		d := bytes.Clone(sealed)
		binary.BigEndian.PutUint32(d[5:], 2*c)
		if _, err := decrypt(k, d); !errors.Is(err, ErrAuth) {
			t.Fatalf("err %v, want ErrAuth", err)
		}
	})
}

func TestFormatErrors(t *testing.T) {
	k, _ := mustKeys(t)
	good := encrypt(t, k, DefaultChunkSize, []byte("x"))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", good[:10]},
		{"bad magic", append([]byte("ENFB"), good[4:]...)},
		{"version 2", append(append([]byte("ENFA"), 2), good[5:]...)},
		{"chunk size 0", append(append([]byte("ENFA\x01"), 0, 0, 0, 0), good[9:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decrypt(k, tc.data); !errors.Is(err, ErrFormat) {
				t.Fatalf("err %v, want ErrFormat", err)
			}
		})
	}
}

func TestDistinctStreams(t *testing.T) {
	k, _ := mustKeys(t)
	a := encrypt(t, k, DefaultChunkSize, []byte("same"))
	b := encrypt(t, k, DefaultChunkSize, []byte("same"))
	if bytes.Equal(a[9:17], b[9:17]) || bytes.Equal(a, b) {
		t.Fatal("two streams share a nonce prefix")
	}
}

func BenchmarkEncrypt(b *testing.B) {
	k, _ := mustKeys(b)
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		e, err := NewEncrypter(io.Discard, k)
		if err != nil {
			b.Fatal(err)
		}
		e.Write(buf)
		e.Close()
	}
}

func BenchmarkDecrypt(b *testing.B) {
	k, _ := mustKeys(b)
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	sealed := encrypt(b, k, DefaultChunkSize, buf)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		d, err := NewDecrypter(bytes.NewReader(sealed), k)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, d)
	}
}
