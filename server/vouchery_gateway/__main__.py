"""`python -m vouchery_gateway ...` is `vouchery-gateway ...`."""

import sys

from vouchery_gateway.cli import main

sys.exit(main())
