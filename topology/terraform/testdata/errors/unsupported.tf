resource "alicloud_security_group" "web" {}

resource "alicloud_security_group_rule" "v6" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  ipv6_cidr_ip      = "::/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "v6_in_cidr_ip" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  cidr_ip           = "2001:db8::/32"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "port_list" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22,80"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "internet" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  nic_type          = "internet"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "other_account" {
  type                       = "ingress"
  ip_protocol                = "tcp"
  port_range                 = "22/22"
  source_security_group_id   = alicloud_security_group.web.id
  source_group_owner_account = "1234567890"
  security_group_id          = alicloud_security_group.web.id
}

resource "alicloud_route_entry" "via_instance" {
  route_table_id        = "vtb-1"
  destination_cidrblock = "0.0.0.0/0"
  nexthop_type          = "Instance"
  nexthop_id            = "i-1"
}

resource "alicloud_instance" "two_nics" {
  vswitch_id      = "vsw-1"
  security_groups = [alicloud_security_group.web.id]
  network_interfaces {
    vswitch_id         = "vsw-2"
    security_group_ids = [alicloud_security_group.web.id]
  }
}
