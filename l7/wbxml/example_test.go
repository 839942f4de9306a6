package wbxml_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/mailgate/enforcer/l7/wbxml"
)

// The proxy answers a blocked device's FolderSync with Status 129
// (DeviceIsBlockedForThisUser).
func ExampleEncode() {
	resp := wbxml.Elem("FolderHierarchy:FolderSync",
		wbxml.ElemText("FolderHierarchy:Status", "129"),
	)
	b, err := wbxml.Encode(resp)
	if err != nil {
		panic(err)
	}
	fmt.Printf("% X\n", b)
	// Output: 03 01 6A 00 00 07 56 4C 03 31 32 39 00 01 01
}

func ExampleDecode() {
	in := []byte{0x03, 0x01, 0x6A, 0x00, 0x00, 0x07, 0x56, 0x4C, 0x03, '1', '2', '9', 0x00, 0x01, 0x01}
	root, err := wbxml.Decode(in)
	if err != nil {
		panic(err)
	}
	fmt.Print(root)
	fmt.Println(root.Child("FolderHierarchy:Status").Value())
	// Output:
	// <FolderHierarchy:FolderSync>
	//   <FolderHierarchy:Status>129</FolderHierarchy:Status>
	// </FolderHierarchy:FolderSync>
	// 129
}

// A streaming transform: copy every token, replacing the text of each
// AirSyncBase:Data element, with memory bounded by the largest value.
func ExampleDecoder() {
	in, _ := wbxml.Encode(wbxml.Elem("AirSyncBase:Body",
		wbxml.ElemText("AirSyncBase:Type", "2"),
		wbxml.ElemText("AirSyncBase:Data", "<a href='http://x'>x</a>"),
	))
	dec := wbxml.NewDecoder(bytes.NewReader(in), wbxml.Limits{})
	var out bytes.Buffer
	enc := wbxml.NewEncoder(&out)
	data := wbxml.MustTag("AirSyncBase:Data")
	var inData bool
	for {
		tok, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		switch {
		case tok.Kind == wbxml.StartTag:
			inData = tok.Tag == data
		case tok.Kind == wbxml.EndTag:
			inData = false
		case inData:
			tok.Data = []byte("(rewritten)")
		}
		if err := enc.WriteToken(tok); err != nil {
			panic(err)
		}
	}
	if err := enc.Close(); err != nil {
		panic(err)
	}
	root, _ := wbxml.Decode(out.Bytes())
	fmt.Print(root)
	// Output:
	// <AirSyncBase:Body>
	//   <AirSyncBase:Type>2</AirSyncBase:Type>
	//   <AirSyncBase:Data>(rewritten)</AirSyncBase:Data>
	// </AirSyncBase:Body>
}
