package tokencmd

import (
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	if tok, err := Run(ctx, "echo '  tok-1 '"); err != nil || tok != "tok-1" {
		t.Errorf("Run(echo) = %q, %v", tok, err)
	}
	if _, err := Run(ctx, "true"); err == nil || !strings.Contains(err.Error(), "printed no token") {
		t.Errorf("Run(true) = %v, want an empty-output error", err)
	}
	if _, err := Run(ctx, "echo broken >&2; exit 3"); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("Run(failing) = %v, want its standard error", err)
	}
}
