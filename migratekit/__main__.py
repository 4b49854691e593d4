"""``python -m migratekit``: the same as the ``migratekit`` command."""

import sys

from migratekit._cli import main

sys.exit(main())
