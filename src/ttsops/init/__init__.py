"""`ttsops init`: the files a repository needs to ship with ttsops, rendered from templates.

``plan_files(options)`` is pure (file path → rendered text); ``write_files`` puts a plan
into a repository, refusing to replace a file unless forced.
"""

from __future__ import annotations

from ttsops.init.plan import THRESHOLDS, Ci, InitOptions, PlannedFile, plan_files
from ttsops.init.write import Written, write_files

__all__ = ["THRESHOLDS", "Ci", "InitOptions", "PlannedFile", "Written", "plan_files", "write_files"]
