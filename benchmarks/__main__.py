"""``python -m benchmarks [--quick] ...`` (the case table) or ``python -m benchmarks sweep ...`` (the sweep)."""
import sys

if len(sys.argv) > 1 and sys.argv[1] == "sweep":
    from benchmarks.sweep import main

    sys.exit(main(sys.argv[2:]))

from benchmarks.run import main

sys.exit(main())
