package ros

import (
	"fmt"

	"github.com/vpclab/vpclab/topology"
)

// The goccy/go-yaml parser is slow on some shapes of input (thousands of
// keys in one block mapping take seconds, time grows with their square), so,
// as the topology loader does, a linear pass refuses them first. ROS itself
// takes template bodies up to 512 KiB; these bounds are far beyond any real
// template.
const (
	maxFlowDepth    = 64   // [ and { nesting
	maxLineNesting  = 16   // block indicators (- ? : & ! *) on one line
	maxIndentLevels = 64   // block indentation levels
	maxKeysPerLevel = 2000 // keys of one block mapping
)

type position struct{ Line, Column int }

// prescan rejects, in one linear pass, input the parser would take too long
// on: files over maxFileSize, flow collections nested deeper than
// maxFlowDepth, more than maxLineNesting block indicators on one line,
// more than maxIndentLevels indentation levels and block mappings with
// more than maxKeysPerLevel keys. It returns the position and the problem,
// or "". (The topology loader's prescan, with ROS's bounds.)
func prescan(data []byte) (position, string) {
	if len(data) > maxFileSize {
		return position{1, 1}, fmt.Sprintf("file is larger than the limit of %d bytes (2 MiB)", maxFileSize)
	}
	p, msg := topology.PrescanYAML(data, topology.YAMLBounds{
		FlowDepth: maxFlowDepth, LineNesting: maxLineNesting, IndentLevels: maxIndentLevels, KeysPerLevel: maxKeysPerLevel})
	return position{p.Line, p.Column}, msg
}
