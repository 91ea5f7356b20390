"""``python -m ttsops``: the same as the ``ttsops`` command."""

from ttsops.cli import main

main()
