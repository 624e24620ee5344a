resource "alicloud_security_group" "web" {
  inner_access_policy = "Drop"
}
