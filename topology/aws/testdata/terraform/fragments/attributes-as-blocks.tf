# ingress and egress written as arguments (attributes-as-blocks mode): a
# list of objects, and egress = [] which removes every egress rule.
resource "aws_security_group" "web" {
  name = "web"
  ingress = [
    {
      description      = "https"
      protocol         = "tcp"
      from_port        = 443
      to_port          = 443
      cidr_blocks      = ["0.0.0.0/0"]
      ipv6_cidr_blocks = []
      prefix_list_ids  = []
      security_groups  = []
      self             = false
    },
  ]
  egress = []
}
