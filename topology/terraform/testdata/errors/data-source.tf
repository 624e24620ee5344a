data "alicloud_security_groups" "shared" {
  name_regex = "^shared"
}

data "alicloud_images" "ubuntu" {
  name_regex = "^ubuntu"
}

resource "alicloud_security_group" "web" {}

resource "alicloud_security_group_rule" "from_shared" {
  type                     = "ingress"
  ip_protocol              = "tcp"
  port_range               = "443/443"
  source_security_group_id = data.alicloud_security_groups.shared.groups[0].id
  security_group_id        = alicloud_security_group.web.id
}

resource "alicloud_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vswitch" "a" {
  vpc_id     = alicloud_vpc.main.id
  cidr_block = "10.0.1.0/24"
}

# An image from a data source decides nothing: no error.
resource "alicloud_instance" "web" {
  image_id        = data.alicloud_images.ubuntu.images[0].id
  vswitch_id      = alicloud_vswitch.a.id
  security_groups = [alicloud_security_group.web.id]
}
