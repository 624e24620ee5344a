resource "alicloud_security_group" "web" {
  security_group_name = "web
}
