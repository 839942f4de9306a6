package wbxml

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// specContactTree is the XML of [MS-ASWBXML] section 3 as a tree; the
// SWITCH_PAGE flags mark where the specification's bytes switch pages.
func specContactTree() *Node {
	return Elem("AirSync:Sync",
		Elem("AirSync:Collections",
			Elem("AirSync:Collection",
				ElemText("AirSync:Class", "Contacts"),
				ElemText("AirSync:SyncKey", "2"),
				ElemText("AirSync:CollectionId", "2"),
				ElemText("AirSync:Status", "1"),
				Elem("AirSync:Commands",
					Elem("AirSync:Add",
						ElemText("AirSync:ServerId", "2:1"),
						Elem("AirSync:ApplicationData",
							withSwitch(Elem("AirSyncBase:Body",
								ElemText("AirSyncBase:Type", "1"),
								ElemText("AirSyncBase:EstimatedDataSize", "0"),
								ElemText("AirSyncBase:Truncated", "1"),
							)),
							withSwitch(ElemText("Contacts:FileAs", "Funk, Don")),
							ElemText("Contacts:FirstName", "Don"),
							ElemText("Contacts:LastName", "Funk"),
							withSwitch(ElemText("AirSyncBase:NativeBodyType", "1")),
						),
					),
				),
			),
		),
	)
}

func TestSpecExampleDecodes(t *testing.T) {
	in := mustHexFile(t, "ms-aswbxml-3-sync-add-contact.hex")
	got := mustDecode(t, in)
	if diff := cmp.Diff(specContactTree(), got); diff != "" {
		t.Errorf("Decode(spec example) mismatch (-want +got):\n%s", diff)
	}
}

func TestSpecExampleEncodes(t *testing.T) {
	want := mustHexFile(t, "ms-aswbxml-3-sync-add-contact.hex")

	t.Run("tree as decoded", func(t *testing.T) {
		if got := mustEncode(t, specContactTree()); !bytes.Equal(got, want) {
			t.Errorf("Encode =\n% X\nwant\n% X", got, want)
		}
	})
	t.Run("tree built without switch flags", func(t *testing.T) {
		// The encoder inserts SWITCH_PAGE exactly where the page changes,
		// which is what the specification's encoder did.
		tree := specContactTree()
		tree.Walk(func(n *Node) bool { n.Switch = false; return true })
		if got := mustEncode(t, tree); !bytes.Equal(got, want) {
			t.Errorf("Encode =\n% X\nwant\n% X", got, want)
		}
	})
	t.Run("token pipe", func(t *testing.T) {
		got, err := pipe(want, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("pipe =\n% X\nwant\n% X", got, want)
		}
	})
}

func TestSpecExampleFormat(t *testing.T) {
	in := mustHexFile(t, "ms-aswbxml-3-sync-add-contact.hex")
	want := `<AirSync:Sync>
  <AirSync:Collections>
    <AirSync:Collection>
      <AirSync:Class>Contacts</AirSync:Class>
      <AirSync:SyncKey>2</AirSync:SyncKey>
      <AirSync:CollectionId>2</AirSync:CollectionId>
      <AirSync:Status>1</AirSync:Status>
      <AirSync:Commands>
        <AirSync:Add>
          <AirSync:ServerId>2:1</AirSync:ServerId>
          <AirSync:ApplicationData>
            <AirSyncBase:Body>
              <AirSyncBase:Type>1</AirSyncBase:Type>
              <AirSyncBase:EstimatedDataSize>0</AirSyncBase:EstimatedDataSize>
              <AirSyncBase:Truncated>1</AirSyncBase:Truncated>
            </AirSyncBase:Body>
            <Contacts:FileAs>Funk, Don</Contacts:FileAs>
            <Contacts:FirstName>Don</Contacts:FirstName>
            <Contacts:LastName>Funk</Contacts:LastName>
            <AirSyncBase:NativeBodyType>1</AirSyncBase:NativeBodyType>
          </AirSync:ApplicationData>
        </AirSync:Add>
      </AirSync:Commands>
    </AirSync:Collection>
  </AirSync:Collections>
</AirSync:Sync>
`
	if diff := cmp.Diff(want, mustDecode(t, in).String()); diff != "" {
		t.Errorf("String() mismatch (-want +got):\n%s", diff)
	}
}
