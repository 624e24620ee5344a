module "vpc" {
  source  = "alibaba/vpc/alicloud"
  version = "1.11.0"
}
