"""Test data kept in the repository (see each folder's README for where it comes from)."""

from pathlib import Path

TDX = Path(__file__).parent / "tdx"  # Intel's real TDX quote and its collateral
