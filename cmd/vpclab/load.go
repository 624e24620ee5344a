package main

import (
	_ "embed"
	"errors"
	"io/fs"

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
// whose text is one problem per line (topology.Errors prints that way).
func loadTopology(path string) (*topology.Topology, error) {
	var (
		t   *topology.Topology
		err error
	)
	if path == "" {
		t, err = topology.Load(defaultTopologyName, defaultTopology)
	} else {
		t, err = topology.LoadFile(path)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe // "open x.yaml: no such file or directory"
		}
		return nil, &exitError{code: 2, err: err}
	}
	return t, nil
}
