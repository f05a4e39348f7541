"""Entry for ``python -m realsyn_spark`` and ``spark-submit realsyn_spark/__main__.py``.

Absolute import on purpose: spark-submit runs this file as a script, not as a package
module, so relative imports would fail there.
"""

import sys

from realsyn_spark.cli import main

if __name__ == "__main__":
    sys.exit(main())
