resource "alicloud_security_group" "web" {
  security_group_type = "basic"
  inner_access_policy = "Allow"
}

resource "alicloud_security_group_rule" "range_dash" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22-80"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "range_high" {
  type              = "ingress"
  ip_protocol       = "udp"
  port_range        = "0/70000"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "tcp_any" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "-1/-1"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "icmp_ports" {
  type              = "ingress"
  ip_protocol       = "icmp"
  port_range        = "8/8"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "words" {
  type              = "inbound"
  ip_protocol       = "tcpp"
  policy            = "allow"
  priority          = 101
  port_range        = "22/22"
  cidr_ip           = "172.17.**.**"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "two_sources" {
  type                     = "ingress"
  ip_protocol              = "tcp"
  port_range               = "22/22"
  cidr_ip                  = "10.0.0.0/8"
  source_security_group_id = alicloud_security_group.web.id
  security_group_id        = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "no_source" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "foreign_group" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = "10.0.0.0/8"
  security_group_id = "sg-bp1fg655nh68xyz9i0a1"
}

resource "alicloud_security_group_rule" "missing" {
  security_group_id = alicloud_security_group.web.id
  cidr_ip           = "10.0.0.0/8"
}
