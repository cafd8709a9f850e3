"""bounced email addresses: a contact's address known to bounce is not mailed, the collector is told (issue #13)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 04:40:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_bounced_on', sa.Date(), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bounced_at', models.base.AwareDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('bounced_at')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('email_bounced_on')
