"""Feast objects for fraudscore: entities, state feature views and model feature services.

Each feature view holds one kind of entity state (see ``fraudscore._transaction``); its schema is
generated from the state definition so that Feast, the offline pipeline and the scorer agree.
The parquet sources under ``data/`` are written by ``fraudscore build-features`` / ``demo``.
"""

from fraudscore._feast import entity, feature_service, state_view
from fraudscore._transaction import CUSTOMER, CUSTOMER_TERMINAL, FEATURE_SERVICE, TERMINAL

customer = entity("customer", "customer_id", "A card (or the customer holding it).")
terminal = entity("terminal", "terminal_id", "A payment terminal or merchant.")

customer_state = state_view(CUSTOMER, [customer])
terminal_state = state_view(TERMINAL, [terminal])
customer_terminal_state = state_view(CUSTOMER_TERMINAL, [customer, terminal])

transaction_model_v1 = feature_service(
    FEATURE_SERVICE, [customer_state, terminal_state, customer_terminal_state]
)
