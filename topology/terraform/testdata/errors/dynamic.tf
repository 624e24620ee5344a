resource "alicloud_ecs_prefix_list" "office" {
  address_family = "IPv4"
  max_entries    = 10
  dynamic "entry" {
    for_each = ["10.0.0.0/8"]
    content {
      cidr = entry.value
    }
  }
}
