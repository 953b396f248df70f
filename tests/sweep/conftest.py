import sys
from pathlib import Path

# sweeptools.py sits beside the tests (no __init__.py in tests/sweep).
sys.path.insert(0, str(Path(__file__).parent))
