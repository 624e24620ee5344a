package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCaptureToTcpdump: `vpclab capture web-1 -w - | tcpdump -n -r -`
// shows, as it flows, a connection made through an exposed port: the SYN
// from the host client to web-1's private address (the frame as delivered
// to the NIC, after NAT) and the page in the answer.
func TestCaptureToTcpdump(t *testing.T) {
	tcpdump := requireTool(t, "tcpdump", "tcpdump")
	httpPort, echoPort := hostPort(t), hostPort(t)
	wait, _ := runningUp(t, writeTopology(t, controlTopology(httpPort, echoPort)))

	capture := exec.Command(os.Args[0], "capture", "web-1", "-w", "-", "--sandbox", "ctl-e2e", "--duration", "3s")
	capture.Env = append(os.Environ(), runMainEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var captureErr strings.Builder
	capture.Stderr = &captureErr
	pipe, err := capture.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	dump := exec.Command(tcpdump, "-n", "-A", "-r", "-")
	dump.Stdin = pipe
	var dumpOut, dumpErr strings.Builder
	dump.Stdout, dump.Stderr = &dumpOut, &dumpErr
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	// The capture is attached once its stream has begun: poll with GETs
	// until tcpdump has seen one (a GET made before may be missed).
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for range 10 {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", httpPort))
		if err != nil {
			t.Fatalf("GET through the exposed port: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(100 * time.Millisecond)
	}
	if err := capture.Wait(); err != nil {
		t.Fatalf("vpclab capture: %v\n%s", err, captureErr.String())
	}
	if err := dump.Wait(); err != nil {
		t.Fatalf("tcpdump -r -: %v\n%s", err, dumpErr.String())
	}
	out := dumpOut.String()
	syn := "198.51.100.1." // the host client, then its port
	if !strings.Contains(out, syn) || !strings.Contains(out, "> 10.0.1.1.80: Flags [S]") {
		t.Errorf("tcpdump shows no SYN from the host client to web-1's private address:80\n%s", out)
	}
	if !strings.Contains(out, "HTTP/1.1 200 OK") || !strings.Contains(out, "web-1") {
		t.Errorf("tcpdump shows no page from web-1\n%s", out)
	}
	if _, stderr, code := wait(); code != 0 {
		t.Fatalf("up: exit %d\n%s", code, stderr)
	}
}

// TestCaptureErrors: an unknown instance is refused as the control API
// refuses it (exit 2, naming the instances); -w is required.
func TestCaptureErrors(t *testing.T) {
	httpPort, echoPort := hostPort(t), hostPort(t)
	runningUp(t, writeTopology(t, controlTopology(httpPort, echoPort)))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"capture", "web-9", "-w", "-", "--sandbox", "ctl-e2e"}, "InvalidInstanceId.NotFound"},
		{[]string{"capture", "web-1", "--sandbox", "ctl-e2e"}, "-w FILE is required"},
		{[]string{"capture", "web-1", "-w", "-", "--duration", "-1s", "--sandbox", "ctl-e2e"}, "must not be negative"},
	} {
		out, errOut, code := vpclab(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("vpclab %s: exit %d, want 2 with %q\n%s%s", strings.Join(c.args, " "), code, c.want, out, errOut)
		}
	}
}
