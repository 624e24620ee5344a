package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// addOutputFlag adds -o table|json to cmd.
func addOutputFlag(cmd *cobra.Command, o *string) {
	cmd.Flags().StringVarP(o, "output", "o", "table", "output format: table or json")
}

// checkOutput refuses an -o value other than table or json (exit 2).
func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usageError("-o %q: want table or json", o)
	}
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
