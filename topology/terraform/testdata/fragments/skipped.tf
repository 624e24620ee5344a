# With SkipUnsupported, what vpclab does not model is listed, not refused;
# the rest imports.
resource "alicloud_security_group" "web" {}

resource "alicloud_security_group_rule" "v6" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  ipv6_cidr_ip      = "::/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "v4" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vswitch" "a" {
  vpc_id     = alicloud_vpc.main.id
  cidr_block = "10.0.1.0/24"
}

resource "alicloud_instance" "two_nics" {
  vswitch_id      = alicloud_vswitch.a.id
  security_groups = [alicloud_security_group.web.id]
  network_interfaces {
    vswitch_id         = alicloud_vswitch.a.id
    security_group_ids = [alicloud_security_group.web.id]
  }
}
