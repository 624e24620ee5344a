resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "aws_vpc" "second" {
  cidr_block = "10.1.0.0/16"
}

resource "aws_subnet" "a" {
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.0.1.0/33"
}

resource "aws_security_group" "web" {
  name   = "web"
  vpc_id = aws_vpc.main.id

  ingress {
    from_port   = 80
    to_port     = 80
    cidr_blocks = ["0.0.0.0/0"]
  }

  ingress {
    protocol    = "icmp"
    from_port   = 8
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }

  ingress {
    protocol        = "tcp"
    from_port       = 443
    to_port         = 80
    cidr_blocks     = ["10.0.0.300/24"]
    prefix_list_ids = ["pl-0123"]
  }

  ingress {
    protocol  = "tcp"
    from_port = 22
    to_port   = 22
    self      = true
  }

  egress {
    protocol    = "sctp"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group_rule" "direction" {
  type              = "inbound"
  security_group_id = aws_security_group.web.id
  protocol          = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_blocks       = ["0.0.0.0/0"]
}

resource "aws_security_group_rule" "both" {
  type                     = "ingress"
  security_group_id        = aws_security_group.web.id
  protocol                 = "tcp"
  from_port                = 80
  to_port                  = 80
  cidr_blocks              = ["0.0.0.0/0"]
  source_security_group_id = aws_security_group.web.id
}

resource "aws_security_group_rule" "none" {
  type              = "egress"
  security_group_id = aws_security_group.web.id
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
}

resource "aws_security_group_rule" "elsewhere" {
  type              = "ingress"
  security_group_id = "sg-123456"
  protocol          = "tcp"
  from_port         = 0
  to_port           = 65535
  cidr_blocks       = ["10.0.0.0/8"]
}

resource "aws_vpc_security_group_egress_rule" "v6" {
  security_group_id = aws_security_group.web.id
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"
}

resource "aws_vpc_security_group_ingress_rule" "noproto" {
  security_group_id = aws_security_group.web.id
  cidr_ipv4         = "10.0.0.0/8"
}

resource "aws_instance" "nogroups" {
  subnet_id = aws_subnet.a.id
}

resource "aws_instance" "badip" {
  subnet_id              = aws_subnet.a.id
  private_ip             = "10.0.1.x"
  vpc_security_group_ids = [aws_vpc.main.id]
}

resource "aws_instance" "twoeips" {
  subnet_id              = aws_subnet.a.id
  vpc_security_group_ids = [aws_security_group.web.id]
}

resource "aws_eip" "one" {
  instance = aws_instance.twoeips.id
}

resource "aws_eip" "two" {
  instance = aws_instance.twoeips.id
}

resource "aws_eip" "eni" {
  network_interface = "eni-0123"
}
