variable "replicas" {
  type = number
}

resource "alicloud_security_group" "a" {
  count = var.replicas
}

resource "alicloud_security_group" "b" {
  count = 20000
}

resource "alicloud_security_group" "c" {
  for_each = ["a", "b"]
}

resource "alicloud_security_group" "d" {
  count    = 1
  for_each = toset(["a"])
}
