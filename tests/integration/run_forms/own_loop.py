"""A user's own coroutine that awaits the service, run with ``asyncio.run``. A connection that
fails raises out of ``await MyComponent.run()`` (this file exits 3 saying so)."""

import asyncio
import sys

from tests.integration.run_forms.component import MyComponent


async def main() -> None:
    try:
        await MyComponent.run()
    except ConnectionError as exc:
        sys.stderr.write(f"caught ConnectionError: {exc}\n")
        sys.exit(3)
    sys.stderr.write("run returned\n")


if __name__ == "__main__":
    asyncio.run(main())
