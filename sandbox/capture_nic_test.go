package sandbox

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/internal/hosttest"
)

// TestCaptureNICTcpdumpPipe: `tcpdump -r -` reads one NIC's capture from a
// pipe as it is written: web-1's frames, none of the other NICs'.
func TestCaptureNICTcpdumpPipe(t *testing.T) {
	tcpdump := hosttest.RequireTool(t, "tcpdump", "tcpdump")
	lab := threeTier(t)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	var out bytes.Buffer
	cmd := exec.CommandContext(context.Background(), tcpdump, "-n", "-r", "-")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, &out, &out
	require.NoError(t, cmd.Start())

	stop, err := CaptureNIC(lab, "web-1", pw)
	require.NoError(t, err)
	runExpects(t, lab)
	require.NoError(t, stop())
	require.NoError(t, stop(), "twice is harmless")
	pw.Close()
	require.NoError(t, cmd.Wait(), "%s", out.String())

	s := out.String()
	assert.Contains(t, s, "link-type RAW")
	assert.Contains(t, s, "192.0.2.10.", "the customer's connections, after the EIP translation")
	assert.Contains(t, s, "> 10.0.1.1.443: Flags [S]", "the customer's SYN to web-1:443, as delivered")
	assert.Contains(t, s, "10.0.1.1.", "web-1's own frames")
	for line := range strings.Lines(s) {
		if strings.Contains(line, "IP ") {
			assert.Contains(t, line, "10.0.1.1.", "a frame not to or from web-1: %s", line)
		}
	}
}

// TestCaptureNICReaderGone: when the reader goes away the capture stops,
// the VPC goes on, and stop returns the write error.
func TestCaptureNICReaderGone(t *testing.T) {
	lab := threeTier(t)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pw.Close()
	stop, err := CaptureNIC(lab, "web-1", pw) // the header fits in the pipe
	require.NoError(t, err)
	pr.Close() // the reader leaves
	runExpects(t, lab)
	err = stop()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "capture")
}

// TestCaptureNICUnknown: an unknown instance is an error naming it.
func TestCaptureNICUnknown(t *testing.T) {
	lab := threeTier(t)
	_, err := CaptureNIC(lab, "web-9", io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"web-9"`)
	assert.Contains(t, err.Error(), "InvalidInstanceId.NotFound")
}
