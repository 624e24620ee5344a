package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/topology"
)

// graphReport is what -o json prints: the rendered graph and its format.
type graphReport struct {
	File   string `json:"file"`
	Format string `json:"format"`
	Graph  string `json:"graph"`
}

func newGraphCmd() *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Draw the topology as a Mermaid or Graphviz graph",
		Long: `Graph renders FILE without running it: each vswitch a subgraph of its instances
(private address, EIP, security groups) and NAT gateways, the internet hosts,
an edge per expect line (allow solid, block dashed red, refuse dotted), per
DNAT entry, and per group reference (a source_group or destination_group rule,
"sg-app → sg-db tcp 5432").

-o table prints the graph text itself (paste it into Markdown, or pipe it to
"dot -Tsvg"); -o json wraps it with the file name and format.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if format != topology.GraphMermaid && format != topology.GraphDot {
				return usageError("--format %q: want %s or %s", format, topology.GraphMermaid, topology.GraphDot)
			}
			t, err := loadTopology(args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			g, err := topology.Graph(t, format)
			if err != nil {
				return usageError("%v", err)
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), graphReport{File: t.File, Format: format, Graph: g})
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), g)
			return err
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&format, "format", topology.GraphMermaid, "graph language: mermaid or dot")
	addMaxFileSizeFlag(cmd)
	return cmd
}
