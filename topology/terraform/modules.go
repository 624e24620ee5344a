package terraform

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// maxModuleDepth bounds how deep checkModule follows module calls.
const maxModuleDepth = 5

// checkModule reports a module call whose module holds resources of the
// schema's types: vpclab does not evaluate modules, `terraform show -json`
// does. A local module (./net) is read from disk, a registry or git module
// from .terraform/modules (terraform init); one that is not there is
// reported too, since it may hold anything.
func (e *evaluator) checkModule(b *hcl.Block, dir string) {
	name := b.Labels[0]
	attrs, _ := b.Body.JustAttributes()
	src := ""
	if a, ok := attrs["source"]; ok {
		if v, diags := a.Expr.Value(nil); !diags.HasErrors() && v.IsKnown() && !v.IsNull() && v.Type().FriendlyName() == "string" {
			src = v.AsString()
		}
	}
	path := "module." + name
	mdir := ""
	if strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
		mdir = filepath.Join(dir, src)
	} else {
		mdir = installedModule(dir, name)
	}
	if mdir == "" {
		e.errs.add(b.DefRange, path, fmt.Sprintf("module %q (source %q) is not on disk, so vpclab cannot tell what it holds: run `terraform init`, or import the JSON of `terraform show -json`", name, src))
		return
	}
	if found := e.moduleHolds(mdir, 0); found != "" {
		e.errs.add(b.DefRange, path, fmt.Sprintf("module %q holds %s, and vpclab does not evaluate modules: import the JSON of `terraform show -json` (it resolves modules), or move the resources into the root module", name, found))
	}
}

// installedModule is the directory terraform init put a module in, from
// .terraform/modules/modules.json, or "".
func installedModule(dir, name string) string {
	b, err := readFile(filepath.Join(dir, ".terraform", "modules", "modules.json"))
	if err != nil {
		return ""
	}
	var mj struct {
		Modules []struct{ Key, Dir string }
	}
	if json.Unmarshal(b, &mj) != nil {
		return ""
	}
	for _, m := range mj.Modules {
		if m.Key == name {
			return filepath.Join(dir, m.Dir)
		}
	}
	return ""
}

// moduleHolds returns the first resource of a schema type in the module at
// dir (or in its local submodules), as "type.name", or "".
func (e *evaluator) moduleHolds(dir string, depth int) string {
	if depth > maxModuleDepth {
		return ""
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	p := hclparse.NewParser()
	for _, ent := range ents {
		if ent.IsDir() || !isConfigFile(ent.Name()) {
			continue
		}
		f, diags := parseFile(p, filepath.Join(dir, ent.Name()))
		if f == nil || diags.HasErrors() {
			continue
		}
		c, _, _ := f.Body.PartialContent(fileSchema)
		for _, blk := range c.Blocks {
			switch {
			case blk.Type == "resource" && e.schema[blk.Labels[0]] != nil:
				return blk.Labels[0] + "." + blk.Labels[1]
			case blk.Type == "module":
				attrs, _ := blk.Body.JustAttributes()
				if a, ok := attrs["source"]; ok {
					if v, d := a.Expr.Value(nil); !d.HasErrors() && v.IsKnown() && !v.IsNull() && v.Type().FriendlyName() == "string" {
						if s := v.AsString(); strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
							if r := e.moduleHolds(filepath.Join(dir, s), depth+1); r != "" {
								return r
							}
						}
					}
				}
			}
		}
	}
	return ""
}
