package aws

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

func init() { topology.RegisterImporter("aws", Import) }

// maxFileSize bounds one input file.
const maxFileSize = 16 << 20

// Import reads the JSON that `aws ec2 describe-security-groups`,
// `describe-instances`, `describe-subnets` and `describe-vpcs` print (one
// or many files; a directory means its *.json files, sorted) and Terraform
// configurations of the AWS provider: .tf and .tf.json files, a directory
// holding them (its .tfvars too, as Terraform reads them), or the JSON of
// `terraform show -json` (a .json file with format_version). The aws_*
// resources are mapped onto the same model (see terraform.go), and all of
// it is translated together (see Translate). Its error is a
// topology.Errors with every problem.
func Import(paths []string, opts topology.ImportOptions) (*topology.Fragment, error) {
	rep := &report{skip: opts.SkipUnsupported}
	in := &inputs{}
	tf := &tfInput{}
	for _, p := range paths {
		if tf.add(p) {
			continue // Terraform: .tf, .tf.json, terraform show -json
		}
		files, err := expand(p)
		if err != nil {
			rep.fail(topology.Origin{File: p, Line: 1, Column: 1}, "", "", err.Error(), "")
			continue
		}
		for _, f := range files {
			read(f, rep, in)
		}
	}
	if len(paths) == 0 {
		rep.fail(topology.Origin{File: "aws", Line: 1, Column: 1}, "", "", "no input: give describe-* JSON files, Terraform files or directories", "")
	}
	// Translate what could be read, with the same report, so that one run
	// names every problem.
	var tfm *tfMapper
	if len(tf.configs)+len(tf.shows) > 0 {
		tfm = tf.load(in, opts, rep)
	}
	t := newTranslator(rep)
	frag := t.translate(in.groups, in.instances, in.subnets, in.vpcs)
	tfm.finish(frag)
	if err := rep.err(); err != nil {
		return nil, err
	}
	return frag, nil
}

// expand returns path, or the *.json files of a directory.
func expand(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", unwrapPath(err))
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read directory: %w", unwrapPath(err))
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".json") {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the directory holds no .json file (describe-* output) and no .tf or .tf.json file")
	}
	sort.Strings(out)
	return out, nil
}

// unwrapPath drops the path from an *os.PathError: the error already names
// the file.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// read parses one file into in.
func read(file string, rep *report, in *inputs) {
	at := topology.Origin{File: file, Line: 1, Column: 1}
	f, err := os.Open(file)
	if err != nil {
		rep.fail(at, "", "", fmt.Sprintf("cannot read: %v", unwrapPath(err)), "")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		rep.fail(at, "", "", fmt.Sprintf("cannot read: %v", unwrapPath(err)), "")
		return
	}
	if len(data) > maxFileSize {
		rep.fail(at, "", "", fmt.Sprintf("larger than %d MiB", maxFileSize>>20), "")
		return
	}
	decode(file, data, rep, in)
}

// decode parses one document into in.
func decode(file string, data []byte, rep *report, in *inputs) {
	root, err := parseJSON(data)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			rep.fail(topology.Origin{File: file, Line: se.line, Column: se.col}, "", "", se.msg, "")
		}
		return
	}
	d := &decoder{file: file, rep: rep, m: in}
	d.document(root)
}
