resource "alicloud_security_group" "inner" {
  security_group_name = "inner"
}
