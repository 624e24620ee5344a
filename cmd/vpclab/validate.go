package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/topology"
)

// fileError is one problem of a file, as -o json prints it.
type fileError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path,omitempty"`
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
			out[i] = fileError{File: e.File, Line: e.Line, Column: e.Column, Path: e.Path, Code: e.Code, Message: e.Msg, Allowed: e.Allowed}
		}
		return out
	}
	return []fileError{{File: file, Message: err.Error()}}
}

type validateReport struct {
	File           string      `json:"file"`
	Valid          bool        `json:"valid"`
	Instances      int         `json:"instances,omitempty"`
	SecurityGroups int         `json:"security_groups,omitempty"`
	Expectations   int         `json:"expectations,omitempty"`
	Errors         []fileError `json:"errors,omitempty"`
}

func newValidateCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check topology files: schema, references and quotas (exit 0 valid, 2 invalid)",
		Args:  cobra.MinimumNArgs(1),
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
						fmt.Fprintf(w, "%s: ok (%d instances, %d security groups, %d expectations)\n", r.File, r.Instances, r.SecurityGroups, r.Expectations)
						continue
					}
					for _, e := range r.Errors {
						fmt.Fprintln(w, errorLine(e))
					}
				}
			}
			if invalid > 0 {
				return &exitError{code: 2, err: fmt.Errorf("%d of %d files invalid", invalid, len(args))}
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func errorLine(e fileError) string {
	if e.Line == 0 {
		return e.File + ": " + e.Message
	}
	s := fmt.Sprintf("%s:%d:%d: ", e.File, e.Line, e.Column)
	if e.Path != "" {
		s += e.Path + ": "
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
