# An inline rule without a source: AWS refuses it.
resource "aws_security_group" "web" {
  name = "web"

  ingress {
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = []
    self        = false
  }
}
