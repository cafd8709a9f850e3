"""one-time codes masked in the ledger's copy of messages already delivered (issue #12)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:00:00

Since 0008's release, dispatch masks an approval code in the stored message as
soon as the message is delivered. Messages delivered by earlier versions still
hold their code in plain text in ``outbox.text`` and ``outbox.html``: this
masks them once, with the same rule (``huikuan.outbox.mail.mask_codes``). Nothing to
undo: a masked code cannot be restored, and a new code is emailed when needed.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from huikuan.outbox.mail import carries_code, mask_codes

    outbox = sa.table('outbox', sa.column('id', sa.Integer), sa.column('key', sa.String), sa.column('text', sa.Text),
                      sa.column('html', sa.Text), sa.column('sent_at', sa.DateTime))
    connection = op.get_bind()
    rows = connection.execute(sa.select(outbox.c.id, outbox.c.key, outbox.c.text, outbox.c.html)
                              .where(outbox.c.sent_at.is_not(None), outbox.c.key.contains(':code:', autoescape=True))).all()
    for row in rows:
        if carries_code(row.key) and (masked := mask_codes(row.text, row.html)) != (row.text, row.html):
            connection.execute(sa.update(outbox).where(outbox.c.id == row.id).values(text=masked[0], html=masked[1]))


def downgrade() -> None:
    pass
