// Package tokencmd runs a command that prints a PowerSync token, as the
// CLI's and the examples' --token-command flags do.
package tokencmd

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
)

// Run runs command with the shell (sh -c, or cmd /C on Windows) and
// returns its output, trimmed. A failure carries the command's standard
// error; empty output is an error too.
func Run(ctx context.Context, command string) (string, error) {
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd", "/C", command)
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", command)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("token command %q: %w: %s", command, err, msg)
		}
		return "", fmt.Errorf("token command %q: %w", command, err)
	}
	tok := strings.TrimSpace(string(out))
	if tok == "" {
		return "", fmt.Errorf("token command %q printed no token", command)
	}
	return tok, nil
}
