package update

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// HookTimeout bounds a post-update command: a hung reload must not keep
// cron's run alive forever.
const HookTimeout = 2 * time.Minute

// RunHook runs command with /bin/sh -c after a run that changed editions,
// for whatever else an operator wants done then (the enforcer daemon
// itself is told to reload over its admin socket by the CLI). The command gets the
// environment plus ENFORCER_UPDATED_EDITIONS (space-separated edition IDs)
// and ENFORCER_UPDATED_FILES (space-separated paths); its output goes to
// stdout and stderr.
func RunHook(ctx context.Context, command string, changed []EditionResult, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, HookTimeout)
	defer cancel()
	var ids, files []string
	for _, e := range changed {
		ids = append(ids, e.EditionID)
		files = append(files, e.Path)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = append(os.Environ(),
		"ENFORCER_UPDATED_EDITIONS="+strings.Join(ids, " "),
		"ENFORCER_UPDATED_FILES="+strings.Join(files, " "))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("post-update command %q did not finish within %v: the databases were installed, reload the daemon by hand", command, HookTimeout)
		}
		return fmt.Errorf("post-update command %q: %w: the databases were installed, reload the daemon by hand", command, err)
	}
	return nil
}
