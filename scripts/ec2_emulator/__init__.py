"""ec2_emulator: a local emulator of the EC2 Query API (version 2016-11-15),
STS GetCallerIdentity and the instance metadata service (IMDSv2), written
from the API reference and botocore's service model, Python standard
library only.  Entry point: scripts/ec2-emulator (cli.main)."""
