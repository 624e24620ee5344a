package terraform

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// maxFileSize bounds every file read (configuration, .tfvars, show JSON).
const maxFileSize = 16 << 20

// readFile reads a file of at most maxFileSize bytes.
func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", maxFileSize>>20)
	}
	return b, nil
}

// isConfigFile reports whether name is a Terraform configuration file.
func isConfigFile(name string) bool {
	return strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")
}

// isOverride reports whether name is a Terraform override file
// (override.tf, x_override.tf, and their .tf.json forms).
func isOverride(name string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".json"), ".tf")
	return base == "override" || strings.HasSuffix(base, "_override")
}

// input is what the paths given to Evaluate hold.
type input struct {
	configs []string // .tf and .tf.json files, directory by directory, sorted by name in each
	tfvars  []string // terraform.tfvars(.json), then *.auto.tfvars(.json), of each directory
	dirs    []string // the directories (a file's directory when a file is given)
}

// collect lists the configuration files of paths: a directory gives its .tf
// and .tf.json files (not its subdirectories, as in Terraform) and its
// automatically loaded .tfvars files.
func collect(paths []string) (input, error) {
	var in input
	for _, p := range paths {
		if slices.Contains(in.configs, p) || slices.Contains(in.dirs, p) {
			continue // given twice: read once
		}
		st, err := os.Stat(p)
		if err != nil {
			return in, err
		}
		if !st.IsDir() {
			if !isConfigFile(p) {
				return in, fmt.Errorf("%s: not a Terraform file (.tf, .tf.json) nor the JSON of `terraform show -json` (.json)", p)
			}
			in.configs = append(in.configs, p)
			if d := filepath.Dir(p); !slices.Contains(in.dirs, d) {
				in.dirs = append(in.dirs, d)
			}
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return in, err
		}
		var auto []string
		for _, e := range ents {
			n := e.Name()
			if e.IsDir() || strings.HasPrefix(n, ".") {
				continue
			}
			switch {
			case isConfigFile(n):
				in.configs = append(in.configs, filepath.Join(p, n))
			case n == "terraform.tfvars" || n == "terraform.tfvars.json":
				in.tfvars = append(in.tfvars, filepath.Join(p, n))
			case strings.HasSuffix(n, ".auto.tfvars") || strings.HasSuffix(n, ".auto.tfvars.json"):
				auto = append(auto, filepath.Join(p, n))
			}
		}
		if !slices.ContainsFunc(in.configs, func(c string) bool { return filepath.Dir(c) == filepath.Clean(p) }) {
			return in, fmt.Errorf("%s: no .tf or .tf.json files (Terraform reads a directory's own files, not its subdirectories'; for a plan or state give the .json file)", p)
		}
		// ReadDir sorts by name: terraform.tfvars precedes terraform.tfvars.json.
		in.tfvars = append(in.tfvars, auto...)
		if !slices.Contains(in.dirs, p) {
			in.dirs = append(in.dirs, p)
		}
	}
	return in, nil
}

// parseFile parses a .tf (native syntax) or .tf.json / .tfvars.json (JSON)
// file with a fresh parser.
func parseFile(p *hclparse.Parser, name string) (*hcl.File, hcl.Diagnostics) {
	src, err := readFile(name)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read file", Detail: err.Error(),
			Subject: &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}}}
	}
	if strings.HasSuffix(name, ".json") {
		return p.ParseJSON(src, name)
	}
	return p.ParseHCL(src, name)
}
