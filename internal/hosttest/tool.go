package hosttest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireTool returns the path of a host program a test drives (tcpdump,
// tshark, ...), or skips the test when it is not installed — unless
// VPCLAB_REQUIRE_TOOLS=1 (CI installs the Debian package pkg, then sets
// it), when it fails.
func RequireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (Debian package %s): %v", name, pkg, err)
	if os.Getenv("VPCLAB_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + "; VPCLAB_REQUIRE_TOOLS=1 requires it")
	}
	t.Skip(msg + "; set VPCLAB_REQUIRE_TOOLS=1 to fail instead")
	return ""
}
