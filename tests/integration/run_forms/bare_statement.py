"""DESIGN.md's footer: the plain statement, no event loop. It serves and exits the process with
the service's code, so the line after it never runs."""

import sys

from tests.integration.run_forms.component import MyComponent

if __name__ == "__main__":
    MyComponent.run()
    sys.stderr.write("after run(): must not be reached\n")
