resource "alicloud_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vswitch" "pub" {
  vpc_id     = alicloud_vpc.main.id
  cidr_block = "10.0.0.0/24"
}

resource "alicloud_vswitch" "app" {
  vpc_id     = alicloud_vpc.main.id
  cidr_block = "10.0.1.0/24"
}

resource "alicloud_security_group" "app" {}

resource "alicloud_instance" "app" {
  vswitch_id      = alicloud_vswitch.app.id
  security_groups = [alicloud_security_group.app.id]
  private_ip      = "10.0.1.20"
}

resource "alicloud_instance" "worker" {
  vswitch_id      = alicloud_vswitch.app.id
  security_groups = [alicloud_security_group.app.id]
}

resource "alicloud_instance" "bastion" {
  vswitch_id      = alicloud_vswitch.pub.id
  security_groups = [alicloud_security_group.app.id]
}

resource "alicloud_nat_gateway" "nat" {
  vpc_id           = alicloud_vpc.main.id
  vswitch_id       = alicloud_vswitch.pub.id
  nat_type         = "Enhanced"
  nat_gateway_name = "nat"
}

resource "alicloud_eip_address" "nat" {
  address_name = "nat"
}

resource "alicloud_eip" "bastion" {
  bandwidth = 5
}

resource "alicloud_eip_association" "nat" {
  allocation_id = alicloud_eip_address.nat.id
  instance_id   = alicloud_nat_gateway.nat.id
  instance_type = "Nat"
}

resource "alicloud_eip_association" "bastion" {
  allocation_id = alicloud_eip.bastion.id
  instance_id   = alicloud_instance.bastion.id
}

resource "alicloud_snat_entry" "app" {
  snat_table_id     = alicloud_nat_gateway.nat.snat_table_ids
  source_vswitch_id = alicloud_vswitch.app.id
  snat_ip           = alicloud_eip_address.nat.ip_address
}

resource "alicloud_snat_entry" "pub" {
  snat_table_id = alicloud_nat_gateway.nat.snat_table_ids
  source_cidr   = "10.0.0.0/24"
  snat_ip       = alicloud_eip_address.nat.ip_address
}

resource "alicloud_forward_entry" "https" {
  forward_table_id = alicloud_nat_gateway.nat.forward_table_ids
  external_ip      = alicloud_eip_address.nat.ip_address
  external_port    = "443"
  ip_protocol      = "tcp"
  internal_ip      = alicloud_instance.app.private_ip
  internal_port    = "8443"
}

resource "alicloud_forward_entry" "dns" {
  forward_table_id = alicloud_nat_gateway.nat.forward_table_ids
  external_ip      = alicloud_eip_address.nat.ip_address
  external_port    = 53
  ip_protocol      = "udp"
  internal_ip      = alicloud_instance.worker.private_ip
  internal_port    = 53
}

resource "alicloud_slb_load_balancer" "front" {}

resource "alicloud_eip_address" "front" {}

# An EIP on a load balancer: vpclab does not model SLB; ignored.
resource "alicloud_eip_association" "front" {
  allocation_id = alicloud_eip_address.front.id
  instance_id   = alicloud_slb_load_balancer.front.id
  instance_type = "SlbInstance"
}
