"""shipping-check: may goods leave for this customer? For the warehouse or the ERP, before a shipment.

Trigger: the ERP or a person, through the API or the UI. Input: the customer.
Effect: none; the run completes with the answer, and fails when the account is
locked, so a caller can act on the run's state alone.
"""

from __future__ import annotations

from prefect import flow

from tasks.records import shipping_allowed


class ShipmentBlocked(Exception):
    """The account is locked: no goods may leave."""


@flow(name="shipping-check", flow_run_name="may {customer_id} ship")
def shipping_check(customer_id: str) -> str:
    allowed, why = shipping_allowed(customer_id)
    if not allowed:
        raise ShipmentBlocked(why)
    return why
