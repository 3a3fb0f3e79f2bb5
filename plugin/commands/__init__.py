"""The `shopreco` commands, one module per command (or group of sub-commands). Each module has
`register(sub)`, which adds its parser and sets `command` to an async function
`(args, settings) -> exit code`; `plugin.cli` lists the modules and runs the chosen command.

May import every layer below the command line: the demo, the server and app, the API
package (shared parameter parsing), intake, storefront, engine, store, config.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from typing import Any

from plugin.config import Settings

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
Subparsers = argparse._SubParsersAction


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))
