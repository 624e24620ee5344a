resource "alicloud_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vswitch" "a" {
  vpc_id     = alicloud_vpc.main.id
  cidr_block = "10.0.1.0/24"
}

resource "alicloud_nat_gateway" "nat" {
  vpc_id     = alicloud_vpc.main.id
  vswitch_id = alicloud_vswitch.a.id
}

resource "alicloud_eip_address" "one" {
  ip_address = "203.0.113.10"
}

resource "alicloud_eip_address" "two" {}

resource "alicloud_eip_association" "one" {
  allocation_id = alicloud_eip_address.one.id
  instance_id   = alicloud_nat_gateway.nat.id
}

resource "alicloud_snat_entry" "second_eip" {
  snat_table_id     = alicloud_nat_gateway.nat.snat_table_ids
  source_vswitch_id = alicloud_vswitch.a.id
  snat_ip           = alicloud_eip_address.two.ip_address
}

resource "alicloud_snat_entry" "cidr" {
  snat_table_id = alicloud_nat_gateway.nat.snat_table_ids
  source_cidr   = "10.0.0.0/16"
  snat_ip       = alicloud_eip_address.one.ip_address
}

resource "alicloud_forward_entry" "any" {
  forward_table_id = alicloud_nat_gateway.nat.forward_table_ids
  external_ip      = alicloud_eip_address.one.ip_address
  external_port    = "any"
  ip_protocol      = "any"
  internal_ip      = "10.0.1.99"
  internal_port    = "any"
}

resource "alicloud_forward_entry" "range" {
  forward_table_id = alicloud_nat_gateway.nat.forward_table_ids
  external_ip      = alicloud_eip_address.one.ip_address
  external_port    = "8000-8080"
  ip_protocol      = "tcp"
  internal_ip      = "10.0.1.99"
  internal_port    = "70000"
}

resource "alicloud_nat_gateway" "no_vswitch" {
  vpc_id = alicloud_vpc.main.id
}
