# Groups, rules and instances using count, for_each, variables, locals,
# references by name, every rule resource, EIPs and public addresses.

variable "admin_cidr" {
  default = "198.51.100.0/24"
}

locals {
  tiers = { web = 80, api = 8080 }
}

resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = "main" }
}

resource "aws_subnet" "public" {
  vpc_id                  = aws_vpc.main.id
  cidr_block              = cidrsubnet(aws_vpc.main.cidr_block, 8, 1)
  map_public_ip_on_launch = true
}

resource "aws_subnet" "private" {
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.0.2.0/24"
}

resource "aws_security_group" "tier" {
  for_each    = local.tiers
  name        = "${each.key}-sg"
  description = "the ${each.key} tier"
  vpc_id      = aws_vpc.main.id

  ingress {
    description = "service"
    protocol    = "tcp"
    from_port   = each.value
    to_port     = each.value
    cidr_blocks = ["0.0.0.0/0"]
  }

  ingress {
    protocol  = "-1"
    from_port = 0
    to_port   = 0
    self      = true
  }

  egress {
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# No egress block: the provider removes AWS's default egress rule, so this
# group denies all egress (a drop-all at priority 100).
resource "aws_security_group" "db" {
  name_prefix = "db-"
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group_rule" "db_from_api" {
  type                     = "ingress"
  security_group_id        = aws_security_group.db.id
  protocol                 = "tcp"
  from_port                = 5432
  to_port                  = 5432
  source_security_group_id = aws_security_group.tier["api"].id
}

resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  security_group_id = aws_security_group.db.id
  protocol          = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_blocks       = [var.admin_cidr, "203.0.113.5"]
  description       = "admins"
}

resource "aws_vpc_security_group_ingress_rule" "ping" {
  security_group_id = aws_security_group.db.id
  ip_protocol       = "icmp"
  from_port         = -1
  to_port           = -1
  cidr_ipv4         = aws_vpc.main.cidr_block
}

# On egress the referenced group is the destination.
resource "aws_vpc_security_group_egress_rule" "api_to_db" {
  security_group_id            = aws_security_group.tier["api"].id
  ip_protocol                  = "6"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_instance" "web" {
  count                  = 2
  ami                    = "ami-0123456789"
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.public.id
  private_ip             = cidrhost(aws_subnet.public.cidr_block, 10 + count.index)
  vpc_security_group_ids = [aws_security_group.tier["web"].id]
}

resource "aws_instance" "api" {
  ami                         = "ami-0123456789"
  subnet_id                   = aws_subnet.public.id
  associate_public_ip_address = false
  security_groups             = ["api-sg"]
}

resource "aws_instance" "db" {
  ami                    = "ami-0123456789"
  subnet_id              = aws_subnet.private.id
  private_ip             = "10.0.2.5"
  vpc_security_group_ids = [aws_security_group.db.id]
}

resource "aws_eip" "db" {
  domain = "vpc"
}

resource "aws_eip_association" "db" {
  instance_id   = aws_instance.db.id
  allocation_id = aws_eip.db.id
}

resource "aws_eip" "web0" {
  instance = aws_instance.web[0].id
  address  = "192.0.2.80"
}
