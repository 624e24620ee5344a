resource "alicloud_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vswitch" "a" {
  vpc_id     = alicloud_vpc.main.id
  cidr_block = "10.0.1.0/24"
}

resource "alicloud_security_group" "web" {}

resource "alicloud_instance" "bastion" {
  vswitch_id      = alicloud_vswitch.a.id
  security_groups = [alicloud_security_group.web.id]
}

resource "alicloud_security_group_rule" "from_bastion_public" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = "${alicloud_instance.bastion.public_ip}/32"
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "from_file" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = file("office.txt")
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_security_group_rule" "from_slb" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "80/80"
  cidr_ip           = alicloud_slb_load_balancer.front.address
  security_group_id = alicloud_security_group.web.id
}

resource "alicloud_slb_load_balancer" "front" {
  load_balancer_name = "front"
}

resource "alicloud_instance" "no_groups" {
  vswitch_id = "vsw-unknown"
}
