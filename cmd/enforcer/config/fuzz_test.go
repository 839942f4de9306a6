package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mailgate/enforcer/policy"
	"github.com/mailgate/enforcer/policy/compose"
)

// FuzzParse: Parse never panics, fails only with an *Error whose problems
// all say something, and whatever it accepts converts to a policy the
// datapath accepts and survives a Marshal round trip.
func FuzzParse(f *testing.F) {
	f.Add(Example())
	seeds, err := filepath.Glob("testdata/seed/*.yaml")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 || len(cerr.Problems) > MaxProblems {
				t.Fatalf("error %T %v is not an *Error with 1..%d problems", err, err, MaxProblems)
			}
			for _, p := range cerr.Problems {
				if p.Msg == "" || p.File != "f.yaml" || p.Line < 0 || p.Col < 0 {
					t.Fatalf("bad problem %+v", p)
				}
			}
			return
		}
		r, err := compose.Compose(c.PolicyInput())
		if err != nil {
			t.Fatalf("accepted config does not convert: %v", err)
		}
		if err := policy.Validate(r.Policy); err != nil {
			t.Fatalf("accepted config fails policy.Validate: %v", err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("f.yaml", out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if diff := cmp.Diff(c, back, cmpOpts); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}
