"""`python -m vouchery_gateway ...` is `vouchery-gateway ...`."""

import sys

from vouchery_gateway.cli.commands import main

sys.exit(main())
