package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/mailgate/enforcer/loader/srctable"
)

// DefaultPinDir is where a running enforcer keeps its pinned state.
const DefaultPinDir = "/sys/fs/bpf/enforcer"

// Options configure Load.
type Options struct {
	// PinDir is the bpffs directory holding the maps and links. Maps found
	// there are re-used, so the tables (and enforcement) survive restarts.
	// Empty means nothing is pinned: tests and benchmarks.
	PinDir string
	// TableCells is the source table's capacity in 32-byte cells; 0 means
	// the default, 2M cells (64 MiB), room for a full GeoLite2-Country
	// (about 1.3M cells) and large allow and deny lists. Each table is
	// allocated at full capacity, and a switch briefly holds two. Pinned
	// maps keep the capacity they were created with.
	TableCells uint32
}

// Datapath is a loaded XDP program with its maps.
type Datapath struct {
	objs   enforcerObjects
	pinDir string
	table  ebpf.MapSpec // how to create a source table

	mu         sync.Mutex     // serialises switches
	tableStats srctable.Stats // of the last table switched in
	// repin: the pinned maps were of an incompatible (older) layout, so
	// this datapath runs on fresh maps, pinned in their place by the first
	// Attach, once its program has replaced the old one.
	repin bool
}

// Load loads the XDP program, creating or re-using its pinned maps. A fresh
// load installs an empty source table, so protected services start closed.
func Load(opts Options) (*Datapath, error) {
	spec, err := loadEnforcer()
	if err != nil {
		return nil, fmt.Errorf("load embedded program: %w", err)
	}
	inner := spec.Maps[enforcerMapSourceTables].InnerMap
	if opts.TableCells != 0 {
		inner.MaxEntries = opts.TableCells
	}
	var co ebpf.CollectionOptions
	if opts.PinDir != "" {
		if err := ensureBPFFS(opts.PinDir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(opts.PinDir, 0o700); err != nil {
			return nil, fmt.Errorf("create pin directory: %w", err)
		}
		co.Maps.PinPath = opts.PinDir
	} else {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	}
	d := &Datapath{pinDir: opts.PinDir}
	err = spec.LoadAndAssign(&d.objs, &co)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// An upgrade that changed the maps' layout. Build a fresh set beside
		// the pinned one: the old program keeps enforcing with the old maps
		// until Attach swaps the new program into the pinned link, and only
		// then do the new maps take the old ones' pins. The counters carry
		// over where their layout is unchanged: both programs count into
		// them meanwhile.
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
		d.repin = true
		keep := ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{}}
		for _, name := range []string{enforcerMapStats, enforcerMapCountryDrops} {
			m, err := ebpf.LoadPinnedMap(filepath.Join(opts.PinDir, name), nil)
			if err != nil {
				continue
			}
			defer m.Close()
			if spec.Maps[name].Compatible(m) == nil {
				keep.MapReplacements[name] = m
			}
		}
		err = spec.LoadAndAssign(&d.objs, &keep)
	}
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load program: %+v", ve)
		}
		return nil, fmt.Errorf("load program: %w", err)
	}
	// A re-used pinned outer map keeps the capacity it was created with.
	d.table = *inner.Copy()
	d.table.Name = "source_table"
	var id ebpf.MapID
	if err := d.objs.SourceTables.Lookup(uint32(0), &id); err == nil && id != 0 {
		if cur, err := ebpf.NewMapFromID(id); err == nil {
			d.table.MaxEntries = cur.MaxEntries()
			cur.Close()
		}
	}
	if id == 0 {
		if err := d.SwapSources(emptyTable()); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Close releases the process's handles. Pinned state stays.
func (d *Datapath) Close() error { return d.objs.Close() }

// Program is the enforcing XDP program.
func (d *Datapath) Program() *ebpf.Program { return d.objs.EnforcerXdp }

// FloorProgram parses like Program and decides nothing: a benchmark
// baseline.
func (d *Datapath) FloorProgram() *ebpf.Program { return d.objs.EnforcerFloor }

// PinDir is where the datapath's state is pinned ("" if not pinned).
func (d *Datapath) PinDir() string { return d.pinDir }

// Upgrading reports whether the pinned maps were of another layout and
// this datapath's fresh maps replace them at the next Attach.
func (d *Datapath) Upgrading() bool { return d.repin }

// pinMaps pins this datapath's maps in place of the pinned ones.
func (d *Datapath) pinMaps() error {
	for name, m := range map[string]*ebpf.Map{
		enforcerMapCountryDrops: d.objs.CountryDrops,
		enforcerMapDests:        d.objs.Dests,
		enforcerMapPorts:        d.objs.Ports,
		enforcerMapServices:     d.objs.Services,
		enforcerMapSourceTables: d.objs.SourceTables,
		enforcerMapStats:        d.objs.Stats,
	} {
		path := filepath.Join(d.pinDir, name)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("replace pinned map %s: %w", path, err)
		}
		if err := m.Pin(path); err != nil {
			return fmt.Errorf("pin map %s: %w", path, err)
		}
	}
	d.repin = false
	return nil
}

// bpffsRoot is where bpffs lives by convention.
const bpffsRoot = "/sys/fs/bpf"

// ensureBPFFS mounts bpffs at /sys/fs/bpf when the pin directory lives
// there and nothing is mounted (a minimal host, or a fresh /sys as `ip
// netns exec` gives). Elsewhere the directory must already be on bpffs.
func ensureBPFFS(pinDir string) error {
	dir := filepath.Clean(pinDir)
	for {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err == nil {
			if st.Type == unix.BPF_FS_MAGIC {
				return nil
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if !strings.HasPrefix(filepath.Clean(pinDir)+"/", bpffsRoot+"/") {
		return fmt.Errorf("pin directory %s is not on a bpf filesystem; use a directory under %s", pinDir, bpffsRoot)
	}
	if err := unix.Mount("bpf", bpffsRoot, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs at %s: %w", bpffsRoot, err)
	}
	return nil
}
