package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Files of a run directory.
const (
	SocketFile = "control.sock"
	InfoFile   = "info.json"
	// maxSocketPath is the longest Unix socket path Linux takes (sun_path
	// holds 108 bytes with the terminating NUL).
	maxSocketPath = 107
)

// Info describes a running sandbox; info.json in its run directory holds it.
type Info struct {
	Name    string    `json:"name"`
	PID     int       `json:"pid"`
	File    string    `json:"file"` // the topology file ("" for the embedded default)
	Started time.Time `json:"started"`
	Socket  string    `json:"socket"`
	Dir     string    `json:"dir"`
}

// BaseDir is where run directories live: $XDG_RUNTIME_DIR/vpclab, or
// /tmp/vpclab-UID when XDG_RUNTIME_DIR is unset.
func BaseDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "vpclab")
	}
	return filepath.Join(os.TempDir(), "vpclab-"+strconv.Itoa(os.Getuid()))
}

// Name is the sandbox name of a topology: its name, else its file's base name
// without the extension, else "default".
func Name(topologyName, file string) string {
	if topologyName != "" {
		return topologyName
	}
	if file != "" {
		base := filepath.Base(file)
		if n := strings.TrimSuffix(base, filepath.Ext(base)); n != "" && n != "." && n != ".." {
			return n
		}
	}
	return "default"
}

// CheckName refuses a sandbox name that cannot be a directory name.
func CheckName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("sandbox name %q: want a name (letters, digits, '-', '_', '.')", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("sandbox name %q: must not contain '/'", name)
	case len(name) > 64:
		return fmt.Errorf("sandbox name %q: longer than 64 bytes", name)
	}
	for _, r := range name {
		if r < 0x21 || r == 0x7f {
			return fmt.Errorf("sandbox name %q: must not contain spaces or control characters", name)
		}
	}
	return nil
}

// RunDir is a sandbox's run directory, held for as long as it runs.
type RunDir struct {
	Dir     string
	Info    Info
	ln      net.Listener
	created bool // Dir was made by Open (removed by Close)
}

// OpenRunDir claims dir for a sandbox: it creates it (0700), refuses when a
// live sandbox holds it, clears what a dead one left, listens on its control
// socket (0600) and writes info.json. base is the directory run directories
// live in, created 0700 and checked to belong to this user; "" when dir was
// given explicitly (--run-dir).
func OpenRunDir(base, dir string, info Info) (*RunDir, error) {
	if base != "" {
		if err := privateDir(base); err != nil {
			return nil, err
		}
	}
	sock := filepath.Join(dir, SocketFile)
	if len(sock) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is %d bytes, over the %d a Unix socket takes; choose a shorter --run-dir or --name",
			sock, len(sock), maxSocketPath)
	}
	rd := &RunDir{Dir: dir}
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		rd.created = true
	case errors.Is(err, fs.ErrExist):
		if err := ownDir(dir); err != nil {
			return nil, err
		}
		if old, err := readInfo(dir); err == nil && alive(old) {
			return nil, &RunningError{Info: old}
		}
		// What a dead sandbox left behind.
		os.Remove(sock)
		os.Remove(filepath.Join(dir, InfoFile))
	default:
		return nil, fmt.Errorf("run directory: %w", err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		rd.removeDir()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		rd.removeDir()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	rd.ln = ln
	info.Socket, info.Dir = sock, dir
	rd.Info = info
	data, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, InfoFile), append(data, '\n'), 0o600); err != nil {
		rd.Close()
		return nil, fmt.Errorf("run directory: %w", err)
	}
	return rd, nil
}

// Listener returns the control socket's listener.
func (rd *RunDir) Listener() net.Listener { return rd.ln }

// Close stops listening and removes the socket, info.json and the directory
// (when Open created it, or when it is empty).
func (rd *RunDir) Close() error {
	if rd.ln != nil {
		rd.ln.Close() // unlinks the socket
		rd.ln = nil
	}
	os.Remove(filepath.Join(rd.Dir, SocketFile))
	os.Remove(filepath.Join(rd.Dir, InfoFile))
	rd.removeDir()
	return nil
}

func (rd *RunDir) removeDir() {
	// Only an empty directory goes: what someone else put there stays.
	os.Remove(rd.Dir)
}

// RunningError says a live sandbox already holds the name.
type RunningError struct{ Info Info }

func (e *RunningError) Error() string {
	return fmt.Sprintf("sandbox %s is already running (pid %d, started %s, socket %s); stop it with `vpclab down %s` or choose another --name",
		e.Info.Name, e.Info.PID, e.Info.Started.Format(time.RFC3339), e.Info.Socket, e.Info.Name)
}

// privateDir makes dir (0700) if needed and checks that it is a directory of
// this user that nobody else can write: /tmp/vpclab-UID could have been made
// by anyone.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	if err := ownDir(dir); err != nil {
		return err
	}
	fi, _ := os.Lstat(dir)
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("run directory %s is writable by other users (mode %04o); make it 0700", dir, fi.Mode().Perm())
	}
	return nil
}

// ownDir checks that dir is a directory (not a symlink) owned by this user.
func ownDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("run directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("run directory %s belongs to uid %d, not to you (uid %d)", dir, st.Uid, os.Getuid())
	}
	return nil
}

func readInfo(dir string) (Info, error) {
	data, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return Info{}, err
	}
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return Info{}, fmt.Errorf("%s: %w", filepath.Join(dir, InfoFile), err)
	}
	if info.Socket == "" {
		info.Socket = filepath.Join(dir, SocketFile)
	}
	info.Dir = dir
	return info, nil
}

// alive reports whether the sandbox of info runs: its process exists and its
// socket answers (a pid can be reused; a socket file can outlive its process).
func alive(info Info) bool {
	if info.PID <= 0 {
		return false
	}
	if err := syscall.Kill(info.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	c, err := net.DialTimeout("unix", info.Socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// List returns the live sandboxes under base, sorted by name. Run
// directories of dead sandboxes are skipped (the next `up` of that name
// clears them).
func List(base string) ([]Info, error) {
	ents, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		info, err := readInfo(filepath.Join(base, e.Name()))
		if err != nil || !alive(info) {
			continue
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Find returns the sandbox to talk to: the one named name under base, or,
// when name is "", the only one running.
func Find(base, name string) (Info, error) {
	if name != "" {
		info, err := readInfo(filepath.Join(base, name))
		if err != nil || !alive(info) {
			names := runningNames(base)
			return Info{}, fmt.Errorf("no sandbox %q is running (in %s); running: %s", name, base, names)
		}
		return info, nil
	}
	list, err := List(base)
	if err != nil {
		return Info{}, err
	}
	switch len(list) {
	case 0:
		return Info{}, fmt.Errorf("no sandbox is running (in %s); start one with `vpclab up`", base)
	case 1:
		return list[0], nil
	}
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = s.Name
	}
	return Info{}, fmt.Errorf("%d sandboxes are running (%s); choose one with --sandbox NAME", len(list), strings.Join(names, ", "))
}

// FindDir returns the sandbox whose run directory is dir (--run-dir).
func FindDir(dir string) (Info, error) {
	info, err := readInfo(dir)
	if err != nil || !alive(info) {
		return Info{}, fmt.Errorf("no sandbox is running in %s", dir)
	}
	return info, nil
}

func runningNames(base string) string {
	list, _ := List(base)
	if len(list) == 0 {
		return "none"
	}
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
