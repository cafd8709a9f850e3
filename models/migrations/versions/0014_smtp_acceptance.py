"""the mail server's acceptance of a message: its reply to DATA with the queue id, kept as the delivery record (issue #17)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 04:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('server_reply', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('server_reply')
