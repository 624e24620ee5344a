package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
	"github.com/vpclab/vpclab/topology"
)

// pcapFlags are up's --pcap and --pcap-max-bytes.
type pcapFlags struct {
	file     string
	maxBytes pcapSize
	snapLen  int
}

// pcapSize is --pcap-max-bytes: a size (1GiB, 100MiB, 4096).
type pcapSize struct{ bytes int64 }

func (s *pcapSize) String() string { return strings.ReplaceAll(topology.FormatSize(s.bytes), " ", "") }

func (s *pcapSize) Set(v string) error {
	n, err := topology.ParseSize(v)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("%q: must be positive", v)
	}
	s.bytes = n
	return nil
}

func (s *pcapSize) Type() string { return "size" }

// addPcapFlags adds --pcap and --pcap-max-bytes to up.
func addPcapFlags(cmd *cobra.Command, f *pcapFlags) {
	f.maxBytes.bytes = sandbox.DefaultPcapMaxBytes
	cmd.Flags().StringVar(&f.file, "pcap", "",
		`write every frame of every NIC (one pcapng interface per instance, one named "internet") and every dropped frame, with a comment saying why, to this pcapng file`)
	cmd.Flags().Var(&f.maxBytes, "pcap-max-bytes",
		"stop writing the --pcap file before it grows past this size (100MiB, 1GiB); the last packet's comment and stderr say so")
	cmd.Flags().IntVar(&f.snapLen, "pcap-snaplen", 0,
		"keep at most this many bytes of each frame in the --pcap file, as tcpdump -s (0: whole frames)")
}

// check refuses a --pcap up cannot write: stdout carries up's report.
func (f *pcapFlags) check() error {
	if f.file == "-" {
		return usageError("--pcap -: stdout carries up's report; give a file")
	}
	if f.snapLen < 0 || f.snapLen > sandbox.MaxSnapLen {
		return usageError("--pcap-snaplen %d: must be between 0 (whole frames) and %d", f.snapLen, sandbox.MaxSnapLen)
	}
	return nil
}

// upPcap is a running --pcap capture.
type upPcap struct {
	path string
	file *os.File
	p    *sandbox.Pcapng
}

// startPcap creates the --pcap file (0600: it holds the lab's traffic) and
// starts capturing lab into it; with no --pcap it returns nil. A file that
// cannot be created is invalid input (exit 2).
func (f *pcapFlags) start(lab *topology.Lab, log *slog.Logger) (*upPcap, error) {
	if f == nil || f.file == "" {
		return nil, nil
	}
	file, err := os.OpenFile(f.file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("--pcap: %w", err)}
	}
	p, err := sandbox.StartPcapng(lab, file, sandbox.PcapngOptions{MaxBytes: f.maxBytes.bytes, SnapLen: f.snapLen, Log: log})
	if err != nil {
		file.Close()
		os.Remove(f.file)
		return nil, &exitError{code: 2, err: fmt.Errorf("--pcap %s: %w (--pcap-max-bytes)", f.file, err)}
	}
	return &upPcap{path: f.file, file: file, p: p}, nil
}

// close stops the capture, closes the file and says on stderr what it
// holds. It is safe on nil and twice.
func (u *upPcap) close(stderr io.Writer) error {
	if u == nil || u.file == nil {
		return nil
	}
	err := errors.Join(u.p.Close(), u.file.Close())
	u.file = nil
	st := u.p.Stats()
	line := fmt.Sprintf("vpclab up: capture: %s (%d dropped) in %s, %s", count(int(st.Frames), "frame"), st.Dropped, u.path,
		strings.ReplaceAll(topology.FormatSize(st.Bytes), " ", ""))
	if st.Stopped && err == nil {
		line += "; stopped at --pcap-max-bytes"
	}
	fmt.Fprintln(stderr, line)
	if err != nil {
		return fmt.Errorf("--pcap %s: %w", u.path, err)
	}
	return nil
}
