package aliyun

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vpclab/vpclab/topology"
)

func init() { topology.RegisterImporter("aliyun", Import) }

// maxFileSize bounds one input file; the largest real dumps (every rule of
// a region's groups) are a few MiB.
const maxFileSize = 16 << 20

// Import reads JSON responses of the Alibaba Cloud ECS and VPC APIs (as the
// aliyun CLI or an SDK prints them) from files, or from the .json files of
// directories, and returns the topology fragment they describe. Each JSON
// document is recognised by its shape; see the package documentation for
// the responses read and how each field maps.
func Import(paths []string, opts topology.ImportOptions) (*topology.Fragment, error) {
	im := newImporter(opts)
	if len(paths) == 0 {
		im.errs = append(im.errs, &topology.Error{Line: 1, Column: 1, Msg: "no input: give files or directories of API JSON"})
		return nil, im.errs
	}
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			im.errs = append(im.errs, &topology.Error{File: p, Line: 1, Column: 1, Msg: err.Error()})
			continue
		}
		for _, f := range files {
			data, err := readFile(f)
			if err != nil {
				im.errs = append(im.errs, &topology.Error{File: f, Line: 1, Column: 1, Msg: err.Error()})
				continue
			}
			im.read(f, data)
		}
	}
	return im.finish()
}

// importData is Import of one file already in memory (tests and fuzzing).
func importData(name string, data []byte, opts topology.ImportOptions) (*topology.Fragment, error) {
	im := newImporter(opts)
	if len(data) > maxFileSize {
		return nil, topology.Errors{{File: name, Line: 1, Column: 1, Msg: fmt.Sprintf("file larger than %d MiB", maxFileSize>>20)}}
	}
	im.read(name, data)
	return im.finish()
}

// expand returns the file itself, or the .json files of a directory (not
// recursive), sorted.
func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, cleanErr(err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, cleanErr(err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".json") {
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the directory holds no .json file")
	}
	return out, nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, cleanErr(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, cleanErr(err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file larger than %d MiB", maxFileSize>>20)
	}
	return data, nil
}

// cleanErr drops the path an *fs.PathError repeats (the error is already
// printed after the file name).
func cleanErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// importer collects the entities of every document, then resolves the
// references between them (rules → groups, instances → vswitches and
// groups, SNAT/DNAT → gateways) once all files are read, so files may come
// in any order.
type importer struct {
	opts    topology.ImportOptions
	errs    topology.Errors
	skipped []topology.Skipped

	groups    []*group
	groupByID map[string]*group
	instances []*instance
	vpcs      []*vpc
	vswitches []*vswitch
	vswByID   map[string]*vswitch
	eips      []*eip
	nats      []*nat
	snats     []*snatEntry
	dnats     []*dnatEntry
	prefixes  map[string]*prefixList
	vpcRefs   []vpcRef
	ids       map[string]bool // kind\x00id of the entities read, see seen
}

func newImporter(opts topology.ImportOptions) *importer {
	return &importer{opts: opts, groupByID: map[string]*group{}, vswByID: map[string]*vswitch{},
		prefixes: map[string]*prefixList{}, ids: map[string]bool{}}
}

// maxErrors bounds the errors of one import, as the loader bounds a file's.
const maxErrors = 1000

func (im *importer) add(e *topology.Error) {
	if len(im.errs) < maxErrors {
		im.errs = append(im.errs, e)
	} else if len(im.errs) == maxErrors {
		im.errs = append(im.errs, &topology.Error{File: e.File, Line: e.Line, Column: e.Column,
			Msg: fmt.Sprintf("too many errors; stopped after %d", maxErrors)})
	}
}

// read parses one file and collects the entities of each document in it.
func (im *importer) read(name string, data []byte) {
	src := newSource(name, data)
	docs, err := parseDocuments(data)
	if err != nil {
		var se *syntaxError
		off := 0
		msg := err.Error()
		if errors.As(err, &se) {
			off, msg = se.off, se.msg
		}
		if first := bytes.TrimLeft(data, " \t\r\n\xef\xbb\xbf"); len(first) > 0 && first[0] != '{' && first[0] != '[' {
			// A table (aliyun ... --output cols=...) or another format.
			msg += "; the file does not start with { or [: give the JSON the API or the aliyun CLI prints by default (without --output)"
		}
		line, col := src.pos(off)
		im.add(&topology.Error{File: name, Line: line, Column: col, Msg: "invalid JSON: " + msg})
		return
	}
	for _, d := range docs {
		im.document(src, d, "", 0)
	}
}

// responses are the shapes read, by the key that identifies them.
var responses = []struct {
	key, api string
	read     func(im *importer, o obj)
}{
	{"Permissions", "DescribeSecurityGroupAttribute", (*importer).securityGroupAttribute},
	{"SecurityGroups", "DescribeSecurityGroups", (*importer).securityGroups},
	{"Instances", "DescribeInstances", (*importer).instancesResponse},
	{"Vpcs", "DescribeVpcs", (*importer).vpcsResponse},
	{"VSwitches", "DescribeVSwitches", (*importer).vswitchesResponse},
	{"EipAddresses", "DescribeEipAddresses", (*importer).eipsResponse},
	{"NatGateways", "DescribeNatGateways", (*importer).natsResponse},
	{"SnatTableEntries", "DescribeSnatTableEntries", (*importer).snatResponse},
	{"ForwardTableEntries", "DescribeForwardTableEntries", (*importer).dnatResponse},
	{"Entries", "DescribePrefixListAttributes", (*importer).prefixListResponse},
	// The responses about one resource are that resource itself.
	{"VpcAttributes", "DescribeInstanceAttribute", (*importer).instance},
	{"VSwitchId", "DescribeVSwitchAttributes", (*importer).vswitch},
	{"CidrBlock", "DescribeVpcAttribute", (*importer).vpc},
}

// allowedResponses names the responses read, for the error about any other.
var allowedResponses = sync.OnceValue(func() string {
	names := make([]string, len(responses))
	for i, r := range responses {
		names[i] = r.api
	}
	return strings.Join(names, ", ")
})

// document recognises one JSON value: a response, an array of responses,
// or a response wrapped in {"XxxResponse": {...}} (the API's XML shape
// converted to JSON).
func (im *importer) document(src *source, n *node, path string, depth int) {
	o := obj{im: im, src: src, n: n, path: path}
	switch n.kind {
	case kArray:
		if depth > 0 {
			break
		}
		for i, e := range n.elems {
			im.document(src, e, fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		return
	case kObject:
		for _, r := range responses {
			if n.get(r.key) != nil {
				r.read(im, o)
				return
			}
		}
		if len(n.members) == 1 && strings.HasSuffix(n.members[0].key, "Response") && n.members[0].val.kind == kObject && depth < 2 {
			im.document(src, n.members[0].val, join(path, n.members[0].key), depth+1)
			return
		}
	}
	o.errAt(n, path, "not a response this importer reads: want a JSON object of one of the APIs", allowedResponses())
}

// finish resolves references and builds the fragment.
func (im *importer) finish() (*topology.Fragment, error) {
	fr := &topology.Fragment{Format: "aliyun"}
	im.build(fr)
	if len(im.errs) > 0 {
		slices.SortStableFunc(im.errs, func(a, b *topology.Error) int {
			return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
				strings.Compare(a.Path, b.Path), strings.Compare(a.Msg, b.Msg))
		})
		im.errs = slices.CompactFunc(im.errs, func(a, b *topology.Error) bool { return *a == *b })
		return nil, im.errs
	}
	slices.SortStableFunc(im.skipped, func(a, b topology.Skipped) int {
		return cmp.Or(strings.Compare(a.Origin.File, b.Origin.File), cmp.Compare(a.Origin.Line, b.Origin.Line),
			cmp.Compare(a.Origin.Column, b.Origin.Column))
	})
	fr.Skipped = im.skipped
	return fr, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
