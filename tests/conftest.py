import sys
from pathlib import Path

# tests import the reference implementation next to them
sys.path.insert(0, str(Path(__file__).parent))
