import sys
from pathlib import Path

# The fixtures module sits beside the tests (no __init__.py in tests/datasets).
sys.path.insert(0, str(Path(__file__).parent))
