# ingress written as an argument (attributes-as-blocks) with a typo: the
# provider knows cidr_blocks.
resource "aws_security_group" "web" {
  name = "web"
  ingress = [{
    protocol   = "tcp"
    from_port  = 443
    to_port    = 443
    cidr_block = ["0.0.0.0/0"]
  }]
  egress = "none"
}
