package topology

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// emfileChild marks the subprocess of TestExposeEMFILE.
const emfileChild = "VPCLAB_TEST_EXPOSE_EMFILE_CHILD"

// TestExposeEMFILE: an exposed port survives its process running out of
// file descriptors. A subprocess (the test binary again) exposes a port
// and lowers its RLIMIT_NOFILE, as `ulimit -n` would, to a few descriptors
// above what it holds. This test opens clients to the port until the
// subprocess's accepts fail with EMFILE — the accepted clients hold every
// descriptor, the others wait in the kernel's queue — then lets them go but
// one waiting client, which must then be served, and so must a new one.
// Before the fix the accept loop ended on the first EMFILE and the port
// never served again.
func TestExposeEMFILE(t *testing.T) {
	if os.Getenv(emfileChild) == "1" {
		exposeEMFILEChild(t)
		return
	}
	if testing.Short() {
		t.Skip("runs a subprocess")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestExposeEMFILE$", "-test.count=1")
	cmd.Env = append(os.Environ(), emfileChild+"=1")
	var stderr bytes.Buffer // read once the subprocess has exited
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	var output strings.Builder
	go func() { // ends when the subprocess exits
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// next returns the value of the subprocess's next line with the given
	// prefix.
	next := func(prefix string) string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("subprocess ended before %q:\n%s", prefix, output.String())
				}
				output.WriteString(l + "\n")
				if v, ok := strings.CutPrefix(l, prefix+" "); ok {
					return v
				}
			case <-timeout:
				t.Fatalf("no %q from the subprocess in 30 s:\n%s", prefix, output.String())
			}
		}
	}
	var clients []net.Conn
	waited := false
	wait := func() error { // the subprocess exits once its stdin closes
		stdin.Close()
		for l := range lines {
			output.WriteString(l + "\n")
		}
		waited = true
		return cmd.Wait()
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		if !waited {
			wait()
		}
		if t.Failed() {
			t.Logf("subprocess's stderr:\n%s", stderr.String())
		}
	}()

	port, err := strconv.Atoi(next("emfile-port"))
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for range 64 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		clients = append(clients, c)
	}
	t.Logf("subprocess: %s", next("emfile-accept-errors"))
	for _, c := range clients[:len(clients)-1] {
		c.Close()
	}
	waiting := clients[len(clients)-1]
	clients = clients[:0]
	defer waiting.Close()
	waiting.SetDeadline(time.Now().Add(15 * time.Second))
	io.WriteString(waiting, "GET / HTTP/1.0\r\n\r\n")
	reply, err := io.ReadAll(waiting)
	if !strings.Contains(string(reply), "200 OK") {
		t.Fatalf("the client queued during EMFILE: read %q, %v; want the reply once descriptors are free", reply, err)
	}
	if got, err := httpGet(port, 10*time.Second); !strings.Contains(got, "200 OK") {
		t.Fatalf("a new client after EMFILE: %q, %v", got, err)
	}
	stdin.Close()
	var s ExposeStats
	if err := json.Unmarshal([]byte(next("emfile-stats")), &s); err != nil {
		t.Fatal(err)
	}
	if s.AcceptErrors == 0 || s.Accepted < 2 {
		t.Errorf("subprocess stats = %+v, want failed accepts counted", s.ExposeCounters)
	}
	if err := wait(); err != nil {
		t.Fatalf("subprocess: %v\n%s", err, output.String())
	}
}

// exposeEMFILEChild is the subprocess: it exposes a port, lowers its
// descriptor limit, says when an accept failed, and serves until its
// stdin closes.
func exposeEMFILEChild(t *testing.T) {
	httpPort, echoPort := freePort(t), freePort(t)
	x, closeAll := buildExposed(t, abuseTopology(t, httpPort, echoPort), ExposeOptions{})
	defer closeAll()

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(openFDs(t) + 8)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("emfile-port %d\n", httpPort)
	if !waitFor(20*time.Second, func() bool { return x.Stats().AcceptErrors > 0 }) {
		t.Fatalf("no failed accept under a limit of %d descriptors", low.Cur)
	}
	fmt.Printf("emfile-accept-errors %d failed accepts under a limit of %d descriptors\n", x.Stats().AcceptErrors, low.Cur)
	io.Copy(io.Discard, os.Stdin) // until the test is done with the port
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Error(err)
	}
	b, _ := json.Marshal(x.Stats())
	fmt.Printf("emfile-stats %s\n", b)
}
