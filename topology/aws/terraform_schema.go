package aws

import (
	"strings"

	"github.com/vpclab/vpclab/topology/terraform"
)

func fields(s string) []string { return strings.Fields(s) }

// ruleBlock is an inline ingress or egress block of aws_security_group.
var ruleBlock = &terraform.ResourceSchema{
	Args:     fields(`cidr_blocks description from_port ipv6_cidr_blocks prefix_list_ids protocol security_groups self to_port`),
	Relevant: fields(`cidr_blocks description from_port ipv6_cidr_blocks prefix_list_ids protocol security_groups self to_port`),
}

// vpcRuleArgs are the arguments of aws_vpc_security_group_ingress_rule and
// aws_vpc_security_group_egress_rule.
var vpcRuleArgs = &terraform.ResourceSchema{
	Args: fields(`cidr_ipv4 cidr_ipv6 description from_port ip_protocol prefix_list_id
		referenced_security_group_id region security_group_id tags to_port`),
	Relevant: fields(`cidr_ipv4 cidr_ipv6 description from_port ip_protocol prefix_list_id
		referenced_security_group_id security_group_id to_port`),
	Computed: fields(`arn security_group_rule_id tags_all`),
}

// awsSchema holds the resources the Terraform mapping reads. Argument lists
// are those of the AWS provider's documentation
// (website/docs/r/*.html.markdown of github.com/hashicorp/terraform-provider-aws),
// the union over provider versions 3 to 6 (region is v6's, vpc and the
// classiclink arguments are v3's), so that a configuration valid for any of
// them is accepted and a typo is an error.
var awsSchema = terraform.Schema{
	"aws_vpc": {
		Args: fields(`assign_generated_ipv6_cidr_block cidr_block enable_classiclink enable_classiclink_dns_support
			enable_dns_hostnames enable_dns_support enable_network_address_usage_metrics instance_tenancy
			ipv4_ipam_pool_id ipv4_netmask_length ipv6_cidr_block ipv6_cidr_block_network_border_group
			ipv6_ipam_pool_id ipv6_netmask_length region tags`),
		Relevant: fields(`cidr_block ipv4_ipam_pool_id`),
		Computed: fields(`arn default_network_acl_id default_route_table_id default_security_group_id
			dhcp_options_id ipv6_association_id ipv6_cidr_block main_route_table_id owner_id tags_all`),
	},
	"aws_subnet": {
		Args: fields(`assign_ipv6_address_on_creation availability_zone availability_zone_id cidr_block
			customer_owned_ipv4_pool enable_dns64 enable_lni_at_device_index
			enable_resource_name_dns_a_record_on_launch enable_resource_name_dns_aaaa_record_on_launch
			ipv4_ipam_pool_id ipv4_netmask_length ipv6_cidr_block ipv6_ipam_pool_id ipv6_native
			ipv6_netmask_length map_customer_owned_ip_on_launch map_public_ip_on_launch outpost_arn
			private_dns_hostname_type_on_launch region tags vpc_id`),
		Relevant: fields(`cidr_block vpc_id map_public_ip_on_launch ipv4_ipam_pool_id`),
		Computed: fields(`arn ipv6_cidr_block_association_id owner_id tags_all`),
	},
	"aws_security_group": {
		Args: fields(`description egress ingress name name_prefix region revoke_rules_on_delete tags vpc_id`),
		// ingress and egress are blocks, or (attributes-as-blocks) a list
		// of objects: ingress = [] removes every rule, and .tf.json writes
		// them as a list.
		Relevant: fields(`egress ingress name vpc_id`),
		Computed: fields(`arn owner_id tags_all`),
		Blocks:   map[string]*terraform.ResourceSchema{"ingress": ruleBlock, "egress": ruleBlock},
	},
	// aws_default_security_group adopts a VPC's default group: Terraform
	// removes its rules and keeps those of the configuration.
	"aws_default_security_group": {
		Args:     fields(`egress ingress region revoke_rules_on_delete tags vpc_id`),
		Relevant: fields(`egress ingress vpc_id`),
		Computed: fields(`arn description name name_prefix owner_id tags_all`),
		Blocks:   map[string]*terraform.ResourceSchema{"ingress": ruleBlock, "egress": ruleBlock},
	},
	"aws_security_group_rule": {
		Args: fields(`cidr_blocks description from_port ipv6_cidr_blocks prefix_list_ids protocol region
			security_group_id self source_security_group_id to_port type`),
		Relevant: fields(`cidr_blocks description from_port ipv6_cidr_blocks prefix_list_ids protocol
			security_group_id self source_security_group_id to_port type`),
		Computed: fields(`security_group_rule_id`),
	},
	"aws_vpc_security_group_ingress_rule": vpcRuleArgs,
	"aws_vpc_security_group_egress_rule":  vpcRuleArgs,
	"aws_instance": {
		Args: fields(`ami associate_public_ip_address availability_zone cpu_core_count cpu_threads_per_core
			disable_api_stop disable_api_termination ebs_optimized enable_primary_ipv6 force_destroy
			get_password_data hibernation host_id host_resource_group_arn iam_instance_profile
			instance_initiated_shutdown_behavior instance_type ipv6_address_count ipv6_addresses key_name
			monitoring placement_group placement_group_id placement_partition_number private_ip region
			secondary_private_ips security_groups source_dest_check subnet_id tags tenancy user_data
			user_data_base64 user_data_replace_on_change volume_tags vpc_security_group_ids`),
		Relevant: fields(`associate_public_ip_address private_ip security_groups subnet_id vpc_security_group_ids`),
		Computed: fields(`arn instance_lifecycle instance_state outpost_arn password_data primary_network_interface_id
			private_dns public_dns public_ip spot_instance_request_id tags_all`),
		Blocks: map[string]*terraform.ResourceSchema{
			"capacity_reservation_specification": nil, "cpu_options": nil, "credit_specification": nil,
			"ebs_block_device": nil, "enclave_options": nil, "ephemeral_block_device": nil,
			"instance_market_options": nil, "launch_template": nil, "maintenance_options": nil,
			"metadata_options": nil, "network_interface": nil, "primary_network_interface": nil,
			"private_dns_name_options": nil, "root_block_device": nil,
		},
	},
	"aws_eip": {
		Args: fields(`address associate_with_private_ip customer_owned_ipv4_pool domain instance ipam_pool_id
			network_border_group network_interface public_ipv4_pool region tags vpc`),
		Relevant: fields(`address instance network_interface`),
		Computed: fields(`allocation_id arn association_id carrier_ip customer_owned_ip private_dns private_ip
			ptr_record public_dns public_ip tags_all`),
	},
	"aws_eip_association": {
		Args:     fields(`allocation_id allow_reassociation instance_id network_interface_id private_ip_address public_ip region`),
		Relevant: fields(`allocation_id instance_id network_interface_id public_ip`),
	},
}
