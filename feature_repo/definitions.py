"""Feast objects for fraudscore: entities, state feature views and model feature services.

Generated from the kinds' declarations (``fraudscore.feast_objects``): one entity per join key,
one feature view per state view, its schema the state's, and one feature service per kind, so
that Feast, the offline pipeline and the scorer agree. The parquet sources under ``data/`` are
written by ``fraudscore apply --data`` / ``demo``.
"""

import fraudscore

globals().update(fraudscore.feast_objects())
