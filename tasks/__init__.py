"""Prefect tasks: one side effect each (ledger write, email, letter, lock), idempotent by key."""

# The longest a task that talks to the Prefect server (starting runs) may take before it fails and is retried
# or reported; each call inside has the client's own HTTP timeout, this bounds the whole. The email delivery has
# no task timeout: each SMTP step has a socket timeout (huikuan.outbox.mail), and stopping it between sending a message
# and stamping it would widen the exactly-once window.
SERVER_TIMEOUT = 600
