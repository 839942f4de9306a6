package attach

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The stream format; FORMAT.md describes it in full.
const (
	// Magic opens every encrypted stream.
	Magic = "ENFA"
	// Version is the format version this package writes.
	Version = 1
	// DefaultChunkSize is the plaintext size of every chunk but the last.
	DefaultChunkSize = 64 << 10
	// MinChunkSize and MaxChunkSize bound the chunk size a reader accepts,
	// and so the memory a decrypter holds.
	MinChunkSize = 64
	MaxChunkSize = 4 << 20
	// NoncePrefixSize is the random part of every chunk nonce.
	NoncePrefixSize = 8
	// HeaderSize is the size of the stream header.
	HeaderSize = len(Magic) + 1 + 4 + NoncePrefixSize + KeyIDSize
	// TagSize is what AES-GCM adds to each chunk.
	TagSize = 16
)

var (
	// ErrAuth: the stream was not encrypted under this key, or it was
	// modified, truncated, extended or reordered.
	ErrAuth = errors.New("attachment decryption failed: wrong key or damaged data")
	// ErrFormat: the data does not start with a stream header this
	// package understands.
	ErrFormat = errors.New("not an encrypted attachment stream")
)

// EncryptedSize returns the size of the stream [NewEncrypter] writes for
// plain bytes of plaintext: the header, the plaintext, and one tag per
// chunk, where an empty plaintext still has one (empty, last) chunk.
func EncryptedSize(plain int64) int64 {
	return encryptedSize(plain, DefaultChunkSize)
}

func encryptedSize(plain int64, chunk int) int64 {
	n := (plain + int64(chunk) - 1) / int64(chunk)
	if n == 0 {
		n = 1
	}
	return int64(HeaderSize) + plain + n*TagSize
}

func newAEAD(k Key) cipher.AEAD {
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic("attach: " + err.Error()) // a 32-byte key is always valid
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("attach: " + err.Error())
	}
	return g
}

type encrypter struct {
	w       io.Writer
	aead    cipher.AEAD
	chunk   int
	buf     []byte // plaintext of the pending chunk, room for the tag
	nonce   [12]byte
	aad     []byte // header || last flag
	counter uint64
	err     error
	closed  bool
}

// NewEncrypter writes the stream header to w and returns a writer that
// encrypts what is written to it under k. Close seals the last chunk; it
// must be called, and does not close w.
func NewEncrypter(w io.Writer, k Key) (io.WriteCloser, error) {
	return newEncrypter(w, k, DefaultChunkSize)
}

func newEncrypter(w io.Writer, k Key, chunk int) (*encrypter, error) {
	if chunk < MinChunkSize || chunk > MaxChunkSize {
		return nil, fmt.Errorf("attach: chunk size %d out of range", chunk)
	}
	// The buffer grows to a whole chunk only for attachments that need it:
	// most are small.
	e := &encrypter{w: w, aead: newAEAD(k), chunk: chunk, buf: make([]byte, 0, min(chunk, 4<<10)+TagSize)}
	hdr := make([]byte, 0, HeaderSize+1)
	hdr = append(hdr, Magic...)
	hdr = append(hdr, Version)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(chunk))
	var prefix [NoncePrefixSize]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, fmt.Errorf("attach: nonce: %w", err)
	}
	hdr = append(hdr, prefix[:]...)
	id := k.ID()
	hdr = append(hdr, id[:]...)
	copy(e.nonce[:], prefix[:])
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	e.aad = append(hdr, 0)
	return e, nil
}

func (e *encrypter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.closed {
		return 0, errors.New("attach: write after close")
	}
	n := 0
	for len(p) > 0 {
		// A full chunk is sealed only once more data arrives: until then
		// it may be the last one.
		if len(e.buf) == e.chunk {
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
		if room := cap(e.buf) - TagSize - len(e.buf); room < len(p) && cap(e.buf) < e.chunk+TagSize {
			nb := make([]byte, len(e.buf), min(max(2*cap(e.buf), len(e.buf)+len(p)+TagSize), e.chunk+TagSize))
			copy(nb, e.buf)
			e.buf = nb
		}
		c := copy(e.buf[len(e.buf):min(e.chunk, cap(e.buf)-TagSize)], p)
		e.buf = e.buf[:len(e.buf)+c]
		p = p[c:]
		n += c
	}
	return n, nil
}

func (e *encrypter) seal(last bool) error {
	if e.counter > 0xffffffff {
		e.err = errors.New("attach: stream too long")
		return e.err
	}
	binary.BigEndian.PutUint32(e.nonce[NoncePrefixSize:], uint32(e.counter))
	e.aad[HeaderSize] = 0
	if last {
		e.aad[HeaderSize] = 1
	}
	out := e.aead.Seal(e.buf[:0], e.nonce[:], e.buf, e.aad)
	e.counter++
	if _, err := e.w.Write(out); err != nil {
		e.err = err
		return err
	}
	e.buf = e.buf[:0]
	return nil
}

// Close seals the pending data as the last chunk.
func (e *encrypter) Close() error {
	if e.closed {
		return e.err
	}
	e.closed = true
	if e.err != nil {
		return e.err
	}
	return e.seal(true)
}

type decrypter struct {
	r       io.Reader
	aead    cipher.AEAD
	chunk   int
	buf     []byte // chunk+TagSize+1: a sealed chunk and one byte of look-ahead
	carry   int    // look-ahead bytes (0 or 1) to put at buf[0]
	look    byte
	plain   []byte // decrypted, not yet returned
	nonce   [12]byte
	aad     []byte
	counter uint64
	done    bool
	err     error
}

// NewDecrypter reads the stream header from r and returns a reader of the
// plaintext. It returns [ErrFormat] for data that is not a stream of this
// format and [ErrAuth] for a stream of another key. Each chunk is returned
// only after it is authenticated; a read error wrapping [ErrAuth] means the
// plaintext read so far must be discarded.
func NewDecrypter(r io.Reader, k Key) (io.Reader, error) {
	hdr := make([]byte, HeaderSize+1)
	if _, err := io.ReadFull(r, hdr[:HeaderSize]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: short header", ErrFormat)
		}
		return nil, err
	}
	if string(hdr[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if v := hdr[len(Magic)]; v != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrFormat, v, Version)
	}
	chunk := binary.BigEndian.Uint32(hdr[len(Magic)+1:])
	if chunk < MinChunkSize || chunk > MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d out of range", ErrFormat, chunk)
	}
	prefix := hdr[len(Magic)+5 : len(Magic)+5+NoncePrefixSize]
	id := k.ID()
	if string(hdr[HeaderSize-KeyIDSize:HeaderSize]) != string(id[:]) {
		return nil, fmt.Errorf("%w: stream key id %x, this key is %s", ErrAuth, hdr[HeaderSize-KeyIDSize:HeaderSize], k.KeyID())
	}
	d := &decrypter{r: r, aead: newAEAD(k), chunk: int(chunk), buf: make([]byte, int(chunk)+TagSize+1), aad: hdr}
	copy(d.nonce[:], prefix)
	return d, nil
}

func (d *decrypter) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.next()
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// next reads and opens one chunk. A chunk is the last one exactly when the
// stream ends within one byte after its full size: the look-ahead byte
// tells a full last chunk from a full middle one.
func (d *decrypter) next() error {
	want := d.chunk + TagSize + 1
	if d.carry == 1 {
		d.buf[0] = d.look
	}
	n, err := io.ReadFull(d.r, d.buf[d.carry:want])
	total := d.carry + n
	last := false
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	default:
		return err
	}
	sealed := d.buf[:total]
	if !last {
		sealed = d.buf[:want-1]
	}
	if len(sealed) < TagSize {
		return fmt.Errorf("%w: truncated chunk %d", ErrAuth, d.counter)
	}
	if d.counter > 0xffffffff {
		return fmt.Errorf("%w: too many chunks", ErrAuth)
	}
	binary.BigEndian.PutUint32(d.nonce[NoncePrefixSize:], uint32(d.counter))
	d.aad[HeaderSize] = 0
	if last {
		d.aad[HeaderSize] = 1
	}
	var look byte
	if !last {
		look = d.buf[want-1]
	}
	plain, oerr := d.aead.Open(sealed[:0], d.nonce[:], sealed, d.aad)
	if oerr != nil {
		return fmt.Errorf("%w: chunk %d", ErrAuth, d.counter)
	}
	d.counter++
	d.done = last
	d.plain = plain
	// The look-ahead byte goes to the front of buf only on the next call,
	// once the plaintext that overlaps it has been read out.
	d.carry, d.look = 0, look
	if !last {
		d.carry = 1
	}
	return nil
}
