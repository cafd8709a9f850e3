"""The outbox: how an email leaves.

Actions only queue messages (``models.OutboxMessage``); ``mail.dispatch`` (run by the ``deliver-outbox`` deployment and at
the end of each daily run) builds each MIME message, sends it over SMTP or writes it to a folder, and stamps it sent with
the server's acceptance; ``bounces`` marks a recipient that the server refused for good.
"""
