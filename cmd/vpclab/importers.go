package main

// The import formats of `vpclab import` and of imports: are the importer
// packages linked into the binary: each registers itself in its init
// (topology.RegisterImporter). A format is added by importing its package
// here, and nowhere else.
import (
	_ "github.com/vpclab/vpclab/topology/aliyun"
	_ "github.com/vpclab/vpclab/topology/aws"
	_ "github.com/vpclab/vpclab/topology/ros"
	_ "github.com/vpclab/vpclab/topology/terraform"
)
