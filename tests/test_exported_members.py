"""The public surface: ``fraudscore.__all__`` is exactly what the package exports."""

import fraudscore


def test_all_is_exported_and_sorted() -> None:
    """Every name in __all__ exists, and every public attribute is listed in __all__."""
    public = {n for n in dir(fraudscore) if not n.startswith("_")}
    assert set(fraudscore.__all__) == public

    # isort-style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions.
    def style(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert list(fraudscore.__all__) == sorted(fraudscore.__all__, key=style)
