// Package terraform imports Terraform configurations of the alicloud
// provider into a topology Fragment, registered as the import format
// "terraform".
//
// It reads two forms:
//
//   - A directory (or several, or single files) of .tf and .tf.json files.
//     They are parsed with hashicorp/hcl/v2 and evaluated offline with
//     go-cty: variables (defaults, .tfvars files, TF_VAR_*, --var, in
//     Terraform's precedence), locals, references between resources, count,
//     for_each, splats and Terraform's common functions. A resource's id is
//     its address (alicloud_vpc.main), which is how references resolve.
//     Evaluate is the provider-neutral half of this and can serve other
//     providers' mappings.
//   - The JSON of `terraform show -json` (a plan or a state), which resolves
//     modules and data sources for users who can run Terraform.
//
// Bounds, so that no input hangs: files of at most 16 MiB, count and
// for_each of at most 10,000 instances per resource, references nested at
// most 500 deep, for expressions nested at most 2 deep, set products of at
// most 10,000 elements, format widths under 10,000, 1,000 errors.
//
// What decides reachability and cannot be known offline (a data source, a
// module, an unset variable, an attribute the cloud computes) is an error
// naming the file, line, column, resource and argument, and what to pass.
package terraform
