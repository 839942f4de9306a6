package wbxml

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNodeAccessors(t *testing.T) {
	tree := Elem("AirSync:Sync",
		Elem("AirSync:Collections",
			Elem("AirSync:Collection", ElemText("AirSync:CollectionId", "1")),
			Elem("AirSync:Collection",
				ElemText("AirSync:CollectionId", "2"),
				Elem("AirSync:Status", NewText("1"), NewOpaque([]byte("3"))),
			),
		),
	)
	colls := tree.Child("AirSync:Collections")
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"Find value", tree.Find("AirSync:Collections", "AirSync:Collection", "AirSync:CollectionId").Value(), "1"},
		{"Find missing", tree.Find("AirSync:Collections", "AirSync:Status") == nil, true},
		{"Child unknown name", tree.Child("AirSync:Nope") == nil, true},
		{"ChildrenNamed", len(colls.ChildrenNamed("AirSync:Collection")), 2},
		{"ChildrenNamed unknown", colls.ChildrenNamed("Nope:Nope") == nil, true},
		{"Value joins text and opaque", colls.ChildrenNamed("AirSync:Collection")[1].Child("AirSync:Status").Value(), "13"},
		{"Is", tree.Is("AirSync:Sync"), true},
		{"Is other", tree.Is("AirSync:Add"), false},
		{"Name text", NewText("x").Name(), "#text"},
		{"Name opaque", NewOpaque(nil).Name(), "#opaque"},
		{"TagID", tree.TagID(), Tag{PageAirSync, 0x05}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeEditing(t *testing.T) {
	st := ElemText("AirSync:Status", "1")
	st.SetText("3")
	if got := st.Value(); got != "3" {
		t.Errorf("after SetText Value() = %q, want %q", got, "3")
	}
	tree := Elem("AirSync:Sync").Append(st, ElemOpaque("AirSync:SyncKey", []byte{1}))
	clone := tree.Clone()
	if diff := cmp.Diff(tree, clone); diff != "" {
		t.Fatalf("Clone differs (-orig +clone):\n%s", diff)
	}
	clone.Child("AirSync:Status").SetText("9")
	clone.Child("AirSync:SyncKey").Children[0].Opaque[0] = 2
	if tree.Child("AirSync:Status").Value() != "3" || tree.Child("AirSync:SyncKey").Value() != "\x01" {
		t.Errorf("editing the clone changed the original:\n%s", tree)
	}
	var names []string
	tree.Walk(func(n *Node) bool {
		names = append(names, n.Name())
		return n.Kind == ElementNode && !n.Is("AirSync:SyncKey")
	})
	want := []string{"AirSync:Sync", "AirSync:Status", "#text", "AirSync:SyncKey"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("Walk order (-want +got):\n%s", diff)
	}
}

func TestNewElement(t *testing.T) {
	n, err := NewElement("Find:Find")
	if err != nil || n.Page != PageFind || n.Tag != 0x05 {
		t.Errorf("NewElement(Find:Find) = %+v, %v", n, err)
	}
	if _, err := NewElement("Find:Nope"); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewElement(Find:Nope) error = %v, want ErrInvalid", err)
	}
}

func TestElemPanicsOnUnknownName(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Elem with an unknown name did not panic")
		}
	}()
	Elem("AirSync:Nope")
}
