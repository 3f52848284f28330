"""Seed 001's footer, verbatim: ``uvloop.install(); uvloop.run(MyComponent.run())``."""

import uvloop

from tests.integration.run_forms.component import MyComponent

if __name__ == "__main__":
    uvloop.install()
    uvloop.run(MyComponent.run())
