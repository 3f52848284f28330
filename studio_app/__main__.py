"""``python -m studio_app``: start Rungraph Studio."""

import sys

from studio_app.app import main

sys.exit(main())
