"""`python -m harness ...` (also what `torchrun -m harness` starts on each rank)."""
from harness.cli import main

raise SystemExit(main())
