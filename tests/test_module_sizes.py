"""Every module of the package stays at most 500 lines (issue 24: one idea per module)."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dfviewer"
MAX_LINES = 500


def test_no_module_of_the_package_is_longer_than_500_lines():
    sizes = {path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted(PACKAGE.rglob("*.py"))}
    assert len(sizes) > 50  # the scan found the package
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"split these modules (lines): {too_long}"
