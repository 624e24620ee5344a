package terraform

import (
	"bytes"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/vpclab/vpclab/topology"
)

func init() { topology.RegisterImporter("terraform", Import) }

// Import reads a Terraform configuration of the alicloud provider (.tf and
// .tf.json files, directories of them) or the JSON of `terraform show
// -json` (a .json file whose top level has format_version), and returns its
// VPC, vswitches, security groups and rules, instances, EIPs and NAT
// gateways. Every entity is named by its address and carries its origin.
// It returns topology.Errors holding every problem.
func Import(paths []string, opts topology.ImportOptions) (*topology.Fragment, error) {
	var errs errorList
	var res []*Resource
	var config []string
	for _, p := range paths {
		if !strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".tf.json") {
			config = append(config, p)
			continue
		}
		src, err := readFile(p)
		if err != nil {
			errs.add(hcl.Range{Filename: p, Start: hcl.InitialPos}, "", err.Error())
			continue
		}
		rs, es := ReadShowJSON(p, src, alicloudSchema)
		errs.errs = append(errs.errs, es...)
		res = append(res, rs...)
	}
	if len(config) > 0 {
		cfg, es := Evaluate(config, opts, alicloudSchema)
		errs.errs = append(errs.errs, es...)
		if cfg != nil {
			res = append(res, cfg.Resources...)
		}
	}
	frag, es := mapAlicloud(res, opts)
	errs.errs = append(errs.errs, es...)
	if len(errs.errs) > 0 {
		return nil, errs.sorted()
	}
	return frag, nil
}

// isShowJSON reports whether src looks like `terraform show -json` output.
func isShowJSON(src []byte) bool {
	return bytes.Contains(src, []byte(`"format_version"`))
}
