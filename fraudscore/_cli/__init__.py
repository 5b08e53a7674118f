"""The ``fraudscore`` command line.

``base`` holds the group and what every command shares; the commands live by family:
``data`` (simulate, fold, apply, materialize, train, evaluate, report, monitor, shadow-report),
``serving`` (score, sign), ``rules`` and ``demo``. Values are checked by the parameter types of
``types`` while click parses them.

Every error ends in one line on stderr, and an exit code, in one place (:class:`Fraudscore`):

- 2, a usage error: a value click refuses (:class:`click.UsageError`), or a library error that
  says an input was wrong (:class:`ConfigError`, :class:`EventValidationError`,
  :class:`BundleError`, :class:`RulesError`);
- 1, a failure: any other :class:`FraudscoreError` (a store, a scheduler or a model that
  failed) or an :class:`OSError`.

``fraudscore --debug COMMAND ...`` lets a failure's traceback through instead.
"""

# The commands register themselves on ``main``.
from fraudscore._cli import data as _data  # noqa: F401
from fraudscore._cli import demo as _demo  # noqa: F401
from fraudscore._cli import redteam as _redteam  # noqa: F401
from fraudscore._cli import rules as _rules  # noqa: F401
from fraudscore._cli import serve as _serve  # noqa: F401
from fraudscore._cli import serving as _serving  # noqa: F401
from fraudscore._cli.base import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    main()
