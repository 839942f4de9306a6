package compose

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/mailgate/enforcer/policy/store"
)

// FileEntryError is a runtime change refused because it touches an entry
// of the configuration file: the file's entries are the operator's
// file's, changed there and reloaded.
type FileEntryError struct {
	Item string // the CIDR or country code
	File string // the configuration file, named in the message
	Add  bool   // an addition (else a removal)
}

func (e *FileEntryError) Error() string {
	if e.Add {
		return fmt.Sprintf("%s is already in %s; nothing to add", e.Item, e.File)
	}
	return fmt.Sprintf("%s comes from %s; remove it there and run `enforcer reload`", e.Item, e.File)
}

// CheckEntries vets a runtime change of allow or deny entries against
// the file's entries fromFile: adding one the file has would be a second
// copy that a removal could not take away, and removing one of the file's
// would silently not remove it. Either is a *FileEntryError naming file;
// nil when the change touches only runtime entries.
func CheckEntries(file string, add bool, fromFile, items []netip.Prefix) error {
	for _, p := range items {
		if slices.Contains(fromFile, p) {
			return &FileEntryError{Item: p.String(), File: file, Add: add}
		}
	}
	return nil
}

// SplitCountries plans a runtime change of a service's countries like one
// of its allowlist: the file's countries fromFile are the file's (no
// second copy is added, none is removed at run time: a removal would
// silently override later edits of the file), runtime additions are added
// and taken back. It returns the codes whose runtime override o is to be
// cleared and those to record as added. Adding a country of the file that
// an older enforcer recorded as removed clears that removal, so the file
// rules again. A change that touches the file's countries otherwise is a
// *FileEntryError naming file.
func SplitCountries(file string, add bool, fromFile []string, o store.CountryOverride, codes []string) (clear, put []string, err error) {
	for _, cc := range codes {
		inFile := slices.Contains(fromFile, cc)
		switch {
		case add && inFile && slices.Contains(o.Removed, cc):
			clear = append(clear, cc)
		case add && inFile, inFile:
			return nil, nil, &FileEntryError{Item: cc, File: file, Add: add}
		case add:
			put = append(put, cc)
		default:
			clear = append(clear, cc)
		}
	}
	return clear, put, nil
}
