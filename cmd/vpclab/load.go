package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/topology"
)

// defaultTopology is the topology `vpclab up` brings up when given no file.
//
//go:embed default.yaml
var defaultTopology []byte

// defaultTopologyName is how the embedded topology is named in positions of
// errors and in reports.
const defaultTopologyName = "default.yaml (embedded)"

// loadTopology loads the topology file at path; "" means the embedded
// default topology. Every failure — a missing or unreadable file, invalid
// YAML, a schema, reference or quota error — is an exitError with code 2
// around an *invalidFile, whose text is one problem per line
// (topology.Errors prints that way) and which -o json prints as JSON (see
// reportInvalid). The warnings of a valid file go to warn (the running
// command's stderr).
func loadTopology(path string, warn io.Writer) (*topology.Topology, error) {
	var (
		t   *topology.Topology
		err error
	)
	name := path
	if path == "" {
		name = defaultTopologyName
		t, err = topology.Load(defaultTopologyName, defaultTopology)
	} else {
		t, err = topology.LoadFile(path)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe // "open x.yaml: no such file or directory"
		}
		return nil, &exitError{code: 2, err: &invalidFile{file: name, errs: loadErrors(name, err), err: err}}
	}
	printWarnings(warn, loadWarnings(t))
	return t, nil
}

// invalidFile is a topology file that did not load.
type invalidFile struct {
	file string
	errs []fileError
	err  error
}

func (e *invalidFile) Error() string { return e.err.Error() }
func (e *invalidFile) Unwrap() error { return e.err }

// withJSONErrors wraps the RunE of cmd and of every command under it: when
// an -o json command fails on an invalid file its problems are printed on stdout as
// JSON, the report validate prints for a file:
//
//	{"file": "x.yaml", "valid": false, "errors": [{"file": ..., "line": ...}]}
//
// The exit status stays 2 and stderr gets a one-line summary, as validate
// and test do.
func withJSONErrors(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		withJSONErrors(c)
	}
	run := cmd.RunE
	if run == nil {
		return
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		return reportInvalid(c, run(c, args))
	}
}

// reportInvalid prints err as JSON on the command's stdout when it is an
// invalid file and the command runs with -o json; otherwise it returns err
// as it is.
func reportInvalid(cmd *cobra.Command, err error) error {
	var inv *invalidFile
	if err == nil || !errors.As(err, &inv) {
		return err
	}
	if f := cmd.Flags().Lookup("output"); f == nil || f.Value.String() != "json" {
		return err
	}
	if werr := writeJSON(cmd.OutOrStdout(), validateReport{File: inv.file, Errors: inv.errs}); werr != nil {
		return werr
	}
	problems := "problems"
	if len(inv.errs) == 1 {
		problems = "problem"
	}
	return &exitError{code: 2, err: fmt.Errorf("%s: invalid (%d %s)", inv.file, len(inv.errs), problems)}
}
