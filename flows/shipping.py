"""shipping-check: may goods leave for this customer? For the warehouse or the ERP, before a shipment.

Trigger: the ERP or a person, through the API or the UI. Input: the customer.
Effect: none; the run completes with the answer, and fails when goods may not
leave on credit: the account is locked, cash only / blacklisted, or over its
credit limit counting the money it paid that is not yet applied (then only
against payment in advance, which the message says), so a caller can act on
the run's state alone. The answer is `huikuan shipping check`'s and the ERP
API's (huikuan.ledger.account_state.shipping_answer).
"""

from __future__ import annotations

from prefect import flow

from tasks.records import shipping_allowed


class ShipmentBlocked(Exception):
    """No goods may leave on credit: locked, cash only or over the credit limit (the message says which)."""


@flow(name="shipping-check", flow_run_name="may {customer_id} ship")
def shipping_check(customer_id: str) -> str:
    """Answer whether goods may leave for the customer on credit; the run fails when they may not.

    Args:
        customer_id: the customer the goods are for.

    Returns:
        Why goods may leave (the run raises ShipmentBlocked with the reason when they may not).
    """
    allowed, why = shipping_allowed(customer_id)
    if not allowed:
        raise ShipmentBlocked(why)
    return why
