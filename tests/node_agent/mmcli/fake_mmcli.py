"""A stand-in for ModemManager's ``mmcli`` in tests: prints recorded ``-J`` outputs.

Copied into a bin directory on PATH as ``mmcli`` (with this interpreter in its #! line).
``MMCLI_SAMPLE`` names the sample (``telit-lte`` → ``telit-lte.list.json``, ``….modem.json``,
``….signal.json`` beside this file); a missing file answers like mmcli does when
ModemManager is not running (exit 1). Each call is appended to ``MMCLI_LOG`` with LC_ALL.
"""

import json
import os
import sys
from pathlib import Path

HERE = Path(os.environ["MMCLI_SAMPLES"])
args = sys.argv[1:]
with open(os.environ["MMCLI_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "lc_all": os.environ.get("LC_ALL")}) + "\n")
if args == ["-L", "-J"]:
    part = "list"
elif len(args) == 3 and args[0] == "-m" and args[2] == "-J":
    part = "modem"
elif len(args) == 4 and args[0] == "-m" and args[2:] == ["--signal-get", "-J"]:
    part = "signal"
else:
    sys.exit(f"error: unexpected arguments {args}")
sample = HERE / f"{os.environ['MMCLI_SAMPLE']}.{part}.json"
if not sample.exists():
    sys.exit("error: couldn't find the ModemManager process in the bus")
sys.stdout.write(sample.read_text())
