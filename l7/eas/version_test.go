package eas

import (
	"errors"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{"14.1", V141, false},
		{"2.5", V25, false},
		{"16.0", V160, false},
		{"12.10", Version{12, 10}, false},
		{"", Version{}, true},
		{"14", Version{}, true},
		{"14.", Version{}, true},
		{".1", Version{}, true},
		{"14.1.0", Version{}, true},
		{"+14.1", Version{}, true},
		{"256.0", Version{}, true},
		{"a.b", Version{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseVersion(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadValue) {
					t.Errorf("ParseVersion(%q) = %v, %v; want ErrBadValue", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseVersion(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestVersionByte(t *testing.T) {
	tests := []struct {
		b uint8
		v Version
	}{
		{25, V25}, {120, V120}, {121, V121}, {140, V140}, {141, V141}, {160, V160}, {161, V161}, {255, Version{25, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.v.String(), func(t *testing.T) {
			if got := versionFromByte(tc.b); got != tc.v {
				t.Errorf("versionFromByte(%d) = %v, want %v", tc.b, got, tc.v)
			}
			if got, ok := tc.v.byteValue(); !ok || got != tc.b {
				t.Errorf("%v.byteValue() = %d, %v; want %d", tc.v, got, ok, tc.b)
			}
		})
	}
	for _, v := range []Version{{25, 6}, {26, 0}, {14, 10}} {
		if _, ok := v.byteValue(); ok {
			t.Errorf("%v.byteValue() succeeded", v)
		}
	}
}

func TestVersionPredicates(t *testing.T) {
	if !V141.Known() || (Version{13, 0}).Known() {
		t.Error("Known() wrong for 14.1 or 13.0")
	}
	if !V121.Less(V140) || V140.Less(V121) || V140.Less(V140) || !V140.Less(V141) {
		t.Error("Less() wrong")
	}
	if (Version{}).String() != "" || !(Version{}).IsZero() || V25.String() != "2.5" {
		t.Error("zero or String() wrong")
	}
}
