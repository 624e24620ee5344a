resource "alicloud_vpc" "main" {
  cidr_blok = "10.0.0.0/16"
}

resource "alicloud_security_group_rule" "ssh" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = "0.0.0.0/0"
  security_grop_id  = "sg-1"
  source_port_range = "1/65535"
}
