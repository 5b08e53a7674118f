"""Feast objects for fraudscore: entities, state feature views and model feature services.

Each feature view holds one kind of entity state (see ``fraudscore._kinds.transaction``); its
schema is generated from the state definition so that Feast, the offline pipeline and the scorer
agree.
The parquet sources under ``data/`` are written by ``fraudscore build-features`` / ``demo``.
"""

from fraudscore._feast import entity, feature_service, state_view
from fraudscore._kinds.transaction import CUSTOMER, CUSTOMER_TERMINAL, FEATURE_SERVICE, TERMINAL

customer = entity("customer", "customer_id", "A card (or the customer holding it).")
terminal = entity("terminal", "terminal_id", "A payment terminal or merchant.")

customer_state = state_view(CUSTOMER, [customer])
terminal_state = state_view(TERMINAL, [terminal])
customer_terminal_state = state_view(CUSTOMER_TERMINAL, [customer, terminal])

transaction_model_v3 = feature_service(
    FEATURE_SERVICE, [customer_state, terminal_state, customer_terminal_state]
)

# Logins (account takeover).
from fraudscore._kinds.login import (  # noqa: E402
    COUNTRY,
    IP,
    IP_USER,
    NETWORK,
    TOTALS,
    USER,
    USER_ASN,
    USER_COUNTRY,
    USER_DEVICE,
)
from fraudscore._kinds.login import FEATURE_SERVICE as LOGIN_SERVICE  # noqa: E402

user = entity("user", "user_id", "An account.")
device = entity("device", "device_key", "A device id ('-' when the client sent none).")
country = entity("country", "country", "ISO-3166 alpha-2 country of the login IP.")
network = entity("network", "asn_key", "Autonomous system number of the login IP, as text.")
ip_address = entity("ip_address", "ip", "The login IP address.")
scope = entity("scope", "scope", "The one key ('*') of the all-users totals.")

user_state = state_view(USER, [user])
user_device_state = state_view(USER_DEVICE, [user, device])
user_country_state = state_view(USER_COUNTRY, [user, country])
user_asn_state = state_view(USER_ASN, [user, network])
ip_user_state = state_view(IP_USER, [ip_address, user])
ip_state = state_view(IP, [ip_address])
country_state = state_view(COUNTRY, [country])
asn_state = state_view(NETWORK, [network])
login_totals_state = state_view(TOTALS, [scope])

login_model_v2 = feature_service(
    LOGIN_SERVICE,
    [
        user_state,
        user_device_state,
        user_country_state,
        user_asn_state,
        ip_user_state,
        ip_state,
        country_state,
        asn_state,
        login_totals_state,
    ],
)
