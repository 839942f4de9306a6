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

// FuzzParseRemoteTransforms: a transforms document from device management
// (untrusted) never panics the parser, fails only with an *Error, and what
// is accepted names no file and survives a Marshal round trip.
func FuzzParseRemoteTransforms(f *testing.F) {
	f.Add([]byte(`{"links": {"mode": "include", "http_scheme": "a", "https_scheme": "b", "domains": ["intranet.example"]}}`))
	f.Add([]byte(`{"attachments": {"managed": {"default": "block", "rules": [{"extensions": ["exe"], "action": "encrypt"}]}, "blocked_notice": "x"}}`))
	f.Add([]byte(`{"classification": {"subject_markers": ["[S]"], "rules": [{"tag": "S", "approved_clients": ["Outlook*"], "others": "block"}]}, "smime_pass_through": false}`))
	f.Add([]byte(`{"enabled": false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := ParseRemoteTransforms("push", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error %T %v is not an *Error with problems", err, err)
			}
			return
		}
		if tr.Links != nil && tr.Links.DomainsFile != "" || tr.Attachments != nil && tr.Attachments.KeyFile != "" {
			t.Fatalf("a remote document names a file: %+v", tr)
		}
		out := MarshalTransforms(tr)
		back, err := ParseTransforms("marshalled", out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if diff := cmp.Diff(tr, back, cmpOpts); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s\nmarshalled:\n%s", diff, out)
		}
	})
}
