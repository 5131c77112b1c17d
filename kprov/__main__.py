from __future__ import annotations

from kprov.cli import main

main()
