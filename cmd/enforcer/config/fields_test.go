package config

import (
	"encoding"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mailgate/enforcer/l7/device"
	"github.com/mailgate/enforcer/l7/transform"
)

// TestCheckTags: every check tag the library option types carry is one
// the parser knows, on a field of a kind it applies to; a typo would
// otherwise read the field as a plain string or number, unchecked.
func TestCheckTags(t *testing.T) {
	rangeRe := regexp.MustCompile(`^(limit |deadline )?[0-9_a-z.]+\.\.[0-9_a-z.]+$`)
	textType := reflect.TypeFor[encoding.TextUnmarshaler]()
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for _, f := range taggedFields(v) {
			name := v.Type().String() + "." + f.sf.Name
			check := f.sf.Tag.Get("check")
			typ := f.sf.Type
			switch {
			case check == "":
			case strings.HasPrefix(check, "enum "):
				what, choices, ok := strings.Cut(strings.TrimPrefix(check, "enum "), ": ")
				if !ok || what == "" || choices == "" || typ.Kind() != reflect.String && !reflect.PointerTo(typ).Implements(textType) {
					t.Errorf("%s: check %q: want \"enum WHAT: a, b\" on a string or TextUnmarshaler", name, check)
				}
			case check == "path" || check == "url" || strings.HasPrefix(check, "hostport ") || strings.HasPrefix(check, "text "):
				if typ.Kind() != reflect.String {
					t.Errorf("%s: check %q on a %s, want a string", name, check, typ)
				}
			case rangeRe.MatchString(check):
				switch {
				case strings.HasPrefix(check, "deadline ") && typ != durationType:
					t.Errorf("%s: check %q on a %s, want a duration", name, check, typ)
				case strings.HasPrefix(check, "limit ") && typ.Kind() != reflect.Int:
					t.Errorf("%s: check %q on a %s, want an int", name, check, typ)
				case typ.Kind() != reflect.Int && typ != durationType:
					t.Errorf("%s: check %q on a %s, want an int or a duration", name, check, typ)
				}
			default:
				t.Errorf("%s: unknown check %q", name, check)
			}
			if _, ok := f.sf.Tag.Lookup("default"); ok {
				setDefaults(v) // panics on a default its type refuses
			}
			switch {
			case typ.Kind() == reflect.Struct && typ != prefixType:
				walk(f.v)
			case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct && typ.Elem() != prefixType && typ != entriesType:
				walk(reflect.New(typ.Elem()).Elem())
			case typ.Kind() == reflect.Pointer:
				walk(reflect.New(typ.Elem()).Elem())
			}
		}
	}
	walk(reflect.ValueOf(&Proxy{}).Elem())
	walk(reflect.ValueOf(&device.Config{}).Elem())
	walk(reflect.ValueOf(&transform.Config{}).Elem())
}
