package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/topology"
)

// fileError is one problem of a file, as -o json prints it. Path is the
// field path without names ("instances[2].ip"); Entity names the instance,
// group, vswitch, NAT gateway, internet host or expect it is in.
type fileError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path,omitempty"`
	Entity  string `json:"entity,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
	Allowed string `json:"allowed,omitempty"`
}

// loadErrors turns a LoadFile error into fileErrors (one per problem).
func loadErrors(file string, err error) []fileError {
	var list topology.Errors
	if errors.As(err, &list) {
		out := make([]fileError, len(list))
		for i, e := range list {
			out[i] = fileError{File: e.File, Line: e.Line, Column: e.Column, Path: e.Path, Entity: e.Entity,
				Code: e.Code, Message: e.Msg, Allowed: e.Allowed}
		}
		return out
	}
	return []fileError{{File: file, Message: err.Error()}}
}

// fileWarning is something the loader corrected in a valid file (a rule
// CIDR with host bits set), as -o json prints it.
type fileWarning struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path"`
	Entity  string `json:"entity,omitempty"`
	Message string `json:"message"`
}

// loadWarnings turns a loaded topology's warnings into fileWarnings.
func loadWarnings(t *topology.Topology) []fileWarning {
	if t == nil {
		return nil
	}
	out := make([]fileWarning, 0, len(t.Warnings))
	for _, w := range t.Warnings {
		out = append(out, fileWarning{File: w.File, Line: w.Line, Column: w.Column, Path: w.Path, Entity: w.Entity, Message: w.Msg})
	}
	return out
}

// printWarnings writes warnings one a line, "file:line:col: warning: ...".
// They never change the exit status.
func printWarnings(w io.Writer, list []fileWarning) {
	for _, x := range list {
		fmt.Fprintf(w, "%s:%d:%d: warning: %s: %s\n", x.File, x.Line, x.Column, topology.NamedPath(x.Path, x.Entity), x.Message)
	}
}

type validateReport struct {
	File           string      `json:"file"`
	Valid          bool        `json:"valid"`
	Instances      int         `json:"instances,omitempty"`
	SecurityGroups int         `json:"security_groups,omitempty"`
	Expectations   int         `json:"expectations,omitempty"`
	Errors         []fileError `json:"errors,omitempty"`
	// Warnings are printed on stderr as text, and here with -o json.
	Warnings []fileWarning `json:"warnings,omitempty"`
}

func newValidateCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check topology files: schema, references and quotas (exit 0 valid, 2 invalid)",
		Long: `Validate loads each file and prints every problem at once, one per line:
file:line:col, the field (with the name of its instance, group, vswitch, NAT
gateway, internet host or expect), the cloud's error code where there is one,
and the allowed values. Nothing is started.

What the loader corrects in a valid file, as the cloud does (a rule CIDR with
host bits set is stored by its network), is printed on stderr as
"file:line:col: warning: ..." and does not change the exit status.

With -o json, stdout holds one report per file with its errors and warnings.
Every command that takes -o json prints an invalid file this way on stdout
(explain, diagnose, graph, matrix and up: one report object), with a one-line
summary on stderr.

Exit status: 0 when every file is valid, 2 when one is not.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var reports []validateReport
			invalid := 0
			for _, f := range args {
				t, err := topology.LoadFile(f)
				r := validateReport{File: f, Valid: err == nil}
				if err != nil {
					invalid++
					r.Errors = loadErrors(f, err)
				} else {
					r.Instances, r.SecurityGroups, r.Expectations = len(t.Instances), len(t.SecurityGroups), len(t.Expect)
					r.Warnings = loadWarnings(t)
					printWarnings(cmd.ErrOrStderr(), r.Warnings)
				}
				reports = append(reports, r)
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				if err := writeJSON(w, reports); err != nil {
					return err
				}
			} else {
				for _, r := range reports {
					if r.Valid {
						fmt.Fprintf(w, "%s: ok (%s, %s, %s)\n", r.File, count(r.Instances, "instance"), count(r.SecurityGroups, "security group"), count(r.Expectations, "expectation"))
						continue
					}
					for _, e := range r.Errors {
						fmt.Fprintln(w, errorLine(e))
					}
				}
			}
			if invalid > 0 {
				return &exitError{code: 2, err: fmt.Errorf("%d of %s invalid", invalid, count(len(args), "file"))}
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	addMaxFileSizeFlag(cmd)
	return cmd
}

func errorLine(e fileError) string {
	if e.Line == 0 {
		return e.File + ": " + e.Message
	}
	s := fmt.Sprintf("%s:%d:%d: ", e.File, e.Line, e.Column)
	if e.Path != "" {
		s += topology.NamedPath(e.Path, e.Entity) + ": "
	}
	if e.Code != "" {
		s += e.Code + ": "
	}
	s += e.Message
	if e.Allowed != "" {
		s += " (allowed: " + e.Allowed + ")"
	}
	return s
}
