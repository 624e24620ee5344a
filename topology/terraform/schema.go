package terraform

import "strings"

// Schema tells Evaluate which resource types to evaluate and what their
// arguments are. Resource types not in it are not evaluated: a reference to
// one is an unknown value saying that vpclab does not model it.
type Schema map[string]*ResourceSchema

// ResourceSchema is the arguments of one resource type, as its provider
// documents them.
type ResourceSchema struct {
	// Args is every argument the provider accepts; any other argument is an
	// error with a "did you mean" (Terraform's own check).
	Args []string
	// Relevant are the arguments Evaluate evaluates; the others are
	// accepted and left unevaluated, so what they reference (a data source
	// feeding user_data) is never an error.
	Relevant []string
	// Computed are attributes the provider exports beside id and Args (an
	// EIP's ip_address); a reference to one is an unknown value naming it.
	Computed []string
	// Blocks are the nested block types the provider accepts. A nil schema
	// accepts the block without reading it.
	Blocks map[string]*ResourceSchema
}

// metaArgs are Terraform's meta-arguments, accepted on every resource.
var (
	metaArgs   = []string{"count", "for_each", "provider", "depends_on"}
	metaBlocks = []string{"lifecycle", "provisioner", "connection", "timeouts"}
)

func fields(s string) []string { return strings.Fields(s) }

// alicloudSchema holds the resources the alicloud mapping reads. Argument
// lists are from the provider's documentation,
// website/docs/r/*.html.markdown of github.com/aliyun/terraform-provider-alicloud
// at commit 81c43b6727a09e9da37b3d88818c3ba5fa17fa14 (2026-08-21).
var alicloudSchema = Schema{
	"alicloud_vpc": {
		Args: fields(`cidr_block classic_link_enabled description dns_hostname_status dry_run enable_ipv6
			force_delete ipv4_cidr_mask ipv4_ipam_pool_id ipv6_cidr_block ipv6_isp is_default name
			resource_group_id router_table_id secondary_cidr_blocks secondary_cidr_mask
			system_route_table_description system_route_table_name
			system_route_table_route_propagation_enable tags user_cidrs vpc_name`),
		Relevant: fields(`cidr_block vpc_name name ipv4_ipam_pool_id`),
		Computed: fields(`route_table_id router_id status create_time`),
	},
	"alicloud_vswitch": {
		Args: fields(`availability_zone cidr_block description enable_ipv6 ipv6_cidr_block_mask is_default
			name tags vpc_id vpc_ipv6_cidr_block vswitch_name zone_id`),
		Relevant: fields(`cidr_block vpc_id`),
		Computed: fields(`status create_time ipv6_cidr_block`),
	},
	"alicloud_security_group": {
		Args: fields(`description inner_access inner_access_policy name resource_group_id
			security_group_name security_group_type tags vpc_id`),
		Relevant: fields(`inner_access inner_access_policy security_group_type`),
		Computed: fields(`create_time`),
	},
	"alicloud_security_group_rule": {
		Args: fields(`cidr_ip description ip_protocol ipv6_cidr_ip nic_type policy port_range prefix_list_id
			priority security_group_id source_group_owner_account source_group_owner_id
			source_security_group_id type`),
		Relevant: fields(`cidr_ip description ip_protocol ipv6_cidr_ip nic_type policy port_range prefix_list_id
			priority security_group_id source_group_owner_account source_group_owner_id
			source_security_group_id type`),
		Computed: fields(`security_group_rule_id`),
	},
	"alicloud_ecs_prefix_list": {
		Args:     fields(`address_family description max_entries prefix_list_name`),
		Relevant: fields(`address_family`),
		Computed: fields(`create_time`),
		Blocks: map[string]*ResourceSchema{
			"entry": {Args: fields(`cidr description`), Relevant: fields(`cidr`)},
		},
	},
	"alicloud_instance": {
		Args: fields(`allocate_public_ip auto_release_time auto_renew_period availability_zone
			credit_specification dedicated_host_id deletion_protection deployment_set_id description dry_run
			enable_high_density_mode enable_jumbo_frame force_delete host_name hpc_cluster_id http_endpoint
			http_put_response_hop_limit http_tokens image_id include_data_disks instance_charge_type
			instance_name instance_type internet_charge_type internet_max_bandwidth_in
			internet_max_bandwidth_out io_optimized ipv6_address_count ipv6_addresses is_outdated key_name
			kms_encrypted_password kms_encryption_context launch_template_id launch_template_name
			launch_template_version maintenance_action maintenance_notify network_card_index
			network_interface_id network_interface_traffic_mode operator_type password password_inherit
			period period_unit private_ip private_pool_options_id private_pool_options_match_criteria
			queue_pair_number renewal_status resource_group_id role_name secondary_private_ip_address_count
			secondary_private_ips security_enhancement_strategy security_groups source_dest_check
			spot_duration spot_interruption_behavior spot_price_limit spot_strategy status stopped_mode
			subnet_id system_disk_auto_snapshot_policy_id system_disk_bursting_enabled system_disk_category
			system_disk_description system_disk_encrypt_algorithm system_disk_encrypted system_disk_kms_key_id
			system_disk_name system_disk_performance_level system_disk_provisioned_iops system_disk_size
			system_disk_storage_cluster_id tags user_data volume_tags vpc_id vswitch_id`),
		Relevant: fields(`internet_max_bandwidth_out private_ip security_groups vswitch_id subnet_id`),
		Computed: fields(`public_ip primary_ip_address cpu memory os_name os_type create_time start_time expired_time deployment_set_group_no`),
		Blocks: map[string]*ResourceSchema{
			"data_disks": nil, "maintenance_time": nil,
			// Read only to refuse a second NIC.
			"network_interfaces": {Args: fields(`network_interface_id vswitch_id network_interface_traffic_mode
				network_card_index queue_pair_number source_dest_check security_group_ids`)},
			"image_options": nil, "cpu_options": nil,
		},
	},
	"alicloud_eip_address": {
		Args: fields(`activity_id address_name allocation_id auto_pay bandwidth deletion_protection description
			high_definition_monitor_log_status instance_charge_type internet_charge_type ip_address isp
			log_project log_store mode name netmode payment_type period pricing_cycle
			public_ip_address_pool_id resource_group_id security_protection_types tags zone`),
		Relevant: fields(`ip_address`),
		Computed: fields(`status create_time`),
	},
	"alicloud_eip": {
		Args: fields(`address_name bandwidth deletion_protection description instance_charge_type
			internet_charge_type isp name payment_type period resource_group_id tags`),
		Computed: fields(`ip_address status`),
	},
	"alicloud_eip_association": {
		Args:     fields(`allocation_id force instance_id instance_type mode private_ip_address vpc_id`),
		Relevant: fields(`allocation_id instance_id instance_type`),
	},
	"alicloud_nat_gateway": {
		Args: fields(`bandwidth_package_ids deletion_protection description dry_run eip_bind_mode force
			icmp_reply_enabled instance_charge_type internet_charge_type name nat_gateway_name nat_type
			network_type payment_type period private_link_enabled spec specification tags vpc_id vswitch_id`),
		Relevant: fields(`vswitch_id network_type`),
		Computed: fields(`snat_table_ids forward_table_ids status`),
		Blocks:   map[string]*ResourceSchema{"access_mode": nil, "bandwidth_packages": nil},
	},
	"alicloud_snat_entry": {
		Args:     fields(`eip_affinity snat_entry_name snat_ip snat_table_id source_cidr source_vswitch_id`),
		Relevant: fields(`snat_ip snat_table_id source_cidr source_vswitch_id`),
		Computed: fields(`snat_entry_id status`),
	},
	"alicloud_forward_entry": {
		Args: fields(`external_ip external_port forward_entry_name forward_table_id internal_ip internal_port
			ip_protocol name port_break`),
		Relevant: fields(`external_ip external_port forward_table_id internal_ip internal_port ip_protocol`),
		Computed: fields(`forward_entry_id status`),
	},
	// alicloud_route_entry is read only to refuse routes to an instance
	// (vpclab has no routes); its other arguments are not checked.
	"alicloud_route_entry": {
		Args: fields(`route_table_id destination_cidrblock nexthop_type nexthop_id name description
			router_id`),
		Relevant: fields(`nexthop_type nexthop_id destination_cidrblock`),
	},
}
